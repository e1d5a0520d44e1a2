//! Acknowledged means durable (docs/operations.md, "Delivery guarantees"): the layer in front of the routes that run
//! commands and workflows.
//!
//! - Before a state-changing request runs, the outbox must be able to take its events
//!   ([`Outbox::admit`](civitas_kafka::outbox::Outbox::admit)): with the backlog full (policy `refuse`) or the database not taking
//!   events, the answer is 503 with `Retry-After` and nothing runs.
//! - After the handler answered, the answer waits until every event the request appended
//!   is stored; when they are not stored in time the answer becomes 503 and says what the
//!   caller should check (the command may have taken effect).
//!
//! Without an outbox (events off, or a publisher without a database) the layer does nothing.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header::RETRY_AFTER};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use civitas_kafka::outbox;

use crate::app::App;
use crate::error::DetailBody;
use crate::routes::extract::CORRELATION_HEADER;

/// Seconds a refused caller is told to wait.
const RETRY_AFTER_SECS: u32 = 5;

pub async fn durable(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(outbox) = app.events.outbox() else {
        return next.run(request).await;
    };
    let correlation_id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state && let Err(refusal) = outbox.admit() {
        tracing::warn!(%refusal, "command refused: its events could not be kept");
        return unavailable(refusal.to_string(), correlation_id);
    }
    let (response, ticket) = outbox::track(next.run(request)).await;
    if ticket == 0 {
        return response;
    }
    match outbox.durable(ticket).await {
        Ok(()) => response,
        Err(not_durable) => {
            tracing::error!(error = %not_durable, "answered 503: the request's events are not stored");
            let correlation_id = response
                .headers()
                .get(CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or(correlation_id);
            unavailable(not_durable.to_string(), correlation_id)
        }
    }
}

fn unavailable(detail: String, correlation_id: Option<String>) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(DetailBody {
            detail,
            correlation_id,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
