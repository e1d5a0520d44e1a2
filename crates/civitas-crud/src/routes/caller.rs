//! The layer in front of `/execute` and `/systems` when caller authentication is on: a
//! request with a valid bearer token goes on with its [`Caller`]; any other gets a 401 (with
//! `WWW-Authenticate`) and no event — it never reached a command.

use std::time::Instant;

use super::extract::{CORRELATION_HEADER, callers_correlation_id};
use crate::app::App;
use crate::caller_auth::Identity;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The authenticated caller of a request (a request extension).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

/// Authenticates the request, or answers 401.
pub async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let Some(auth) = &app.caller_auth else {
        return next.run(request).await;
    };
    let started = Instant::now();
    match auth.authenticate(request.headers()).await {
        Ok(user) => {
            request.extensions_mut().insert(Caller(user));
            next.run(request).await
        }
        Err(refused) => {
            let path = request.uri().path().to_owned();
            tracing::info!(%path, reason = %refused, "caller refused");
            if path == "/execute" {
                app.metrics
                    .record_execute("unknown", "unknown", "unauthorized", started.elapsed());
            }
            let correlation_id = callers_correlation_id(request.headers());
            let mut response = ApiError::Unauthorized(refused).into_response_with(correlation_id);
            if let Some(value) = correlation_id.and_then(|id| HeaderValue::from_str(id).ok()) {
                response.headers_mut().insert(CORRELATION_HEADER, value);
            }
            response
        }
    }
}
