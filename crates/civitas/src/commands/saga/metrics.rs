//! The saga's figures in `/metrics` and `crud.metrics` when it runs in the CRUD service's
//! process (`civitas up`): read from the saga store at every scrape and snapshot.
//!
//! - `civitas_saga_started_total`: sagas in the store;
//! - `civitas_saga_ended_total{status}`: ended ones, by status (`COMPLETED`, `COMPENSATED`,
//!   `COMPENSATION_FAILED`, `FAILED`);
//! - `civitas_saga_running{status}`: the others, by status (a gauge);
//! - `civitas_saga_duration_seconds{quantile}`: p50 and p95 of the sagas that ended in the
//!   last minute (absent when none did).

use std::time::Duration;

use civitas_crud::metrics::{ExtraMetrics, Sample};
use civitas_saga::store::SagaStore;
use futures::future::BoxFuture;

/// How far back the durations look.
const RECENT: Duration = Duration::from_secs(60);

const ENDED: [&str; 4] = ["COMPLETED", "COMPENSATED", "COMPENSATION_FAILED", "FAILED"];

#[derive(Debug)]
pub struct SagaMetrics {
    store: SagaStore,
}

impl SagaMetrics {
    pub fn new(store: SagaStore) -> Self {
        Self { store }
    }
}

impl ExtraMetrics for SagaMetrics {
    fn sample(&self) -> BoxFuture<'_, Vec<Sample>> {
        Box::pin(async move {
            let mut samples = Vec::new();
            match self.store.count_by_status().await {
                Ok(counts) => {
                    let started: i64 = counts.iter().map(|(_, n)| n).sum();
                    samples.push(sample("civitas_saga_started_total", None, started as f64));
                    for status in ENDED {
                        let n = counts
                            .iter()
                            .find(|(s, _)| s == status)
                            .map_or(0, |(_, n)| *n);
                        samples.push(sample("civitas_saga_ended_total", Some(status), n as f64));
                    }
                    for (status, n) in counts.iter().filter(|(s, _)| !ENDED.contains(&s.as_str())) {
                        samples.push(sample("civitas_saga_running", Some(status), *n as f64));
                    }
                }
                Err(error) => tracing::warn!(%error, "the saga's figures could not be read"),
            }
            let since = chrono::Utc::now()
                - chrono::Duration::from_std(RECENT).unwrap_or_else(|_| chrono::Duration::zero());
            match self.store.finished_since(since).await {
                Ok(sagas) if !sagas.is_empty() => {
                    let mut seconds: Vec<f64> = sagas
                        .iter()
                        .map(|s| (s.updated_at - s.created_at).num_milliseconds() as f64 / 1000.0)
                        .collect();
                    seconds.sort_by(f64::total_cmp);
                    for (quantile, q) in [("0.5", 0.5), ("0.95", 0.95)] {
                        let at = ((seconds.len() - 1) as f64 * q).round() as usize;
                        samples.push(sample(
                            "civitas_saga_duration_seconds",
                            Some(quantile),
                            seconds[at.min(seconds.len() - 1)],
                        ));
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the saga's durations could not be read"),
            }
            samples
        })
    }
}

fn sample(name: &'static str, label: Option<&str>, value: f64) -> Sample {
    let labels = match (name, label) {
        (_, None) => Vec::new(),
        ("civitas_saga_duration_seconds", Some(q)) => vec![("quantile", q.to_owned())],
        (_, Some(status)) => vec![("status", status.to_owned())],
    };
    Sample {
        name,
        labels,
        value,
    }
}
