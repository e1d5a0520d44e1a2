//! `GET /openapi.json`: the OpenAPI 3 document, generated from the handlers and types.

use axum::Json;
use axum::extract::State;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};

use crate::app::App;
use crate::error::{DetailBody, UpstreamBody, UpstreamInfo, ValidationBody};
use crate::routes::execute::ExecuteResponse;
use crate::routes::health::{EventsHealth, Health, Probe};
use crate::routes::systems::{ActionInfo, ObjectInfo, SystemInfo, SystemsResponse};
use civitas_command::request::{ExecuteRequest, ValidationIssue};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "civitas CRUD service",
        description = "Runs create/read/update/delete/list commands against configured systems and publishes an audit event for each (seed 000)."
    ),
    paths(
        crate::routes::execute::execute,
        crate::routes::systems::systems,
        crate::routes::workflow::workflows,
        crate::routes::workflow::start,
        crate::routes::workflow::runs,
        crate::routes::workflow::status,
        crate::routes::workflow::resume,
        crate::routes::workflow::cancel,
        crate::routes::workflow::tasks,
        crate::routes::workflow::task,
        crate::routes::health::health,
        crate::routes::health::live,
        crate::routes::health::ready,
        crate::routes::metrics::metrics,
        openapi,
    ),
    components(schemas(
        ExecuteRequest,
        ExecuteResponse,
        ValidationIssue,
        DetailBody,
        ValidationBody,
        UpstreamBody,
        UpstreamInfo,
        SystemsResponse,
        SystemInfo,
        ObjectInfo,
        ActionInfo,
        Health,
        EventsHealth,
        Probe,
        civitas_workflow::run::RunStatus,
        civitas_workflow::run::NodeStatus,
        civitas_workflow::run::Decision,
        civitas_workflow::api::TaskStatus,
        civitas_workflow::api::StartRequest,
        civitas_workflow::api::StartResponse,
        civitas_workflow::api::ResumeRequest,
        civitas_workflow::api::WorkflowList,
        civitas_workflow::api::WorkflowInfo,
        civitas_workflow::api::NodeInfo,
        civitas_workflow::api::DecisionView,
        civitas_workflow::api::ApproversView,
        civitas_workflow::api::TaskView,
        civitas_workflow::api::ResumeHeaders,
        civitas_workflow::api::ResumeBodyHint,
        civitas_workflow::api::ResumeHint,
        civitas_workflow::api::RequiredAction,
        civitas_workflow::api::TaskItem,
        civitas_workflow::api::TaskList,
        civitas_workflow::api::RunSummary,
        civitas_workflow::api::RunList,
        civitas_workflow::api::NodeView,
        civitas_workflow::api::RunView,
        civitas_workflow::api::ResumeAnswer,
        crate::routes::workflow::ResumeConflict,
    )),
    tags(
        (name = "crud", description = "Commands against systems"),
        (name = "workflows", description = "Multi-step commands with conditions, approvals and timers (docs/workflows.md)"),
        (name = "operations", description = "Health, metrics, API description")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn openapi(State(app): State<App>) -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    if let Some(auth) = &app.caller_auth {
        require_bearer(&mut doc, &auth.settings().issuer);
    }
    Json(doc)
}

/// With caller authentication on: a `bearer` (JWT) security scheme, required by the routes
/// behind it, so that clients (and Swagger UI's "Authorize") know to send a token.
fn require_bearer(doc: &mut utoipa::openapi::OpenApi, issuer: &str) {
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(format!("An access token issued by {issuer}")))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    let required = || Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    for path in PROTECTED {
        if let Some(item) = doc.paths.paths.get_mut(*path) {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                operation.security = required();
            }
        }
    }
}

/// The security scheme's name in the document.
const BEARER: &str = "bearer";
/// The routes that need a caller's token when authentication is on (those
/// [`App::router`] puts behind the authentication layer).
const PROTECTED: &[&str] = &[
    "/execute",
    "/systems",
    "/workflows",
    "/workflow/start",
    "/workflow/runs",
    "/workflow/status/{id}",
    "/workflow/resume/{task_id}",
    "/workflow/{id}/cancel",
    "/tasks",
    "/tasks/{id}",
];
