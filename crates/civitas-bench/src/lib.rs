//! The load generators of the CRUD service, outside the service's crate: what `civitas bench
//! execute` and `civitas bench workflow` run ([`workflow`](mod@workflow)), and the secret
//! service's cost inside a request ([`secrets`](mod@secrets)).
//!
//! `civitas bench execute`: `/execute` throughput and latency on
//! the built-in directory, with events published and with publishing switched off, in one
//! process and one run.
//!
//! The setup: an embedded broker, a fresh SQLite database in a temporary directory, two apps
//! on port 0 sharing that database (one publishing, one not), one user created through the
//! API. The load: `concurrency` workers, each sending `read` requests back to back over a
//! shared keep-alive HTTP client, for `requests` requests or `duration`, after a warm-up;
//! the two sides take turns in `rounds` rounds and their turns are added up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hdrhistogram::Histogram;
use serde_json::json;

use civitas_kafka::EmbeddedBroker;
use civitas_kafka::outbox::{Outbox, OutboxSettings};
use civitas_topics::CrudTopics;

use civitas_crud::App;
use civitas_crud::CrudSettings;
use civitas_crud::Running;

pub mod secrets;
pub mod workflow;
pub use secrets::{SecretBenchReport, UncachedCost, secret_bench};
pub use workflow::{Level, WorkflowBenchReport, workflow_bench};

/// How to load the service.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub concurrency: usize,
    /// Stop after this many requests …
    pub requests: Option<u64>,
    /// … or after this long (whichever comes first; one of them must be set).
    pub duration: Option<Duration>,
    /// Requests sent before measuring, to fill connection pools and caches.
    pub warmup_requests: u64,
    /// The two sides take turns this many times (each turn a share of the requests or the
    /// duration), so that a change in background load hits both alike.
    pub rounds: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            requests: Some(100_000),
            duration: None,
            warmup_requests: 5_000,
            rounds: 10,
        }
    }
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub requests: u64,
    /// Responses other than 200, and transport errors.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub latency: Histogram<u64>,
    /// CPU time the whole process spent meanwhile (server, load generator, broker), when
    /// the platform tells (Linux).
    pub cpu: Option<Duration>,
}

impl LoadResult {
    /// Both runs as one: requests and time add up, latencies merge.
    pub fn merge(mut self, other: &LoadResult) -> LoadResult {
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        let _ = self.latency.add(&other.latency);
        self.cpu = self.cpu.zip(other.cpu).map(|(a, b)| a + b);
        self
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    /// Process CPU time per request, in microseconds.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64)
    }
}

/// Both sides of the benchmark.
#[derive(Debug, Clone)]
pub struct ExecuteBenchReport {
    pub publishing: LoadResult,
    pub not_publishing: LoadResult,
    /// Events the publishing side's outbox had delivered after its shutdown.
    pub events_delivered: u64,
    pub events_sent: u64,
    /// Commits of the outbox's writer: events per commit is what group commit buys.
    pub outbox_commits: u64,
}

/// Sends `body` to `POST {url}/execute` as the options say (warm-up first).
pub async fn drive(
    url: &str,
    body: Vec<u8>,
    options: &LoadOptions,
) -> Result<LoadResult, reqwest::Error> {
    let target = Target::new(url, body, options.concurrency)?;
    target.warm_up(options).await;
    Ok(target.load(options).await)
}

/// One app under load: its endpoint, the body, and a keep-alive client.
#[derive(Debug, Clone)]
struct Target {
    client: reqwest::Client,
    endpoint: String,
    body: Bytes,
}

impl Target {
    fn new(url: &str, body: Vec<u8>, concurrency: usize) -> Result<Self, reqwest::Error> {
        assert!(concurrency > 0, "a load run needs at least one worker");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            endpoint: format!("{url}/execute"),
            body: Bytes::from(body),
        })
    }

    async fn warm_up(&self, options: &LoadOptions) {
        if options.warmup_requests > 0 {
            let warm = LoadOptions {
                requests: Some(options.warmup_requests),
                duration: None,
                ..options.clone()
            };
            self.load(&warm).await;
        }
    }

    async fn load(&self, options: &LoadOptions) -> LoadResult {
        assert!(
            options.requests.is_some() || options.duration.is_some(),
            "a load run needs a request count or a duration"
        );
        run(&self.client, &self.endpoint, &self.body, options).await
    }
}

async fn run(
    client: &reqwest::Client,
    endpoint: &str,
    body: &Bytes,
    options: &LoadOptions,
) -> LoadResult {
    let issued = Arc::new(AtomicU64::new(0));
    let limit = options.requests.unwrap_or(u64::MAX);
    let cpu_before = process_cpu();
    let started = Instant::now();
    let deadline = options.duration.map(|d| started + d);
    let mut workers = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        let client = client.clone();
        let endpoint = endpoint.to_owned();
        let body = body.clone();
        let issued = issued.clone();
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let mut errors = 0u64;
            let mut done = 0u64;
            loop {
                if issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let sent = Instant::now();
                let response = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match response {
                    Ok(r) => {
                        let ok = r.status() == reqwest::StatusCode::OK;
                        ok && r.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros.max(1));
                done += 1;
                if !ok {
                    errors += 1;
                }
            }
            (done, errors, latency)
        }));
    }
    let mut requests = 0;
    let mut errors = 0;
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    for worker in workers {
        if let Ok((done, failed, histogram)) = worker.await {
            requests += done;
            errors += failed;
            let _ = latency.add(&histogram);
        }
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    LoadResult {
        requests,
        errors,
        elapsed,
        latency,
        cpu,
    }
}

/// Loads `a` and `b` after warming both up, taking turns for `options.rounds` rounds (who
/// goes first alternates too), so that a change in background load hits both alike; their
/// turns added up.
async fn alternate(a: &Target, b: &Target, options: &LoadOptions) -> (LoadResult, LoadResult) {
    a.warm_up(options).await;
    b.warm_up(options).await;
    let rounds = options.rounds.max(1);
    let turn = LoadOptions {
        requests: options.requests.map(|n| (n / u64::from(rounds)).max(1)),
        duration: options.duration.map(|d| d / rounds),
        ..options.clone()
    };
    let mut sum_a: Option<LoadResult> = None;
    let mut sum_b: Option<LoadResult> = None;
    for round in 0..rounds {
        let (first, second) = if round % 2 == 0 { (a, b) } else { (b, a) };
        let x = first.load(&turn).await;
        let y = second.load(&turn).await;
        let (ra, rb) = if round % 2 == 0 { (x, y) } else { (y, x) };
        sum_a = Some(match sum_a {
            Some(sum) => sum.merge(&ra),
            None => ra,
        });
        sum_b = Some(match sum_b {
            Some(sum) => sum.merge(&rb),
            None => rb,
        });
    }
    (
        sum_a.expect("at least one round"),
        sum_b.expect("at least one round"),
    )
}

/// User plus system CPU time of this process so far (Linux: `/proc/self/stat`, in ticks of
/// 1/100 s).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("could not start the embedded broker")]
    Broker(#[source] civitas_kafka::KafkaError),
    #[error("could not start the app")]
    Startup(#[from] civitas_crud::StartupError),
    #[error("could not open the database")]
    Database(#[from] civitas_store::StoreError),
    #[error("could not bind the app's port")]
    Bind(#[from] std::io::Error),
    #[error("HTTP client error")]
    Http(#[from] reqwest::Error),
    #[error("setup request failed: {0}")]
    Setup(String),
}

/// An embedded broker with this run's CRUD topics (`bench<id>.*`, 3 partitions each), and
/// the run's id.
async fn bench_broker() -> Result<(EmbeddedBroker, CrudTopics, String), BenchError> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let broker = EmbeddedBroker::start(any, 1)
        .await
        .map_err(BenchError::Broker)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench{}", &run_id[..8]);
    let topics = CrudTopics::with_prefix(&prefix).expect("bench<hex> is a valid CRUD prefix");
    for topic in topics.all() {
        broker.create_topic(topic, 3).map_err(BenchError::Broker)?;
    }
    Ok((broker, topics, run_id))
}

/// The whole benchmark: broker, database, two apps, a user, two load runs. `client_options`
/// are raw librdkafka options for the publishing side's producer (e.g. `linger.ms=20`).
pub async fn execute_bench(
    options: &LoadOptions,
    client_options: &[(String, String)],
) -> Result<ExecuteBenchReport, BenchError> {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let (broker, topics, run_id) = bench_broker().await?;
    let kafka = broker
        .settings()
        .with_client_options(client_options.iter().cloned());

    let dir = std::env::temp_dir().join(format!("civitas-bench-{run_id}"));
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/bench.db", dir.display()),
        topics,
        ..CrudSettings::default()
    };
    // The service's own path: events stored in the database (group commit) before the
    // answer, relayed to the broker.
    let pool = civitas_store::connect(&settings.database_url).await?;
    let outbox = Outbox::start(pool, &kafka, OutboxSettings::default())
        .await
        .map_err(BenchError::Broker)?;
    let result = async {
        let publishing =
            Running::start(App::build(&settings, Some(outbox.clone().into())).await?, any)
                .await?;
        let quiet_settings = CrudSettings {
            publish_events: false,
            ..settings.clone()
        };
        let quiet = Running::start(App::build(&quiet_settings, None).await?, any).await?;

        let create = json!({
            "system": "local", "object_type": "user", "action": "create",
            "params": {"username": "bench", "email": "bench@example.org", "firstname": "Bench", "password": "s3cret-bench"}
        });
        let response = reqwest::Client::new()
            .post(format!("{}/execute", publishing.url()))
            .json(&create)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(BenchError::Setup(format!(
                "creating the bench user answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            )));
        }
        let read = serde_json::to_vec(&json!({
            "system": "local", "object_type": "user", "action": "read", "params": {}, "object_id": "bench"
        }))
        .expect("a JSON value serializes");

        let on = Target::new(&publishing.url(), read.clone(), options.concurrency)?;
        let off = Target::new(&quiet.url(), read, options.concurrency)?;
        let (with_events, without_events) = alternate(&on, &off, options).await;
        publishing.stop().await?;
        quiet.stop().await?;
        Ok((with_events, without_events))
    }
    .await;
    let flushed = outbox.shutdown(Duration::from_secs(60)).await;
    // The outbox goes before the broker, or librdkafka reports the broker gone.
    drop(outbox);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
    let (publishing, not_publishing) = result?;
    Ok(ExecuteBenchReport {
        publishing,
        not_publishing,
        events_delivered: flushed.delivered,
        events_sent: flushed.appended,
        outbox_commits: flushed.commits,
    })
}
