//! Why a console request was refused: the same `{"detail": "…"}` body as the rest of the
//! API, with `Retry-After` where trying again later helps.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused or failed console request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleError {
    /// 400: a filter or search the console does not take.
    BadRequest(String),
    /// 403: the policy does not show this to the caller.
    Forbidden(String),
    /// 404: no such saga, view or console.
    NotFound(String),
    /// 503: the broker or the saga store does not answer, or too much is open at once; with
    /// the seconds after which to try again, when known.
    Unavailable(String, Option<u64>),
    /// 500: a fault of ours (logged, never shown).
    Internal(String),
}

impl ConsoleError {
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (detail, retry_after) = match self {
            ConsoleError::Internal(message) => {
                tracing::error!(error = %message, "console: internal error");
                ("Internal Server Error".to_owned(), None)
            }
            ConsoleError::Unavailable(message, retry_after) => (message, retry_after),
            ConsoleError::BadRequest(message)
            | ConsoleError::Forbidden(message)
            | ConsoleError::NotFound(message) => (message, None),
        };
        let mut response = (status, axum::Json(json!({ "detail": detail }))).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_does_not_show_its_cause() {
        let response = ConsoleError::Internal("db at /var/lib failed".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn an_unavailable_broker_says_when_to_try_again() {
        let response = ConsoleError::Unavailable("down".into(), Some(5)).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "5");
    }
}
