//! `POST /execute`: validate the body, find the command, run it, publish one event, answer.
//!
//! Events per request (seed 000):
//! - invalid body (422): one `validation_error` on `<prefix>.errors`;
//! - anything after validation — success, unknown system/object type/action (404), missing
//!   params (400), conflict (409), upstream failure (502), … — one event on
//!   `<prefix>.operations` whose `event_type` is the command's kind. When the command is
//!   unknown, so is its kind: the action name is used if it is one of the five kinds, else
//!   `unknown`.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use civitas_events::{OperationData, TraceContext, ValidationDetail, ValidationErrorData};
use civitas_kafka::EventContext;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;
use utoipa::ToSchema;

use crate::authz::{Grants, Target};
use crate::config::Kind;
use crate::connectors::Command;
use crate::error::ApiError;
use crate::request::{self, ExecuteRequest, Invalid, ValidationIssue};
use crate::routes::caller::Caller;
use crate::startup::App;

/// The request and response header that carries the correlation id.
pub const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// The answer to a successful command.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// What the command returned (unmasked: the caller asked for it).
    #[schema(value_type = Object)]
    pub result: Value,
    pub correlation_id: String,
    /// The `event_id` of the `crud.operations` event; null when publishing is off.
    pub event_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/execute",
    tag = "crud",
    request_body(content = ExecuteRequest, content_type = "application/json"),
    params(
        ("X-Correlation-ID" = Option<String>, Header, description = "Correlation id; generated when absent, returned in the response and put on every event"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; its trace id goes on the events")
    ),
    responses(
        (status = 200, description = "The command succeeded", body = ExecuteResponse),
        (status = 400, description = "Missing or unusable params", body = crate::routes::openapi::DetailBody),
        (status = 401, description = "Caller authentication is on and the bearer token is missing or invalid", body = crate::routes::openapi::DetailBody),
        (status = 403, description = "The authorization policy does not allow the caller this command (names the rules that would)", body = crate::routes::openapi::DetailBody),
        (status = 404, description = "Unknown system, object type or action, or object not found", body = crate::routes::openapi::DetailBody),
        (status = 409, description = "Conflict with an existing object", body = crate::routes::openapi::DetailBody),
        (status = 408, description = "The body did not arrive in time", body = crate::routes::openapi::DetailBody),
        (status = 413, description = "Body too large", body = crate::routes::openapi::DetailBody),
        (status = 415, description = "The Content-Type is not application/json; nothing ran", body = crate::routes::openapi::DetailBody),
        (status = 422, description = "The body does not fit the schema (FastAPI detail)", body = crate::routes::openapi::ValidationBody),
        (status = 502, description = "The system failed or could not be reached", body = crate::routes::openapi::UpstreamBody),
        (status = 503, description = "A credential of the system is not available", body = crate::routes::openapi::DetailBody),
    )
)]
pub async fn execute(State(app): State<App>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let correlation_id = correlation_id(&parts.headers);
    let trace = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|caller| caller.child())
        .unwrap_or_else(TraceContext::new_root);
    let caller = parts.extensions.get::<Caller>();
    let ctx = EventContext {
        correlation_id: Some(correlation_id.clone()),
        trace: Some(trace),
        user_context: caller.map(|caller| caller.0.user.clone()),
    };
    let grants = caller.map(|caller| caller.0.grants.clone());

    let read = tokio::time::timeout(
        app.body_read_timeout,
        axum::body::to_bytes(body, app.body_limit_bytes),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        failed => {
            let error = match failed {
                Err(_) => ApiError::RequestTimeout(format!(
                    "the body did not arrive within {} s",
                    app.body_read_timeout.as_secs()
                )),
                _ => ApiError::PayloadTooLarge(format!(
                    "the body is larger than {} bytes (or could not be read)",
                    app.body_limit_bytes
                )),
            };
            let issue = ValidationIssue {
                kind: match error {
                    ApiError::RequestTimeout(_) => "body_timeout".into(),
                    _ => "body_too_large".into(),
                },
                loc: vec![Value::from("body")],
                msg: error.message(),
                input: Value::Null,
                ctx: None,
            };
            publish_invalid(
                &app,
                &ctx,
                &Invalid {
                    issues: vec![issue],
                    partial: Default::default(),
                },
            );
            return finish(
                &app,
                "unknown",
                "unknown",
                started,
                Err(error),
                &correlation_id,
            );
        }
    };
    let request = match request::parse(&bytes) {
        Ok(request) => request,
        Err(invalid) => {
            publish_invalid(&app, &ctx, &invalid);
            let mut issues = invalid.issues;
            for issue in &mut issues {
                app.masker.mask_in_place(&mut issue.input);
            }
            tracing::info!(%correlation_id, errors = issues.len(), "invalid /execute body");
            let error = ApiError::Validation(issues);
            return finish(
                &app,
                "unknown",
                "unknown",
                started,
                Err(error),
                &correlation_id,
            );
        }
    };

    let (kind, outcome, system_label, action_label, announce) =
        run(&app, &request, grants.as_deref(), &correlation_id).await;
    match &outcome {
        Ok(_) => {
            tracing::debug!(%correlation_id, system = %request.system, object_type = %request.object_type, action = %request.action, "executed")
        }
        Err(e) if e.status().is_server_error() => {
            tracing::warn!(%correlation_id, system = %request.system, object_type = %request.object_type, action = %request.action, status = e.status().as_u16(), error = %e.message(), "command failed")
        }
        Err(e) => {
            tracing::info!(%correlation_id, system = %request.system, object_type = %request.object_type, action = %request.action, status = e.status().as_u16(), error = %e.message(), "command refused")
        }
    }
    // The response body is written before the result moves into the event (which masks
    // it, as the publisher masks every result), so the result is never copied.
    let (result_json, result, error, object_id) = match outcome {
        Ok((result, object_id)) => {
            let json = serde_json::to_vec(&result).unwrap_or_else(|_| b"null".to_vec());
            if let Some(topic) = announce {
                let payload = config_payload(&result, object_id.as_deref());
                app.events
                    .configuration(topic, object_id.as_deref(), &ctx, payload);
            }
            (Ok(json), Some(result), None, object_id)
        }
        Err(e) => {
            let message = e.message();
            (Err(e), None, Some(message), request.object_id.clone())
        }
    };
    let data = OperationData {
        operation: request.action,
        system: request.system,
        object_type: request.object_type,
        object_id,
        // Masked by the publisher, before the producer sees it (with the result).
        params: Value::Object(request.params),
        success: result.is_some(),
        result,
        error,
        timestamp: Utc::now(),
    };
    let event_id = app.events.operation(kind, &ctx, data);
    let outcome = result_json.map(|json| success_body(&json, &correlation_id, event_id.as_deref()));
    finish(
        &app,
        system_label,
        action_label,
        started,
        outcome,
        &correlation_id,
    )
}

/// `{"result": …, "correlation_id": …, "event_id": …}` ([`ExecuteResponse`]) from the
/// result's JSON.
fn success_body(result_json: &[u8], correlation_id: &str, event_id: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(result_json.len() + 120);
    body.extend_from_slice(b"{\"result\":");
    body.extend_from_slice(result_json);
    body.extend_from_slice(b",\"correlation_id\":");
    let _ = serde_json::to_writer(&mut body, correlation_id);
    body.extend_from_slice(b",\"event_id\":");
    let _ = serde_json::to_writer(&mut body, &event_id);
    body.push(b'}');
    body
}

/// A configuration event's payload: the command's result object (secrets are stripped by
/// the publisher) with the entity id, or just the id when the result is no object (delete).
fn config_payload(result: &Value, object_id: Option<&str>) -> Value {
    let mut payload = match result {
        Value::Object(map) => Value::Object(map.clone()),
        _ => Value::Object(Default::default()),
    };
    if let (Some(id), Value::Object(map)) = (object_id, &mut payload) {
        map.entry("id").or_insert_with(|| Value::from(id));
    }
    payload
}

/// The kind for the event, the outcome, the metric labels (configured names only), and the
/// configuration-event topic a success announces.
async fn run<'a>(
    app: &'a App,
    request: &ExecuteRequest,
    grants: Option<&Grants>,
    correlation_id: &str,
) -> (
    &'static str,
    Result<(Value, Option<String>), ApiError>,
    &'a str,
    &'a str,
    Option<&'a str>,
) {
    let resolved = match app
        .systems
        .resolve(&request.system, &request.object_type, &request.action)
    {
        Ok(resolved) => resolved,
        Err(error) => {
            // The usual 404 names the valid choices; under a policy that would show a caller
            // what GET /systems hides from it.
            let error = match (&app.policy, error) {
                (Some(_), ApiError::NotFound(_)) => ApiError::NotFound(
                    "unknown system, object type or action: GET /systems lists what you may run"
                        .to_owned(),
                ),
                (_, error) => error,
            };
            let kind = Kind::from_name(&request.action).map_or("unknown", Kind::as_str);
            let system = app
                .systems
                .get(&request.system)
                .map_or("unknown", |s| s.config.name.as_str());
            return (kind, Err(error), system, "unknown", None);
        }
    };
    let kind = resolved.spec.kind.as_str();
    let system = resolved.system.config.name.as_str();
    let action = resolved.action;
    if let Some(policy) = &app.policy {
        let target = Target {
            system,
            object_type: resolved.object_type,
            action,
            kind: resolved.spec.kind,
        };
        if let Err(denied) = policy.check(grants, &target) {
            return (
                kind,
                Err(ApiError::Forbidden(denied.to_string())),
                system,
                action,
                None,
            );
        }
    }
    let params = match resolved.prepare_params(&request.params, request.object_id.as_deref()) {
        Ok(params) => params,
        Err(error) => return (kind, Err(error), system, action, None),
    };
    let command = Command {
        system,
        object_type: resolved.object_type,
        action,
        spec: resolved.spec,
    };
    // The connector's I/O (database, outside system) runs in a span naming the work.
    let span = tracing::info_span!(
        "command",
        correlation_id,
        system,
        object_type = resolved.object_type,
        action
    );
    let outcome = resolved
        .system
        .connector
        .execute(command, &params, request.object_id.as_deref())
        .instrument(span)
        .await
        .map(|executed| (executed.result, executed.object_id))
        .map_err(ApiError::from);
    let announce = resolved
        .system
        .system_type
        .objects
        .get(resolved.object_type)
        .and_then(|object| object.entity.as_deref())
        .zip(resolved.spec.event)
        .and_then(|(entity, event)| app.config_topics.topic(entity, event.as_str()));
    (kind, outcome, system, action, announce)
}

fn publish_invalid(app: &App, ctx: &civitas_kafka::EventContext, invalid: &Invalid) {
    // FastAPI repeats the whole body as the input of every missing field; the event keeps it
    // once and points the later issues at it.
    let mut errors: Vec<ValidationDetail> = Vec::with_capacity(invalid.issues.len());
    for (index, issue) in invalid.issues.iter().enumerate() {
        let first = invalid.issues[..index]
            .iter()
            .position(|earlier| earlier.input == issue.input && is_container(&issue.input));
        errors.push(ValidationDetail {
            kind: issue.kind.clone(),
            loc: issue.loc.clone(),
            msg: issue.msg.clone(),
            input: match first {
                Some(first) => Value::String(format!("…[same as errors[{first}].input]")),
                None => app.masker.masked(&issue.input),
            },
        });
    }
    let partial = &invalid.partial;
    app.events.validation_error(
        ctx,
        ValidationErrorData {
            path: "/execute".to_owned(),
            errors,
            system: partial.system.clone(),
            object_type: partial.object_type.clone(),
            action: partial.action.clone(),
            object_id: partial.object_id.clone(),
        },
    );
}

fn is_container(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

fn finish(
    app: &App,
    system: &str,
    action: &str,
    started: Instant,
    outcome: Result<Vec<u8>, ApiError>,
    correlation_id: &str,
) -> Response {
    let label = match &outcome {
        Ok(_) => "success",
        Err(e) => e.outcome(),
    };
    app.metrics
        .record_execute(system, action, label, started.elapsed());
    let mut response = match outcome {
        Ok(body) => (
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(error) => error.into_response_with(Some(correlation_id)),
    };
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// The caller's `X-Correlation-ID` when usable, else a new UUID.
fn correlation_id(headers: &HeaderMap) -> String {
    callers_correlation_id(headers)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The caller's `X-Correlation-ID` when usable: 1 to 128 visible ASCII characters.
pub(crate) fn callers_correlation_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}
