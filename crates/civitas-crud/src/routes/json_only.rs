//! Only `application/json` may change state.
//!
//! A web page can make an operator's browser send a cross-site `POST` without asking (a
//! "simple" request: no preflight) only with the content types `text/plain`,
//! `multipart/form-data` or `application/x-www-form-urlencoded`, or none at all. Requiring
//! `application/json` on every state-changing method forces a CORS preflight, which this
//! service never answers, so such requests never run a command.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::app::App;
use crate::error::ApiError;

/// A `POST` route that takes only `application/json`: every state-changing route is made
/// with this. A method the route does not have still gets its 405.
pub fn post_json<H, T>(handler: H) -> MethodRouter<App>
where
    H: Handler<T, App>,
    T: 'static,
{
    axum::routing::post(handler).route_layer(axum::middleware::from_fn(require_json))
}

/// Refuses a `POST`, `PUT`, `PATCH` or `DELETE` whose `Content-Type` is not
/// `application/json` (parameters such as `charset` allowed) with 415.
pub async fn require_json(request: Request, next: Next) -> Response {
    let changes_state = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes_state {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !content_type.is_some_and(is_json) {
            return ApiError::UnsupportedMediaType(format!(
                "send the body as JSON with the header `Content-Type: application/json` \
                 (got {})",
                match content_type {
                    Some(_) => "another content type",
                    None => "no content type",
                }
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// `application/json`, with or without parameters, in any case.
pub fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_json_with_optional_parameters_is_json() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        for other in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "application/vnd.civitas+json",
        ] {
            assert!(!is_json(other), "{other}");
        }
    }
}
