//! The layer in front of `/execute` and `/systems` when caller authentication is on: a
//! request with a valid bearer token (or a session of a plugged-in
//! [`SessionAuthenticator`](civitas_auth::SessionAuthenticator), the console's) goes on with
//! its [`Caller`]; any other gets a 401 (with `WWW-Authenticate`) and no event — it never
//! reached a command.

use std::time::Instant;

use super::extract::{CORRELATION_HEADER, callers_correlation_id};
use crate::app::App;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use civitas_auth::{Caller, SessionRefused};

/// Authenticates the request (a bearer token, or a console session's cookie), or answers
/// 401 (403 for a console session's state-changing request without its CSRF token).
pub async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let Some(auth) = &app.caller_auth else {
        return next.run(request).await;
    };
    let started = Instant::now();
    // A session's request (the console's cookie) stands for the bearer token.
    let session = match (&app.sessions, request.headers().contains_key(AUTHORIZATION)) {
        (Some(sessions), false) => sessions
            .authenticate(auth, request.method(), request.headers())
            .await
            .map(|outcome| {
                outcome.map_err(|refused| match refused {
                    SessionRefused::Token(refused) => ApiError::Unauthorized(refused),
                    SessionRefused::Forbidden(reason) => ApiError::Forbidden(reason),
                })
            }),
        _ => None,
    };
    let outcome = match session {
        Some(outcome) => outcome,
        None => auth
            .authenticate(request.headers())
            .await
            .map_err(ApiError::Unauthorized),
    };
    match outcome {
        Ok(user) => {
            request.extensions_mut().insert(Caller(user));
            next.run(request).await
        }
        Err(refused) => {
            let path = request.uri().path().to_owned();
            tracing::info!(%path, reason = ?refused, "caller refused");
            if path == "/execute" {
                app.metrics
                    .record_execute("unknown", "unknown", "unauthorized", started.elapsed());
            }
            let correlation_id = callers_correlation_id(request.headers());
            let mut response = refused.into_response_with(correlation_id);
            if let Some(value) = correlation_id.and_then(|id| HeaderValue::from_str(id).ok()) {
                response.headers_mut().insert(CORRELATION_HEADER, value);
            }
            response
        }
    }
}
