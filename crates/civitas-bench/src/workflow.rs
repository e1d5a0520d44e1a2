//! `civitas bench workflow`: runs of a three-action workflow on the built-in directory
//! (read, update, read one user; no approval), start to completed, at several concurrencies;
//! beside them the same three commands as three sequential `POST /execute` calls — the
//! engine's overhead. Start-to-completed is measured from sending `POST /workflow/start` to the
//! engine's own end-of-run signal (no polling).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use civitas_kafka::Publisher;

use super::BenchError;
use civitas_crud::App;
use civitas_crud::CrudSettings;
use civitas_crud::Running;
use civitas_workflow::RunStatus;

const WORKFLOW: &str = r#"
name: bench
nodes:
  first:
    type: action
    config: {system: local, object_type: user, action: read, object_id: bench}
  change:
    type: action
    depends_on: [first]
    config: {system: local, object_type: user, action: update, object_id: bench, params: {firstname: "{{ run.id[:8] }}"}}
  again:
    type: action
    depends_on: [change]
    config: {system: local, object_type: user, action: read, object_id: bench}
"#;

/// One concurrency level.
#[derive(Debug, Clone)]
pub struct Level {
    pub concurrency: usize,
    pub runs: u64,
    /// Runs that did not complete (or could not start).
    pub failed: u64,
    pub elapsed: Duration,
    /// Start to completed, microseconds.
    pub latency: Histogram<u64>,
}

impl Level {
    pub fn per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }
}

/// The workflow levels and the plain-calls baseline (same concurrencies).
#[derive(Debug, Clone)]
pub struct WorkflowBenchReport {
    pub workflow: Vec<Level>,
    pub plain: Vec<Level>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Broker, database, the app with the bench workflow, a user; then each level: `runs`
/// workflow runs, then `runs` times the three plain calls.
pub async fn workflow_bench(
    runs: u64,
    concurrencies: &[usize],
) -> Result<WorkflowBenchReport, BenchError> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let (broker, topics, run_id) = super::bench_broker().await?;
    let publisher = Publisher::connect(&broker.settings()).map_err(BenchError::Broker)?;
    let dir = std::env::temp_dir().join(format!("civitas-bench-{run_id}"));
    std::fs::create_dir_all(dir.join("workflows"))?;
    std::fs::write(dir.join("workflows/bench.yaml"), WORKFLOW)?;
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/bench.db", dir.display()),
        workflows_dir: Some(dir.join("workflows")),
        topics,
        ..CrudSettings::default()
    };
    let result = async {
        let app = App::build(&settings, Some(publisher.clone().into())).await?;
        let running = Running::start(app.clone(), any).await?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        let url = running.url();
        let created = client
            .post(format!("{url}/execute"))
            .json(&json!({"system": "local", "object_type": "user", "action": "create", "params": {"username": "bench"}}))
            .send()
            .await?;
        if !created.status().is_success() {
            return Err(BenchError::Setup(format!("creating the bench user answered {}", created.status())));
        }
        let mut report = WorkflowBenchReport { workflow: Vec::new(), plain: Vec::new() };
        for &concurrency in concurrencies {
            // A short warm-up of both, then the measured runs.
            let warm = (concurrency as u64 * 4).max(20);
            workflows(&app, &client, &url, concurrency, warm).await;
            plain(&client, &url, concurrency, warm).await;
            report.workflow.push(workflows(&app, &client, &url, concurrency, runs).await);
            report.plain.push(plain(&client, &url, concurrency, runs).await);
        }
        running.stop().await?;
        Ok(report)
    }
    .await;
    // The scheduler and drivers let go of the app (and its producer) once their aborts are
    // processed; the events are flushed before the broker goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let flushing = publisher.clone();
    let _ = tokio::task::spawn_blocking(move || flushing.flush(Duration::from_secs(30))).await;
    drop(publisher);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn workflows(
    app: &App,
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    runs: u64,
) -> Level {
    let engine = app.workflows.clone().expect("the bench app has workflows");
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let endpoint = format!("{url}/workflow/start");
        let issued = issued.clone();
        let mut ended = engine.subscribe_ended();
        workers.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut done, mut failed) = (0u64, 0u64);
            while issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < runs {
                let sent = Instant::now();
                let response = client
                    .post(&endpoint)
                    .json(&json!({"workflow_name": "bench", "data": {}}))
                    .send()
                    .await;
                let id = match response {
                    Ok(r) if r.status().as_u16() == 202 => r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|b| b["id"].as_str().map(str::to_owned)),
                    _ => None,
                };
                done += 1;
                let Some(id) = id else {
                    failed += 1;
                    continue;
                };
                let outcome = tokio::time::timeout(Duration::from_secs(30), async {
                    loop {
                        match ended.recv().await {
                            Ok((ended_id, status)) if ended_id == id => return Some(status),
                            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(_) => return None,
                        }
                    }
                })
                .await;
                match outcome {
                    Ok(Some(RunStatus::Completed)) => latency.saturating_record(micros(sent)),
                    _ => failed += 1,
                }
            }
            (done, failed, latency)
        }));
    }
    collect(concurrency, started, workers).await
}

async fn plain(client: &reqwest::Client, url: &str, concurrency: usize, runs: u64) -> Level {
    let bodies: Vec<Value> = vec![
        json!({"system": "local", "object_type": "user", "action": "read", "object_id": "bench", "params": {}}),
        json!({"system": "local", "object_type": "user", "action": "update", "object_id": "bench", "params": {"firstname": "plain"}}),
        json!({"system": "local", "object_type": "user", "action": "read", "object_id": "bench", "params": {}}),
    ];
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let endpoint = format!("{url}/execute");
        let issued = issued.clone();
        let bodies = bodies.clone();
        workers.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut done, mut failed) = (0u64, 0u64);
            while issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < runs {
                let sent = Instant::now();
                let mut ok = true;
                for body in &bodies {
                    let response = client.post(&endpoint).json(body).send().await;
                    ok &= match response {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                }
                done += 1;
                if ok {
                    latency.saturating_record(micros(sent));
                } else {
                    failed += 1;
                }
            }
            (done, failed, latency)
        }));
    }
    collect(concurrency, started, workers).await
}

async fn collect(
    concurrency: usize,
    started: Instant,
    workers: Vec<tokio::task::JoinHandle<(u64, u64, Histogram<u64>)>>,
) -> Level {
    let mut level = Level {
        concurrency,
        runs: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency: histogram(),
    };
    for worker in workers {
        if let Ok((done, failed, latency)) = worker.await {
            level.runs += done;
            level.failed += failed;
            let _ = level.latency.add(&latency);
        }
    }
    level.elapsed = started.elapsed();
    level
}
