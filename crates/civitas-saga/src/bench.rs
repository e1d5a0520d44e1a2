//! `civitas bench saga`: dataset sagas end to end through an embedded broker with dry-run
//! adapters and a SQLite store, from the request's publish to its `completed` arriving at
//! the requester. Five Kafka hops per saga: request, FROST command, FROST result, APISIX
//! command, APISIX result (plus the completed record the requester reads).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use civitas_events::saga::{DatasetApi, DatasetCreateRequested};
use civitas_kafka::{EmbeddedBroker, KafkaSettings, Publisher};
use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::SagaError;
use crate::io;
use crate::request::{self, SagaOutcome};
use crate::service::{self, Component, SagaConfig};
use crate::store::SagaStore;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Sagas of the throughput phase.
    pub count: usize,
    /// Sagas in flight at once in the throughput phase.
    pub concurrency: usize,
    /// Sagas in flight at once in the middle phase (both targets at once).
    pub target_concurrency: usize,
    /// Sagas of the latency phase (one at a time).
    pub latency_count: usize,
    /// Partitions of each saga topic.
    pub partitions: i32,
    /// A database URL; default a fresh SQLite file in the temp directory.
    pub database_url: Option<String>,
    /// Raw librdkafka options for every client (to measure e.g. `linger.ms`, `fetch.wait.max.ms`).
    pub client_options: Vec<(String, String)>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            count: 5000,
            concurrency: 64,
            target_concurrency: 16,
            latency_count: 200,
            partitions: 3,
            database_url: None,
            client_options: Vec::new(),
        }
    }
}

/// Figures of one phase.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    pub label: String,
    pub concurrency: usize,
    pub sagas: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl PhaseReport {
    pub fn rate(&self) -> f64 {
        self.sagas as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the warm-up, then three phases: latency (1 in flight), target (a few in flight:
/// both targets at once) and throughput (many in flight).
pub async fn run(options: &BenchOptions) -> Result<Vec<PhaseReport>, SagaError> {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
    let broker = EmbeddedBroker::start(any_port, 1).await?;
    let config = SagaConfig::default();
    for topic in config.topics.all() {
        broker.create_topic(topic, options.partitions)?;
    }
    let settings = broker
        .settings()
        .with_client_options(options.client_options.clone());
    let (url, temp_dir) = match &options.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir()
                .join(format!("civitas-bench-{}", uuid::Uuid::new_v4().simple()));
            (format!("sqlite://{}/saga.db", dir.display()), Some(dir))
        }
    };
    let store = SagaStore::connect(&url).await?;
    let running = service::start(&settings, &config, Some(store), &Component::ALL).await?;

    let requester = Publisher::connect(&io::low_latency(&settings))?;
    let outcomes = outcome_consumer(&settings, &config, options.partitions)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut bench = Bench {
        config: &config,
        requester,
        outcomes,
        run_id: run_id[..8].to_owned(),
        next: 0,
    };

    // Warm-up: consumer groups join, connections open, SQLite pages are cached.
    bench.phase("warm-up", 50, 4).await?;
    let mut reports = Vec::new();
    reports.push(
        bench
            .phase("latency (1 in flight)", options.latency_count, 1)
            .await?,
    );
    reports.push(
        bench
            .phase(
                &format!("target ({} in flight)", options.target_concurrency),
                options.count,
                options.target_concurrency,
            )
            .await?,
    );
    reports.push(
        bench
            .phase(
                &format!("throughput ({} in flight)", options.concurrency),
                options.count,
                options.concurrency,
            )
            .await?,
    );
    running.shutdown(Duration::from_secs(10)).await?;
    if let Some(dir) = temp_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(reports)
}

fn outcome_consumer(
    settings: &KafkaSettings,
    config: &SagaConfig,
    partitions: i32,
) -> Result<StreamConsumer, SagaError> {
    let mut client =
        civitas_kafka::consumer::group_config(settings, civitas_topics::groups::PORTAL);
    for (key, value) in io::CONSUMER_LATENCY {
        if !settings.client_options.contains_key(*key) {
            client.set(*key, *value);
        }
    }
    let consumer: StreamConsumer = client
        .create()
        .map_err(|source| SagaError::CreateConsumer {
            group: civitas_topics::groups::PORTAL.to_owned(),
            source,
        })?;
    let mut assignment = TopicPartitionList::new();
    for topic in [&config.topics.completed, &config.topics.failed] {
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(|source| SagaError::Subscribe {
                    topics: topic.clone(),
                    source,
                })?;
        }
    }
    consumer
        .assign(&assignment)
        .map_err(|source| SagaError::Subscribe {
            topics: "completed/failed".to_owned(),
            source,
        })?;
    Ok(consumer)
}

struct Bench<'c> {
    config: &'c SagaConfig,
    requester: Publisher,
    outcomes: StreamConsumer,
    run_id: String,
    next: usize,
}

impl Bench<'_> {
    fn send(&mut self) -> Result<String, SagaError> {
        self.next += 1;
        let dataset_id = format!("bench-{}-{}", self.run_id, self.next);
        let request = DatasetCreateRequested {
            message_id: uuid::Uuid::new_v4().to_string(),
            dataset_id: dataset_id.clone(),
            name: format!("Benchmark {}", self.next),
            description: None,
            apis: vec![DatasetApi {
                slug: "sensorthings".to_owned(),
                upstream_url: "http://frost:8080/FROST-Server/v1.1".to_owned(),
            }],
            requested_by: Some("civitas-bench".to_owned()),
        };
        let record = request::request_record(
            &self.config.topics,
            &request,
            "/civitas/bench",
            &request.message_id,
        )?;
        self.requester.send(record);
        Ok(dataset_id)
    }

    async fn phase(
        &mut self,
        label: &str,
        count: usize,
        concurrency: usize,
    ) -> Result<PhaseReport, SagaError> {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        let mut in_flight: HashMap<String, Instant> = HashMap::new();
        let mut sent = 0;
        let mut done = 0;
        let mut failed = 0;
        let start = Instant::now();
        let patience = Duration::from_secs(60);
        while done < count {
            while sent < count && in_flight.len() < concurrency.max(1) {
                let dataset_id = self.send()?;
                in_flight.insert(dataset_id, Instant::now());
                sent += 1;
            }
            let message = tokio::time::timeout(patience, self.outcomes.recv())
                .await
                .map_err(|_| {
                    SagaError::Config(format!(
                        "bench: no outcome within {patience:?} ({done} of {count} done)"
                    ))
                })?;
            let Ok(message) = message else { continue };
            let Some(outcome) = SagaOutcome::parse(
                &self.config.topics,
                message.topic(),
                message.payload().unwrap_or_default(),
            ) else {
                continue;
            };
            if let Some(started) = in_flight.remove(outcome.dataset_id()) {
                let micros = started.elapsed().as_micros().max(1) as u64;
                let _ = histogram.record(micros.min(600_000_000));
                done += 1;
                if matches!(outcome, SagaOutcome::Failed(_)) {
                    failed += 1;
                }
            }
        }
        let elapsed = start.elapsed();
        let at = |q: f64| Duration::from_micros(histogram.value_at_quantile(q));
        Ok(PhaseReport {
            label: label.to_owned(),
            concurrency,
            sagas: count,
            failed,
            elapsed,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_micros(histogram.max()),
        })
    }
}
