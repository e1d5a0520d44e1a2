//! `POST /execute`: extract the request's context and command, run the command through the
//! [`CommandExecutor`](civitas_command::executor::CommandExecutor), answer. The events are the
//! executor's (and, for a refused body, the [`ExecuteBody`] extractor's).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::App;
use crate::routes::extract::{ExecuteBody, ExecuteError, RequestContext, set_correlation_header};
use civitas_command::executor::Invocation;

pub use crate::routes::extract::CORRELATION_HEADER;

/// The answer to a successful command.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// What the command returned (unmasked: the caller asked for it): an object, a list, or
    /// null.
    pub result: Value,
    pub correlation_id: String,
    /// The `event_id` of the `crud.operations` event; null when publishing is off.
    pub event_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/execute",
    tag = "crud",
    request_body(content = civitas_command::request::ExecuteRequest, content_type = "application/json"),
    params(
        ("X-Correlation-ID" = Option<String>, Header, description = "Correlation id; generated when absent, returned in the response and put on every event"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; its trace id goes on the events")
    ),
    responses(
        (status = 200, description = "The command succeeded", body = ExecuteResponse),
        (status = 400, description = "Missing or unusable params", body = crate::error::DetailBody),
        (status = 401, description = "Caller authentication is on and the bearer token is missing or invalid", body = crate::error::DetailBody),
        (status = 403, description = "The authorization policy does not allow the caller this command (names the rules that would)", body = crate::error::DetailBody),
        (status = 404, description = "Unknown system, object type or action, or object not found", body = crate::error::DetailBody),
        (status = 409, description = "Conflict with an existing object", body = crate::error::DetailBody),
        (status = 408, description = "The body did not arrive in time", body = crate::error::DetailBody),
        (status = 413, description = "Body too large", body = crate::error::DetailBody),
        (status = 415, description = "The Content-Type is not application/json; nothing ran", body = crate::error::DetailBody),
        (status = 422, description = "The body does not fit the schema (FastAPI detail)", body = crate::error::ValidationBody),
        (status = 502, description = "The system failed or could not be reached", body = crate::error::UpstreamBody),
        (status = 503, description = "A credential of the system is not available", body = crate::error::DetailBody),
    )
)]
pub async fn execute(
    State(app): State<App>,
    ctx: RequestContext,
    ExecuteBody(command): ExecuteBody,
) -> Result<Response, ExecuteError> {
    let outcome = app
        .executor()
        .execute(
            command,
            Invocation {
                grants: ctx.grants.as_deref(),
                context: &ctx.events,
            },
        )
        .await;
    let labels = (outcome.system_label, outcome.action_label);
    let executed = outcome
        .result
        .map_err(|error| ctx.refuse(&app, labels, error.into()))?;
    app.metrics
        .record_execute(labels.0, labels.1, "success", ctx.started.elapsed());
    let mut response = Json(ExecuteResponse {
        result: executed.result,
        correlation_id: ctx.correlation_id.clone(),
        event_id: executed.event_id,
    })
    .into_response();
    set_correlation_header(&mut response, &ctx.correlation_id);
    Ok(response)
}
