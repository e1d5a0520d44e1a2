//! The one error type of the HTTP API. Every failure class has its status and body shape:
//!
//! | status | when | body |
//! |---|---|---|
//! | 422 | the body does not fit the schema | `{"detail": [{type, loc, msg, input}…]}` |
//! | 404 | unknown system / object type / action, or object not found (also the system's own 404) | `{"detail": "…"}` |
//! | 400 | missing or unusable params (also the system's own 400 and 422) | `{"detail": "…"}` |
//! | 401 | caller authentication is on and the bearer token is missing or invalid | `{"detail": "…"}` |
//! | 403 | the authorization policy does not allow the command | `{"detail": "…"}` (names the rules that would) |
//! | 409 | the object conflicts with an existing one (also the system's own 409) | `{"detail": "…"}` |
//! | 408 | the body did not arrive within the body read timeout | `{"detail": "…"}` |
//! | 413 | the body is too large | `{"detail": "…"}` |
//! | 415 | a state-changing request whose `Content-Type` is not `application/json` | `{"detail": "…"}` |
//! | 502 | the system answered 401, 403, 5xx or another error, or could not be reached | `{"error": "HTTP Error <code>", "upstream": {"url", "detail"}}` |
//! | 503 | a credential of the system is not available | `{"detail": "…"}` |
//! | 500 | a fault of ours (logged once, with the correlation id) | `{"detail": "Internal Server Error"}` |
//!
//! `/execute` adds `correlation_id` to each body.

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use civitas_auth::caller_auth::Refused;
use civitas_command::command_error::{CommandError, upstream_message, validation_message};
use civitas_command::request::ValidationIssue;

#[derive(Debug, Clone)]
pub enum ApiError {
    Validation(Vec<ValidationIssue>),
    NotFound(String),
    BadRequest(String),
    /// The caller's bearer token is missing or invalid.
    Unauthorized(Refused),
    /// The authorization policy refuses the command.
    Forbidden(String),
    Conflict(String),
    PayloadTooLarge(String),
    /// The body did not arrive in time (a slow or stalled client).
    RequestTimeout(String),
    /// A state-changing request that is not `application/json` (cross-site request guard).
    UnsupportedMediaType(String),
    /// An outside system failed. `error` is `HTTP Error <code>` or `Upstream unreachable`.
    Upstream {
        error: String,
        url: String,
        detail: Value,
    },
    /// A credential of the system is not available; with the seconds after which trying
    /// again may help (`Retry-After`), when that is known (the vault's breaker is open).
    Unavailable(String, Option<u64>),
    /// Logged when turned into a response; the caller sees an opaque 500.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `outcome` label of the request metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "invalid",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "too_large",
            ApiError::RequestTimeout(_) => "timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Upstream { .. } => "upstream_error",
            ApiError::Unavailable(..) => "unavailable",
            ApiError::Internal(_) => "error",
        }
    }

    /// The `error` string of the `crud.operations` event.
    pub fn message(&self) -> String {
        match self {
            ApiError::Validation(issues) => validation_message(issues),
            ApiError::NotFound(m)
            | ApiError::BadRequest(m)
            | ApiError::Forbidden(m)
            | ApiError::Conflict(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::RequestTimeout(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Unavailable(m, _) => m.clone(),
            ApiError::Upstream { error, url, detail } => upstream_message(error, url, detail),
            ApiError::Unauthorized(refused) => refused.to_string(),
            ApiError::Internal(_) => "Internal Server Error".to_owned(),
        }
    }

    /// The response body, with `correlation_id` when given.
    pub fn body_with(&self, correlation_id: Option<&str>) -> ErrorBody {
        let correlation_id = correlation_id.map(str::to_owned);
        match self {
            ApiError::Validation(issues) => ErrorBody::Validation(ValidationBody {
                detail: issues.clone(),
                correlation_id,
            }),
            ApiError::Upstream { error, url, detail } => ErrorBody::Upstream(UpstreamBody {
                error: error.clone(),
                upstream: UpstreamInfo {
                    url: url.clone(),
                    detail: detail.clone(),
                },
                correlation_id,
            }),
            ApiError::Internal(_) => ErrorBody::Detail(DetailBody {
                detail: "Internal Server Error".to_owned(),
                correlation_id,
            }),
            other => ErrorBody::Detail(DetailBody {
                detail: other.message(),
                correlation_id,
            }),
        }
    }

    /// The response body (without the correlation id), as JSON.
    pub fn body(&self) -> Value {
        serde_json::to_value(self.body_with(None)).unwrap_or(Value::Null)
    }

    /// The response, with `correlation_id` in the body when given.
    pub fn into_response_with(self, correlation_id: Option<&str>) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::error!(correlation_id, error = %message, "internal error");
        }
        let body = self.body_with(correlation_id);
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let ApiError::Unauthorized(refused) = &self {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, www_authenticate(refused));
        }
        if let ApiError::Unavailable(_, Some(seconds)) = &self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(None)
    }
}

/// The one mapping of a command's failure to HTTP (the table above).
impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Validation(issues) => ApiError::Validation(issues),
            CommandError::NotFound(m) => ApiError::NotFound(m),
            CommandError::BadRequest(m) => ApiError::BadRequest(m),
            CommandError::Forbidden(m) => ApiError::Forbidden(m),
            CommandError::Conflict(m) => ApiError::Conflict(m),
            CommandError::Upstream { error, url, detail } => {
                ApiError::Upstream { error, url, detail }
            }
            CommandError::Unavailable(m, retry_after) => ApiError::Unavailable(m, retry_after),
            CommandError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// A workflow request's refusal as HTTP.
impl From<civitas_workflow::WorkflowError> for ApiError {
    fn from(error: civitas_workflow::WorkflowError) -> Self {
        use civitas_workflow::WorkflowError;
        match error {
            WorkflowError::NotFound(m) => ApiError::NotFound(m),
            WorkflowError::Forbidden(m) => ApiError::Forbidden(m),
            WorkflowError::Conflict(m) => ApiError::Conflict(m),
            WorkflowError::Unavailable(m) => ApiError::Unavailable(m, Some(5)),
        }
    }
}

/// A workflow store failure (logged), as the engine reports it: 503.
impl From<civitas_workflow::store::StoreError> for ApiError {
    fn from(error: civitas_workflow::store::StoreError) -> Self {
        civitas_workflow::WorkflowError::from(error).into()
    }
}

/// The body of an error response: one of the three shapes of the table above (the types the
/// OpenAPI document is generated from).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ErrorBody {
    Detail(DetailBody),
    Validation(ValidationBody),
    Upstream(UpstreamBody),
}

/// `{"detail": "…", "correlation_id": "…"}`: 400, 404, 409, 413, 503, 500.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetailBody {
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// 422: FastAPI's validation detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationBody {
    pub detail: Vec<ValidationIssue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// 502: `{"error": "HTTP Error <code>", "upstream": {"url", "detail"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamBody {
    /// `HTTP Error <code>` or `Upstream unreachable`.
    pub error: String,
    pub upstream: UpstreamInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamInfo {
    pub url: String,
    /// The system's answer (any JSON: an object, a text, or null when it sent nothing).
    pub detail: serde_json::Value,
}

/// The RFC 6750 challenge: no error code when no token was sent, else `invalid_token`.
fn www_authenticate(refused: &Refused) -> HeaderValue {
    match refused {
        Refused::Missing { .. } => HeaderValue::from_static(r#"Bearer realm="civitas""#),
        other => {
            let description: String = other
                .to_string()
                .chars()
                .filter(|c| *c == ' ' || (c.is_ascii_graphic() && *c != '"' && *c != '\\'))
                .collect();
            HeaderValue::from_str(&format!(
                r#"Bearer realm="civitas", error="invalid_token", error_description="{description}""#
            ))
            .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer realm="civitas", error="invalid_token""#))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use civitas_command::connectors::ConnectorError;
    use civitas_command::credentials::CredentialError;
    use serde_json::json;

    #[test]
    fn an_upstream_error_has_the_seed_shape() {
        let error = ApiError::from(CommandError::from(ConnectorError::Upstream {
            status: 503,
            url: "http://kc/x".into(),
            detail: json!({"error": "down"}),
        }));
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            error.body(),
            json!({"error": "HTTP Error 503", "upstream": {"url": "http://kc/x", "detail": {"error": "down"}}})
        );
        assert_eq!(
            error.message(),
            r#"HTTP Error 503 from http://kc/x: {"error":"down"}"#
        );
    }

    #[test]
    fn an_internal_error_is_opaque() {
        let error = ApiError::Internal("db exploded at /var/lib".into());
        assert_eq!(error.body(), json!({"detail": "Internal Server Error"}));
        assert!(!error.message().contains("/var/lib"));
    }

    #[test]
    fn a_secret_behind_an_open_breaker_is_a_503_with_retry_after() {
        let open = CredentialError::CircuitOpen {
            pointer: "openbao+kv2://secret/kc#k".into(),
            provider: "openbao".into(),
            retry_in_ms: 29_001,
        };
        let response =
            ApiError::from(CommandError::from(ConnectorError::Credential(open))).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "30");
        let missing = CredentialError::EnvNotSet {
            pointer: "env:X".into(),
        };
        let response =
            ApiError::from(CommandError::from(ConnectorError::Credential(missing))).into_response();
        assert!(response.headers().get(RETRY_AFTER).is_none());
    }
}
