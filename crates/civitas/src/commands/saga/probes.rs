//! The health probes of a saga component run on its own (`civitas serve orchestrator|
//! frost-adapter|apisix-adapter`), on a port of its own (`--health-listen`), as Kubernetes
//! deployments need; the same three as the CRUD service's:
//!
//! - `GET /health/live`: the process answers;
//! - `GET /health/ready`: it can do its job: the orchestrator's store answers within 2 s;
//! - `GET /health`: `ok`, `degraded` (events wait in the publisher's retry queue, or were
//!   dropped or refused in the last five minutes) or `down` (the store does not answer),
//!   with reasons and the publisher's figures. 200 unless `down` (503).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use civitas_crud::routes::health::serving;
use civitas_kafka::Publisher;
use serde_json::{Value, json};
use sqlx::AnyPool;

/// How long readiness waits for the store.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probes {
    component: &'static str,
    store: Option<AnyPool>,
    publisher: Publisher,
}

/// Serves the probes on `listen` until the process ends.
pub async fn serve(
    listen: SocketAddr,
    component: &'static str,
    store: Option<AnyPool>,
    publisher: Publisher,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route(
            "/health/live",
            get(|| async { Json(json!({"ok": true, "reasons": []})) }),
        )
        .route("/health/ready", get(ready))
        .route("/health", get(health))
        .with_state(Probes {
            component,
            store,
            publisher,
        });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the health probes stopped");
        }
    });
    Ok(addr)
}

/// `(down reasons, degraded reasons)`.
async fn assess(probes: &Probes) -> (Vec<String>, Vec<String>) {
    let mut down = Vec::new();
    if let Some(pool) = &probes.store {
        let ping = sqlx::query("SELECT 1").execute(pool);
        if !matches!(tokio::time::timeout(STORE_TIMEOUT, ping).await, Ok(Ok(_))) {
            down.push("the saga store (database) does not answer".to_owned());
        }
    }
    let degraded = civitas_crud::routes::health::publisher_reasons(&probes.publisher.stats());
    (down, degraded)
}

async fn ready(State(probes): State<Probes>) -> (StatusCode, Json<Value>) {
    let (down, _) = assess(&probes).await;
    (
        serving(down.is_empty()),
        Json(json!({"ok": down.is_empty(), "reasons": down})),
    )
}

async fn health(State(probes): State<Probes>) -> (StatusCode, Json<Value>) {
    let (mut down, degraded) = assess(&probes).await;
    let status = match (down.is_empty(), degraded.is_empty()) {
        (false, _) => "down",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let code = serving(down.is_empty());
    down.extend(degraded);
    (
        code,
        Json(json!({
            "status": status,
            "reasons": down,
            "component": probes.component,
            "publisher": probes.publisher.stats(),
        })),
    )
}
