//! `GET /openapi.json`: the OpenAPI 3 document, generated from the handlers and types.

use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::request::{ExecuteRequest, ValidationIssue};
use crate::routes::execute::ExecuteResponse;
use crate::routes::health::{EventsHealth, Health};
use crate::routes::systems::{ActionInfo, ObjectInfo, SystemInfo, SystemsResponse};

/// `{"detail": "…", "correlation_id": "…"}`: 400, 404, 409, 413, 503, 500.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetailBody {
    pub detail: String,
    pub correlation_id: Option<String>,
}

/// 422: FastAPI's validation detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationBody {
    pub detail: Vec<ValidationIssue>,
    pub correlation_id: Option<String>,
}

/// 502: `{"error": "HTTP Error <code>", "upstream": {"url", "detail"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamBody {
    /// `HTTP Error <code>` or `Upstream unreachable`.
    pub error: String,
    pub upstream: UpstreamInfo,
    pub correlation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamInfo {
    pub url: String,
    /// The system's answer (JSON, or text).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "civitas CRUD service",
        description = "Runs create/read/update/delete/list commands against configured systems and publishes an audit event for each (seed 000)."
    ),
    paths(
        crate::routes::execute::execute,
        crate::routes::systems::systems,
        crate::routes::health::health,
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
    )),
    tags(
        (name = "crud", description = "Commands against systems"),
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
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
