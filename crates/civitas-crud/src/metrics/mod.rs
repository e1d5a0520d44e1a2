//! Prometheus metrics of one app instance.
//!
//! Each app has its own recorder (not the process-global one), so several apps in one process
//! — tests, the benchmark — keep separate figures.
//!
//! - `civitas_execute_requests_total{system,action,outcome}`: `/execute` requests.
//! - `civitas_execute_duration_seconds{system,action,outcome}`: their latency (histogram).
//! - `civitas_publisher_{sent,delivered,failed,retried,dropped,truncated}_total`,
//!   `civitas_publisher_rejected_total{reason}` (`too_large`, `invalid_topic`,
//!   `unauthorized`, `invalid_record`) and `civitas_publisher_{retry_queue,in_flight}`: the event publisher,
//!   sampled at scrape time.
//!
//! - `civitas_secret_lookups_total{provider,outcome,reason}`, `civitas_secret_provider_seconds`
//!   and `civitas_secret_breaker_state`: the secret service (docs/secrets.md).
//!
//! - `civitas_outbox_{appended,stored,commits,delivered,failed,retried,dropped,rejected,refused}_total`
//!   and `civitas_outbox_{backlog_events,backlog_bytes,oldest_undelivered_seconds}`: the
//!   durable outbox (docs/operations.md, "Delivery"), sampled at scrape time.
//! - `civitas_connector_{calls,errors,retries}_total{system}`: calls to outside systems.
//! - `civitas_workflow_events_total{type}`: workflow runs started, waiting, completed,
//!   failed, cancelled.
//! - What [`ExtraMetrics`] sources add: in `civitas up`, the saga's
//!   `civitas_saga_{started,ended}_total`, `civitas_saga_running{status}` and
//!   `civitas_saga_duration_seconds{quantile}`.
//!
//! [`snapshot`] turns the same text into the `crud.metrics` snapshots: one source for both.
//!
//! `system` and `action` are `unknown` unless they name a configured system and one of its
//! actions, so that callers cannot grow the label space.

use std::sync::Arc;
use std::time::Duration;

pub mod snapshot;

use std::sync::atomic::Ordering;

use civitas_kafka::PublisherStats;
use civitas_kafka::outbox::OutboxStats;

use civitas_command::events::Delivery;
use civitas_command::systems::Systems;
use metrics::Recorder;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

const REQUESTS: &str = "civitas_execute_requests_total";
const DURATION: &str = "civitas_execute_duration_seconds";

/// Latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// The previous `crud.metrics` snapshot's figures.
    snapshots: Arc<std::sync::Mutex<snapshot::Snapshots>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
            .expect("the bucket list is not empty")
            .set_buckets_for_metric(
                Matcher::Full("civitas_secret_provider_seconds".to_owned()),
                BUCKETS,
            )
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!(
                REQUESTS,
                "Requests to /execute by system, action and outcome."
            );
            metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Latency of /execute.");
        });
        Self {
            recorder: Arc::new(recorder),
            handle,
            snapshots: Arc::default(),
        }
    }

    /// Counts one `/execute` request and its latency.
    pub fn record_execute(
        &self,
        system: &str,
        action: &str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let labels = [
            ("system", system.to_owned()),
            ("action", action.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        metrics::with_local_recorder(&*self.recorder, || {
            metrics::counter!(REQUESTS, &labels).increment(1);
            metrics::histogram!(DURATION, &labels).record(elapsed.as_secs_f64());
        });
    }

    /// Counts one workflow event (`started`, `waiting`, `completed`, `failed`, `cancelled`).
    pub fn record_workflow(&self, event_type: &str) {
        let labels = [("type", event_type.to_owned())];
        metrics::with_local_recorder(&*self.recorder, || {
            metrics::counter!("civitas_workflow_events_total", &labels).increment(1);
        });
    }

    /// The Prometheus text: the recorded figures plus those sampled now (the events'
    /// delivery and the connectors of `systems`).
    pub fn render(
        &self,
        delivery: Option<Delivery>,
        systems: &Systems,
        extra: &[Sample],
    ) -> String {
        metrics::with_local_recorder(&*self.recorder, || {
            for sample in extra {
                let labels: Vec<(&'static str, String)> = sample.labels.clone();
                if sample.name.ends_with("_total") {
                    metrics::counter!(sample.name, &labels).absolute(sample.value.max(0.0) as u64);
                } else {
                    metrics::gauge!(sample.name, &labels).set(sample.value);
                }
            }
            match delivery {
                Some(Delivery::Outbox(stats)) => record_outbox(&stats),
                Some(Delivery::Publisher(stats)) => record_publisher(&stats),
                None => {}
            }
            for (name, system) in systems.iter() {
                let calls = &system.calls;
                for (metric, value) in [
                    (
                        "civitas_connector_calls_total",
                        calls.calls.load(Ordering::Relaxed),
                    ),
                    (
                        "civitas_connector_errors_total",
                        calls.errors.load(Ordering::Relaxed),
                    ),
                    (
                        "civitas_connector_retries_total",
                        system.connector.retries(),
                    ),
                ] {
                    metrics::counter!(metric, "system" => name.clone()).absolute(value);
                }
            }
        });
        self.handle.render()
    }

    /// The `crud.metrics` snapshots of the window since the previous call, from the same
    /// text `/metrics` serves.
    pub fn snapshots(
        &self,
        delivery: Option<Delivery>,
        systems: &Systems,
        extra: &[Sample],
    ) -> Vec<civitas_events::MetricsData> {
        let text = self.render(delivery, systems, extra);
        self.snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(&text)
    }

    /// Drains histogram samples into their buckets; run now and then so memory stays flat.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The registry, shared with components that record into it (the secret service).
    pub fn shared_recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        self.recorder.clone()
    }

    /// The recorder, for components that record their own metrics into this app's registry.
    pub fn recorder(&self) -> &dyn Recorder {
        &*self.recorder
    }
}

/// One figure another component of the process adds to `/metrics` and `crud.metrics` (the
/// saga in `civitas up`): a name ending in `_total` is a counter, anything else a gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A source of [`Sample`]s, read at every scrape and snapshot.
pub trait ExtraMetrics: Send + Sync + std::fmt::Debug {
    fn sample(&self) -> futures::future::BoxFuture<'_, Vec<Sample>>;
}

fn record_outbox(stats: &OutboxStats) {
    for (name, value) in [
        ("civitas_outbox_appended_total", stats.appended),
        ("civitas_outbox_stored_total", stats.stored),
        ("civitas_outbox_commits_total", stats.commits),
        ("civitas_outbox_delivered_total", stats.delivered),
        ("civitas_outbox_failed_total", stats.failed),
        ("civitas_outbox_retried_total", stats.retried),
        ("civitas_outbox_dropped_total", stats.dropped),
        ("civitas_outbox_rejected_total", stats.rejected),
        ("civitas_outbox_refused_total", stats.refused),
    ] {
        metrics::counter!(name).absolute(value);
    }
    metrics::gauge!("civitas_outbox_backlog_events").set(stats.backlog_events as f64);
    metrics::gauge!("civitas_outbox_backlog_bytes").set(stats.backlog_bytes as f64);
    metrics::gauge!("civitas_outbox_oldest_undelivered_seconds")
        .set(stats.oldest_undelivered_secs as f64);
}

fn record_publisher(stats: &PublisherStats) {
    for (name, value) in [
        ("civitas_publisher_sent_total", stats.sent),
        ("civitas_publisher_delivered_total", stats.delivered),
        ("civitas_publisher_failed_total", stats.failed),
        ("civitas_publisher_retried_total", stats.retried),
        ("civitas_publisher_dropped_total", stats.dropped),
        ("civitas_publisher_truncated_total", stats.truncated),
    ] {
        metrics::counter!(name).absolute(value);
    }
    for (reason, value) in [
        ("too_large", stats.rejected_too_large),
        ("invalid_topic", stats.rejected_invalid_topic),
        ("unauthorized", stats.rejected_unauthorized),
        ("invalid_record", stats.rejected_invalid_record),
    ] {
        metrics::counter!("civitas_publisher_rejected_total", "reason" => reason).absolute(value);
    }
    metrics::gauge!("civitas_publisher_retry_queue").set(stats.retry_queue as f64);
    metrics::gauge!("civitas_publisher_in_flight").set(stats.in_flight as f64);
    metrics::gauge!("civitas_publisher_deferred").set(stats.deferred as f64);
}
