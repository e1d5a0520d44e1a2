//! `GET /health`: 503 when the database does not answer; 200 otherwise, with `status`
//! `degraded` and the reasons while events are at risk (records dropped or refused by the
//! broker in the last five minutes, or undelivered records waiting in the retry queue).
//!
//! Why 200 for a degraded publisher: the service still answers commands and keeps what the
//! broker did not take; taking it out of a load balancer would turn a Kafka problem into an
//! outage. Monitoring alerts on `status` (or on `civitas_publisher_rejected_total`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use civitas_kafka::PublisherStats;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;

/// How long a lost record keeps `/health` degraded.
const LOSS_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Why it is degraded; empty when `ok`.
    pub reasons: Vec<String>,
    pub service: String,
    pub systems: usize,
    /// `ok`, `not used`, or `unavailable` (the error itself is in the service's log).
    pub database: String,
    pub events: EventsHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsHealth {
    pub enabled: bool,
    #[schema(value_type = Option<Object>)]
    pub publisher: Option<civitas_kafka::PublisherStats>,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Healthy (`ok`), or serving while events are at risk (`degraded`, with reasons)", body = Health),
        (status = 503, description = "The database does not answer", body = Health)
    )
)]
pub async fn health(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let mut reasons = Vec::new();
    let mut code = StatusCode::OK;
    let database = match &app.pool {
        None => "not used".to_owned(),
        Some(pool) => match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => "ok".to_owned(),
            Err(error) => {
                // The error text may name hosts and users: the log has it, callers do not.
                tracing::warn!(%error, "health check: the database does not answer");
                code = StatusCode::SERVICE_UNAVAILABLE;
                reasons.push("the database does not answer".to_owned());
                "unavailable".to_owned()
            }
        },
    };
    let publisher = app.events.stats();
    if let Some(stats) = &publisher {
        reasons.extend(publisher_reasons(stats));
    }
    let health = Health {
        status: if reasons.is_empty() { "ok" } else { "degraded" },
        reasons,
        service: app.service_name.clone(),
        systems: app.systems.len(),
        database,
        events: EventsHealth {
            enabled: app.events.is_enabled(),
            publisher,
        },
    };
    (code, Json(health))
}

/// Why the publisher puts events at risk, if it does.
pub fn publisher_reasons(stats: &PublisherStats) -> Vec<String> {
    let mut reasons = Vec::new();
    if stats
        .last_loss_secs_ago
        .is_some_and(|ago| ago < LOSS_WINDOW.as_secs())
    {
        reasons.push(format!(
            "events were dropped or refused by the broker in the last {} minutes \
             (dropped {}, rejected: too large {}, invalid topic {}, unauthorized {}, \
             invalid record {})",
            LOSS_WINDOW.as_secs() / 60,
            stats.dropped,
            stats.rejected_too_large,
            stats.rejected_invalid_topic,
            stats.rejected_unauthorized,
            stats.rejected_invalid_record
        ));
    }
    if stats.retry_queue > 0 {
        reasons.push(format!(
            "{} events wait in the retry queue: the broker does not take them",
            stats.retry_queue
        ));
    }
    reasons
}
