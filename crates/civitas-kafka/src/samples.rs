//! Well-formed sample events for every crud topic, so the tools and the embedded broker can
//! be tried before any real system is configured (`civitas emit`), and for benchmarks.

use chrono::Utc;
use civitas_events::{
    MetricsData, OperationData, SecretData, UserContext, ValidationDetail, ValidationErrorData,
    WorkflowData,
};
use serde_json::json;

use crate::crud_events::{CrudEvents, EventContext};
use crate::error::KafkaError;

/// Events per correlation id: a request or workflow and what it caused.
const GROUP: usize = 4;

/// Publishes `count` sample events; every `GROUP` (4) consecutive events share a correlation
/// id. Returns the correlation ids used, in order.
pub fn emit(events: &CrudEvents, count: usize) -> Result<Vec<String>, KafkaError> {
    let mut correlation_ids = Vec::new();
    let mut ctx = EventContext::default();
    for i in 0..count {
        if i % GROUP == 0 {
            ctx = EventContext::correlated(uuid::Uuid::new_v4().to_string());
            ctx.user_context = Some(UserContext {
                unique_id: Some(format!("u-{}", 1000 + i / GROUP)),
                subject: Some(format!("auth:account:{}", 1000 + i / GROUP)),
                issuer: Some("https://idp.example.org/realms/civitas".to_owned()),
            });
            correlation_ids.extend(ctx.correlation_id.clone());
        }
        let n = i / GROUP;
        let user = format!("E{:06}", 100_000 + n);
        // Which kind of event this slot gets; the pattern covers every topic and outcome.
        match (n % 3, i % GROUP) {
            (0, 0) => workflow(events, &ctx, "STARTED", None)?,
            (0, 1) => secret(events, &ctx, true, false)?,
            (0, 2) => events.operation("create", &ctx, operation("create", &user, true)),
            (0, _) => workflow(events, &ctx, "COMPLETED", None)?,
            (1, 0) => events.operation("update", &ctx, operation("update", &user, false)),
            (1, 1) => events.validation_error(&ctx, validation_error())?,
            (1, 2) => secret(events, &ctx, false, true)?,
            (1, _) => workflow(events, &ctx, "FAILED", Some("step create_account failed"))?,
            (_, 0) => events.operation("read", &ctx, operation("read", &user, true)),
            (_, 1) => events.operation("list", &ctx, operation("list", &user, true)),
            (_, 2) => events.operation("delete", &ctx, operation("delete", &user, false)),
            (_, _) => events.metrics(&ctx, metrics(i))?,
        };
    }
    Ok(correlation_ids)
}

/// A seed-sized operation (about 600 bytes as an envelope), as the seed's example.
pub fn operation(action: &str, object_id: &str, success: bool) -> OperationData {
    let params = json!({
        "Password": "s3cret-Pa55",
        "Email": format!("{}@example.com", object_id.to_lowercase()),
        "FirstName": "John",
        "LastName": "Doe",
        "credentials": {"client_secret": "abc", "scope": "users"},
    });
    OperationData {
        operation: action.to_owned(),
        system: "entraid_contractors".to_owned(),
        object_type: "user".to_owned(),
        object_id: Some(object_id.to_owned()),
        params,
        result: success.then(|| json!({"id": object_id, "status": "active"})),
        error: (!success).then(|| match action {
            "delete" => "HTTP Error 404: user not found".to_owned(),
            _ => "Validation failed: missing field 'LastName'".to_owned(),
        }),
        success,
        timestamp: Utc::now(),
    }
}

fn validation_error() -> ValidationErrorData {
    ValidationErrorData {
        path: "/execute".to_owned(),
        errors: vec![ValidationDetail {
            kind: "missing".to_owned(),
            loc: vec![json!("body"), json!("system")],
            msg: "Field required".to_owned(),
            input: json!({"object_type": "user", "action": "create", "params": {"password": "x"}}),
        }],
        system: None,
        object_type: Some("user".to_owned()),
        action: Some("create".to_owned()),
        object_id: None,
    }
}

fn workflow(
    events: &CrudEvents,
    ctx: &EventContext,
    status: &str,
    error: Option<&str>,
) -> Result<String, KafkaError> {
    let data = WorkflowData {
        workflow_name: "onboard_contractor".to_owned(),
        step_name: Some("create_account".to_owned()),
        status: status.to_owned(),
        error: error.map(str::to_owned),
        metadata: json!({"requested_by": "hr-portal", "api_token": "t0k3n"}),
        started_by: Some("arn:civitas:user/hr-portal".to_owned()),
        timestamp: Utc::now(),
    };
    events.workflow(&status.to_lowercase(), ctx, data)
}

fn secret(
    events: &CrudEvents,
    ctx: &EventContext,
    success: bool,
    cached: bool,
) -> Result<String, KafkaError> {
    let data = SecretData {
        vault_type: "hashicorp".to_owned(),
        credential_id: "entraid_contractors/client_secret".to_owned(),
        success,
        error: (!success).then(|| "Vault strategy not found".to_owned()),
        cached,
        sampled: None,
        sample_every: None,
        timestamp: Utc::now(),
    };
    let event_type = match (success, cached) {
        (false, _) => "secret_error",
        (true, true) => "secret_cache_hit",
        (true, false) => "secret_retrieved",
    };
    events.secret(event_type, ctx, data)
}

fn metrics(i: usize) -> MetricsData {
    MetricsData {
        metric_type: "execute".to_owned(),
        window_seconds: 60,
        values: serde_json::json!({
            "requests": i * 10,
            "successes": i * 9,
            "failures": i,
            "latency_ms": {"p50": 2.5, "p95": 10.0, "p99": 25.0},
        }),
        timestamp: Utc::now(),
    }
}
