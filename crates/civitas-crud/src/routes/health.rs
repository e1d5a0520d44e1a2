//! Health an orchestrator can act on:
//!
//! - `GET /health/live`: the process answers (liveness: restart it when this fails).
//! - `GET /health/ready`: it can do its job (readiness: send it traffic): the database
//!   answers and the outbox takes events (broker reachable, or the backlog within bounds).
//! - `GET /health`: the details: `ok`, `degraded` (serving, but events wait for the broker,
//!   are retried, or were dropped or refused lately) or `down` (it cannot do its job), each
//!   with its reasons and figures. 200 unless `down` (503).
//!
//! Why `degraded` is ready: the service still answers commands and stores their events; the
//! broker being away is the outbox's job. Taking the instance out of a load balancer would
//! turn a Kafka problem into an outage; `down` does when the backlog is full.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use civitas_kafka::PublisherStats;
use civitas_kafka::outbox::OutboxStats;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use civitas_command::events::Delivery;

/// How long a lost event keeps `/health` degraded.
const LOSS_WINDOW: Duration = Duration::from_secs(300);
/// How long the health check waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);
/// An undelivered event older than this makes `/health` degraded.
const STALE_BACKLOG: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `degraded` or `down`.
    pub status: &'static str,
    /// Why it is degraded or down; empty when `ok`.
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
    /// The outbox's figures (`outbox`), or the direct publisher's (`publisher`).
    #[schema(value_type = Option<Object>)]
    pub delivery: Option<Delivery>,
}

/// The answer of the two probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    /// `true` when the probe passes.
    pub ok: bool,
    /// Why it fails; empty when it passes.
    pub reasons: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "`ok`, or `degraded` (serving while events wait or were lost lately, with reasons)", body = Health),
        (status = 503, description = "`down`: the database does not answer, or the event backlog is full", body = Health)
    )
)]
pub async fn health(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let health = assess(&app).await;
    (serving(health.status != "down"), Json(health))
}

/// 200 when the service can do its job, 503 when it cannot.
pub fn serving(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Probe))
)]
pub async fn live() -> Json<Probe> {
    Json(Probe {
        ok: true,
        reasons: Vec::new(),
    })
}

#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: the database answers and events can be kept", body = Probe),
        (status = 503, description = "Not ready, with the reasons", body = Probe)
    )
)]
pub async fn ready(State(app): State<App>) -> (StatusCode, Json<Probe>) {
    let health = assess(&app).await;
    let ok = health.status != "down";
    let reasons = if ok { Vec::new() } else { health.reasons };
    (serving(ok), Json(Probe { ok, reasons }))
}

/// The service's health now.
pub async fn assess(app: &App) -> Health {
    let mut down = Vec::new();
    let mut degraded = Vec::new();
    let database = match &app.pool {
        None => "not used".to_owned(),
        Some(pool) => {
            let ping = sqlx::query("SELECT 1").execute(pool);
            match tokio::time::timeout(DATABASE_TIMEOUT, ping).await {
                Ok(Ok(_)) => "ok".to_owned(),
                answer => {
                    // The error text may name hosts and users: the log has it, callers do not.
                    let error = match answer {
                        Ok(Err(error)) => error.to_string(),
                        _ => format!("no answer within {DATABASE_TIMEOUT:?}"),
                    };
                    tracing::warn!(%error, "health check: the database does not answer");
                    down.push("the database does not answer".to_owned());
                    "unavailable".to_owned()
                }
            }
        }
    };
    let delivery = app.events.stats();
    match &delivery {
        Some(Delivery::Outbox(stats)) => outbox_reasons(app, stats, &mut down, &mut degraded),
        Some(Delivery::Publisher(stats)) => degraded.extend(publisher_reasons(stats)),
        None => {}
    }
    let status = if !down.is_empty() {
        "down"
    } else if !degraded.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    down.extend(degraded);
    Health {
        status,
        reasons: down,
        service: app.service_name.clone(),
        systems: app.systems.len(),
        database,
        events: EventsHealth {
            enabled: app.events.is_enabled(),
            delivery,
        },
    }
}

/// Why the outbox makes the service down or degraded, if it does.
fn outbox_reasons(
    app: &App,
    stats: &OutboxStats,
    down: &mut Vec<String>,
    degraded: &mut Vec<String>,
) {
    if let Some(error) = &stats.database_error {
        tracing::warn!(%error, "health check: the outbox cannot store events");
        down.push(
            "events cannot be stored: the outbox's database refuses them (commands are refused)"
                .to_owned(),
        );
    }
    if let Some(Err(refusal)) = app.events.outbox().map(|o| o.would_admit())
        && stats.database_error.is_none()
    {
        down.push(refusal.to_string());
    }
    // A broker error with nothing waiting puts nothing at risk (an idle connection the
    // broker closed is reported too); a delivery clears it.
    if let Some(error) = stats
        .broker_error
        .as_ref()
        .filter(|_| stats.backlog_events > 0)
    {
        degraded.push(format!(
            "the broker does not acknowledge events ({error}); {} wait in the outbox",
            stats.backlog_events
        ));
    }
    if stats.oldest_undelivered_secs >= STALE_BACKLOG.as_secs() {
        degraded.push(format!(
            "{} events wait for the broker, the oldest for {} s",
            stats.backlog_events, stats.oldest_undelivered_secs
        ));
    }
    if stats
        .last_loss_secs_ago
        .is_some_and(|ago| ago < LOSS_WINDOW.as_secs())
    {
        degraded.push(format!(
            "events were dropped or refused by the broker in the last {} minutes \
             (dropped {}, rejected {}; see the log)",
            LOSS_WINDOW.as_secs() / 60,
            stats.dropped,
            stats.rejected
        ));
    }
}

/// Why the direct publisher puts events at risk, if it does.
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
