//! `GET /health`: 200 when the database answers (or none is needed), else 503.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    pub service: String,
    pub systems: usize,
    /// `ok`, `not used`, or the error.
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
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database does not answer", body = Health)
    )
)]
pub async fn health(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let database = match &app.pool {
        None => Ok("not used".to_owned()),
        Some(pool) => sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| "ok".to_owned())
            .map_err(|e| e.to_string()),
    };
    let (status, code, database) = match database {
        Ok(text) => ("ok", StatusCode::OK, text),
        Err(error) => ("degraded", StatusCode::SERVICE_UNAVAILABLE, error),
    };
    let health = Health {
        status,
        service: app.service_name.clone(),
        systems: app.systems.len(),
        database,
        events: EventsHealth {
            enabled: app.events.is_enabled(),
            publisher: app.events.stats(),
        },
    };
    (code, Json(health))
}
