//! The extractors of `POST /execute`: [`RequestContext`] (correlation id, trace, caller; one
//! per request, cached in its extensions) and [`ExecuteBody`] (the command, read within the
//! body limits and validated). A body that is refused is answered with its error — 408, 413
//! or 422 — after its `validation_error` event went to `<prefix>.errors`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use civitas_events::{ValidationDetail, ValidationErrorData};
use civitas_kafka::EventContext;
use serde_json::Value;

use crate::app::App;
use crate::error::ApiError;
use civitas_auth::Caller;
use civitas_auth::authz::Grants;
use civitas_command::request::{self, ExecuteRequest, Invalid, ValidationIssue};

/// The request and response header that carries the correlation id.
pub const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// What ties a request's events and answer together: its correlation id (the caller's
/// `X-Correlation-ID` when usable, else a new UUID), its trace (a child of the caller's
/// `traceparent`, else a new root) and its caller.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub started: Instant,
    pub correlation_id: String,
    pub events: EventContext,
    pub grants: Option<Arc<Grants>>,
}

impl RequestContext {
    fn of(parts: &Parts) -> Self {
        let correlation_id = callers_correlation_id(&parts.headers)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // The request's span (exported: its ids), else a child of the caller's traceparent.
        let trace = civitas_telemetry::event_trace(
            parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok()),
        );
        let caller = parts.extensions.get::<Caller>();
        Self {
            started: Instant::now(),
            events: EventContext {
                correlation_id: Some(correlation_id.clone()),
                trace: Some(trace),
                user_context: caller.map(|caller| caller.0.user.clone()),
            },
            grants: caller.map(|caller| caller.0.grants.clone()),
            correlation_id,
        }
    }

    /// An error answer of this request, not counted in the `/execute` metrics (the workflow
    /// API's).
    pub fn error(&self, error: ApiError) -> ExecuteError {
        ExecuteError {
            correlation_id: self.correlation_id.clone(),
            error,
        }
    }

    /// An error answer of this request: the body carries the correlation id, and so does the
    /// `X-Correlation-ID` header. Counted in the request metrics.
    pub fn refuse(&self, app: &App, labels: (&str, &str), error: ApiError) -> ExecuteError {
        app.metrics
            .record_execute(labels.0, labels.1, error.outcome(), self.started.elapsed());
        ExecuteError {
            correlation_id: self.correlation_id.clone(),
            error,
        }
    }
}

impl FromRequestParts<App> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, Self::Rejection> {
        if let Some(ctx) = parts.extensions.get::<RequestContext>() {
            return Ok(ctx.clone());
        }
        let ctx = RequestContext::of(parts);
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// An error answer of `/execute`, with the request's correlation id.
#[derive(Debug)]
pub struct ExecuteError {
    pub correlation_id: String,
    pub error: ApiError,
}

impl IntoResponse for ExecuteError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response_with(Some(&self.correlation_id));
        set_correlation_header(&mut response, &self.correlation_id);
        response
    }
}

/// Puts `X-Correlation-ID` on a response.
pub fn set_correlation_header(response: &mut Response, correlation_id: &str) {
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
}

/// The `/execute` body as a command.
#[derive(Debug)]
pub struct ExecuteBody(pub ExecuteRequest);

impl FromRequest<App> for ExecuteBody {
    type Rejection = ExecuteError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let unknown = ("unknown", "unknown");
        let (ctx, bytes) = read_body(request, app, "/execute")
            .await
            .map_err(|(ctx, error)| ctx.refuse(app, unknown, error))?;
        match request::parse(&bytes) {
            Ok(command) => Ok(ExecuteBody(command)),
            Err(invalid) => {
                let ExecuteError { error, .. } = refuse_invalid(app, &ctx, "/execute", invalid);
                Err(ctx.refuse(app, unknown, error))
            }
        }
    }
}

/// A JSON body of another state-changing route (the workflow API), read within the same
/// limits as `/execute`'s; a refused body leaves its `validation_error` event (naming the
/// route) and is answered 408, 413 or 422. The value is checked further by its handler.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest<App> for JsonBody {
    type Rejection = ExecuteError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        // The route's template, never the raw path a caller chose.
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str())
            .to_owned();
        let (ctx, bytes) = read_body(request, app, &route)
            .await
            .map_err(|(ctx, error)| ctx.error(error))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Ok(JsonBody(value)),
            Err(error) => {
                let invalid = Invalid {
                    issues: vec![ValidationIssue {
                        kind: "json_invalid".into(),
                        loc: vec![Value::from("body"), Value::from(error.column())],
                        msg: "JSON decode error".into(),
                        input: Value::Object(Default::default()),
                        ctx: Some(serde_json::json!({"error": error.to_string()})),
                    }],
                    partial: Default::default(),
                };
                Err(refuse_invalid(app, &ctx, &route, invalid))
            }
        }
    }
}

/// Answers 422 for `invalid` after its `validation_error` event; the inputs are masked.
pub fn refuse_invalid(
    app: &App,
    ctx: &RequestContext,
    path: &str,
    invalid: Invalid,
) -> ExecuteError {
    publish_invalid(app, &ctx.events, &invalid, path);
    let mut issues = invalid.issues;
    for issue in &mut issues {
        app.masker.mask_in_place(&mut issue.input);
    }
    let correlation_id = &ctx.correlation_id;
    tracing::info!(%correlation_id, errors = issues.len(), %path, "invalid body");
    ctx.error(ApiError::Validation(issues))
}

/// The request's context and its body, read within the body limit and read timeout.
async fn read_body(
    request: Request,
    app: &App,
    path: &str,
) -> Result<(RequestContext, axum::body::Bytes), (RequestContext, ApiError)> {
    let (mut parts, body) = request.into_parts();
    let Ok(ctx) = RequestContext::from_request_parts(&mut parts, app).await;
    let read = tokio::time::timeout(
        app.body_read_timeout,
        axum::body::to_bytes(body, app.body_limit_bytes),
    )
    .await;
    match read {
        Ok(Ok(bytes)) => Ok((ctx, bytes)),
        Err(_) => {
            let error = ApiError::RequestTimeout(format!(
                "the body did not arrive within {} s",
                app.body_read_timeout.as_secs()
            ));
            publish_invalid(app, &ctx.events, &body_issue("body_timeout", &error), path);
            Err((ctx, error))
        }
        Ok(Err(_)) => {
            let error = ApiError::PayloadTooLarge(format!(
                "the body is larger than {} bytes (or could not be read)",
                app.body_limit_bytes
            ));
            publish_invalid(
                app,
                &ctx.events,
                &body_issue("body_too_large", &error),
                path,
            );
            Err((ctx, error))
        }
    }
}

/// A body that could not be read, as a validation issue at `body`.
fn body_issue(kind: &str, error: &ApiError) -> Invalid {
    Invalid {
        issues: vec![ValidationIssue {
            kind: kind.into(),
            loc: vec![Value::from("body")],
            msg: error.message(),
            input: Value::Null,
            ctx: None,
        }],
        partial: Default::default(),
    }
}

/// One `validation_error` event on `<prefix>.errors`.
fn publish_invalid(app: &App, ctx: &EventContext, invalid: &Invalid, path: &str) {
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
            path: path.to_owned(),
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

/// The caller's `X-Correlation-ID` when usable: 1 to 128 visible ASCII characters.
pub(crate) fn callers_correlation_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}
