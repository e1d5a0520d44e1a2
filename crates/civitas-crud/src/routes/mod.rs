//! The HTTP routes: `POST /execute`, `GET /systems`, the [`workflow`] API, `GET /health`,
//! `GET /metrics`, `GET /openapi.json`; [`caller`], the authentication in front of the first two;
//! [`extract`], the `/execute` request's context and body; and [`json_only`], which refuses
//! state-changing requests that are not `application/json`.

use axum::Router;
use axum::extract::MatchedPath;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::app::App;
use json_only::post_json;

pub mod caller;
pub mod durable;
pub mod execute;
pub mod extract;
pub mod health;
pub mod json_only;
pub mod metrics;
pub mod openapi;
pub mod systems;
pub mod workflow;

impl App {
    /// The HTTP routes.
    pub fn router(&self) -> Router {
        // State-changing routes take only JSON (cross-site request guard: `post_json`);
        // caller authentication runs first, outside it, then the durable-events layer
        // (admission before, storing the request's events before the answer).
        let mut callers = Router::new()
            .route("/execute", post_json(execute::execute))
            .route("/systems", get(systems::systems))
            .route("/workflows", get(workflow::workflows))
            .route("/workflow/start", post_json(workflow::start))
            .route("/workflow/runs", get(workflow::runs))
            .route("/workflow/status/{id}", get(workflow::status))
            .route("/workflow/resume/{task_id}", post_json(workflow::resume))
            .route("/workflow/{id}/cancel", post_json(workflow::cancel))
            .route("/tasks", get(workflow::tasks))
            .route("/tasks/{id}", get(workflow::task))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                durable::durable,
            ));
        if self.caller_auth.is_some() {
            callers = callers.route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                caller::authenticate,
            ));
        }
        if let Some(console) = &self.console {
            // Not behind the durable-events layer: the console only reads; its decisions
            // go through `/workflow/resume`, which is. Its data is behind the same caller
            // authentication as the API (a session cookie counts as a token there).
            let app = self.clone();
            let guard = move |data: Router<App>| {
                if app.caller_auth.is_some() {
                    data.route_layer(axum::middleware::from_fn_with_state(
                        app,
                        caller::authenticate,
                    ))
                } else {
                    data
                }
            };
            callers = callers.merge(civitas_console::router(console.clone(), guard));
        }
        callers
            .route("/health", get(health::health))
            .route("/health/live", get(health::live))
            .route("/health/ready", get(health::ready))
            .route("/metrics", get(metrics::metrics))
            .route("/openapi.json", get(openapi::openapi))
            .with_state(self.clone())
            // The layer only opens the span: its own request/response/failure log lines would
            // repeat (at ERROR, for every 502) what the executor already logs.
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(())
                    .on_failure(()),
            )
    }
}

/// The span of one HTTP request: method and route (never the raw path, which a caller
/// chooses), a child of the caller's `traceparent` when spans are exported.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!("http.request", method = %request.method(), route);
    if let Some(traceparent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        civitas_telemetry::continue_trace(&span, traceparent);
    }
    span
}
