//! Golden tests: each envelope shape, built in Rust, serializes to the JSON the seed describes
//! (seed 000, "Event shapes and when they are emitted"), written here by hand.

use chrono::{DateTime, Utc};
use civitas_events::mask::MASK;
use civitas_events::{
    Envelope, Masker, MetricsData, OperationData, SecretData, UserContext, ValidationDetail,
    ValidationErrorData, WorkflowData,
};
use serde_json::{Value, json};

const EVENT_ID: &str = "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b";
const CORRELATION_ID: &str = "b1e5c2d4-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn user_context() -> UserContext {
    UserContext {
        unique_id: Some("u-1001".to_owned()),
        subject: Some("auth:account:1001".to_owned()),
        issuer: Some("https://idp.example.org/realms/civitas".to_owned()),
    }
}

fn envelope<D>(event_type: &str, data: D) -> Envelope<D> {
    Envelope {
        event_id: EVENT_ID.to_owned(),
        event_type: event_type.to_owned(),
        timestamp: at("2026-11-22T12:00:00.123456Z"),
        correlation_id: Some(CORRELATION_ID.to_owned()),
        service: "crud-service".to_owned(),
        trace_id: Some(TRACE_ID.to_owned()),
        span_id: Some(SPAN_ID.to_owned()),
        user_context: Some(user_context()),
        data,
    }
}

/// The envelope fields around `data`, as the seed's example writes them.
fn envelope_json(event_type: &str, data: Value) -> Value {
    json!({
        "event_id": EVENT_ID,
        "event_type": event_type,
        "timestamp": "2026-11-22T12:00:00.123456Z",
        "correlation_id": CORRELATION_ID,
        "service": "crud-service",
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "user_context": {
            "unique_id": "u-1001",
            "subject": "auth:account:1001",
            "issuer": "https://idp.example.org/realms/civitas"
        },
        "data": data
    })
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// The seed's "Example event (failure on `crud.operations`)", with concrete values where the
/// seed writes `...` (timestamps as civitas writes them: six fractional digits).
fn seed_failure_example() -> Value {
    json!({
        "event_id": "0d9f4c3e-2b1a-4f6e-9d8c-7b6a5f4e3d2c",
        "event_type": "update",
        "timestamp": "2026-11-22T12:00:00.250000Z",
        "correlation_id": "b1e5c2d4-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "service": "crud-service",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "user_context": {
            "unique_id": "5f2e8a10-c3d4-4b6a-9e1f-0a2b3c4d5e6f",
            "subject": "auth:account:5f2e8a10",
            "issuer": "https://idp.example.org/realms/civitas"
        },
        "data": {
            "operation": "update",
            "system": "entraid_contractors",
            "object_type": "user",
            "object_id": "E123456",
            "params": {"Password": "****MASKED****", "Email": "john@example.com"},
            "error": "Validation failed: missing field 'LastName'",
            "success": false,
            "timestamp": "2026-11-22T12:00:00.249000Z"
        }
    })
}

#[test]
fn the_seed_failure_example_reads_into_an_operation_envelope_and_writes_back_unchanged() {
    let example = seed_failure_example();
    let envelope: Envelope<OperationData> = serde_json::from_value(example.clone()).unwrap();

    assert_eq!(envelope.event_type, "update");
    assert_eq!(envelope.timestamp, at("2026-11-22T12:00:00.250000Z"));
    assert_eq!(
        envelope.user_context.as_ref().unwrap().subject.as_deref(),
        Some("auth:account:5f2e8a10")
    );
    assert!(!envelope.data.success);
    assert_eq!(envelope.data.result, None);
    assert_eq!(
        envelope.data.error.as_deref(),
        Some("Validation failed: missing field 'LastName'")
    );
    assert_eq!(envelope.data.params["Password"], MASK);

    assert_eq!(to_json(&envelope), example);
}

#[test]
fn the_seed_example_params_are_what_the_default_masker_makes_of_the_raw_params() {
    let raw = json!({"Password": "Sommer2026!", "Email": "john@example.com"});
    assert_eq!(
        Masker::default().masked(&raw),
        seed_failure_example()["data"]["params"]
    );
}

#[test]
fn an_operation_failure_has_an_error_and_no_result() {
    let data = OperationData {
        operation: "update".to_owned(),
        system: "entraid_contractors".to_owned(),
        object_type: "user".to_owned(),
        object_id: Some("E123456".to_owned()),
        params: Masker::default()
            .masked(&json!({"Password": "Sommer2026!", "Email": "john@example.com"})),
        result: None,
        error: Some("Validation failed: missing field 'LastName'".to_owned()),
        success: false,
        timestamp: at("2026-11-22T12:00:00.100000Z"),
    };
    let written = to_json(&envelope("update", data));
    assert_eq!(
        written,
        envelope_json(
            "update",
            json!({
                "operation": "update",
                "system": "entraid_contractors",
                "object_type": "user",
                "object_id": "E123456",
                "params": {"Password": "****MASKED****", "Email": "john@example.com"},
                "error": "Validation failed: missing field 'LastName'",
                "success": false,
                "timestamp": "2026-11-22T12:00:00.100000Z"
            })
        )
    );
    assert!(written["data"].get("result").is_none());
}

#[test]
fn an_operation_success_has_a_result_and_no_error() {
    let data = OperationData {
        operation: "create".to_owned(),
        system: "entraid_contractors".to_owned(),
        object_type: "user".to_owned(),
        object_id: Some("E123457".to_owned()),
        params: json!({"Email": "jane@example.com", "LastName": "Doe", "Password": MASK}),
        result: Some(json!({"id": "E123457", "status": "active"})),
        error: None,
        success: true,
        timestamp: at("2026-11-22T12:00:00Z"),
    };
    let written = to_json(&envelope("create", data.clone()));
    assert_eq!(
        written,
        envelope_json(
            "create",
            json!({
                "operation": "create",
                "system": "entraid_contractors",
                "object_type": "user",
                "object_id": "E123457",
                "params": {"Email": "jane@example.com", "LastName": "Doe", "Password": "****MASKED****"},
                "result": {"id": "E123457", "status": "active"},
                "success": true,
                "timestamp": "2026-11-22T12:00:00.000000Z"
            })
        )
    );
    assert!(written["data"].get("error").is_none());
    let read: Envelope<OperationData> = serde_json::from_value(written).unwrap();
    assert_eq!(read.data, data);
}

#[test]
fn an_operation_without_object_id_or_caller_context_writes_nulls() {
    let data = OperationData {
        operation: "list".to_owned(),
        system: "directory".to_owned(),
        object_type: "user".to_owned(),
        object_id: None,
        params: json!({}),
        result: Some(json!([])),
        error: None,
        success: true,
        timestamp: at("2026-11-22T12:00:00Z"),
    };
    let envelope = Envelope {
        correlation_id: None,
        trace_id: None,
        span_id: None,
        user_context: None,
        ..envelope("list", data)
    };
    let written = to_json(&envelope);
    assert_eq!(written["correlation_id"], Value::Null);
    assert_eq!(written["trace_id"], Value::Null);
    assert_eq!(written["span_id"], Value::Null);
    assert_eq!(written["user_context"], Value::Null);
    assert_eq!(written["data"]["object_id"], Value::Null);
    let read: Envelope<OperationData> = serde_json::from_value(written).unwrap();
    assert_eq!(read, envelope);
}

#[test]
fn a_validation_error_carries_fastapi_style_details() {
    let data = ValidationErrorData {
        path: "/execute".to_owned(),
        errors: vec![ValidationDetail {
            kind: "missing".to_owned(),
            loc: vec![json!("body"), json!("system")],
            msg: "Field required".to_owned(),
            input: Masker::default().masked(&json!({
                "object_type": "user",
                "action": "create",
                "params": {"password": "x"}
            })),
        }],
        system: None,
        object_type: Some("user".to_owned()),
        action: Some("create".to_owned()),
        object_id: None,
    };
    let envelope = Envelope {
        trace_id: None,
        span_id: None,
        user_context: None,
        ..envelope("validation_error", data)
    };
    assert_eq!(
        to_json(&envelope),
        json!({
            "event_id": EVENT_ID,
            "event_type": "validation_error",
            "timestamp": "2026-11-22T12:00:00.123456Z",
            "correlation_id": CORRELATION_ID,
            "service": "crud-service",
            "trace_id": null,
            "span_id": null,
            "user_context": null,
            "data": {
                "path": "/execute",
                "errors": [{
                    "type": "missing",
                    "loc": ["body", "system"],
                    "msg": "Field required",
                    "input": {
                        "object_type": "user",
                        "action": "create",
                        "params": {"password": "****MASKED****"}
                    }
                }],
                "system": null,
                "object_type": "user",
                "action": "create",
                "object_id": null
            }
        })
    );
}

#[test]
fn a_validation_detail_without_input_reads_as_null_input() {
    let detail: ValidationDetail = serde_json::from_value(json!({
        "type": "string_type",
        "loc": ["body", "params", 0],
        "msg": "Input should be a valid string"
    }))
    .unwrap();
    assert_eq!(detail.input, Value::Null);
    assert_eq!(detail.loc, [json!("body"), json!("params"), json!(0)]);
}

#[test]
fn a_failed_workflow_has_its_step_and_error() {
    let data = WorkflowData {
        workflow_name: "onboard_contractor".to_owned(),
        step_name: Some("create_account".to_owned()),
        status: "FAILED".to_owned(),
        error: Some("step create_account failed".to_owned()),
        metadata: json!({"requested_by": "hr-portal", "api_token": MASK}),
        started_by: Some("arn:civitas:user/hr-portal".to_owned()),
        timestamp: at("2026-11-22T12:00:05Z"),
    };
    assert_eq!(
        to_json(&envelope("failed", data)),
        envelope_json(
            "failed",
            json!({
                "workflow_name": "onboard_contractor",
                "step_name": "create_account",
                "status": "FAILED",
                "error": "step create_account failed",
                "metadata": {"requested_by": "hr-portal", "api_token": "****MASKED****"},
                "started_by": "arn:civitas:user/hr-portal",
                "timestamp": "2026-11-22T12:00:05.000000Z"
            })
        )
    );
}

#[test]
fn a_started_workflow_has_no_step_or_error_keys() {
    let data = WorkflowData {
        workflow_name: "onboard_contractor".to_owned(),
        step_name: None,
        status: "STARTED".to_owned(),
        error: None,
        metadata: json!({}),
        started_by: None,
        timestamp: at("2026-11-22T12:00:00Z"),
    };
    let written = to_json(&envelope("started", data.clone()));
    assert_eq!(
        written["data"],
        json!({
            "workflow_name": "onboard_contractor",
            "status": "STARTED",
            "metadata": {},
            "started_by": null,
            "timestamp": "2026-11-22T12:00:00.000000Z"
        })
    );
    let read: Envelope<WorkflowData> = serde_json::from_value(written).unwrap();
    assert_eq!(read.data, data);
}

#[test]
fn a_secret_error_names_the_credential_but_no_secret_value() {
    let data = SecretData {
        vault_type: "hashicorp".to_owned(),
        credential_id: "entraid_contractors/client_secret".to_owned(),
        success: false,
        error: Some("Vault strategy not found".to_owned()),
        cached: false,
        sampled: None,
        sample_every: None,
        timestamp: at("2026-11-22T12:00:00Z"),
    };
    let written = to_json(&envelope("secret_error", data));
    assert_eq!(
        written,
        envelope_json(
            "secret_error",
            json!({
                "vault_type": "hashicorp",
                "credential_id": "entraid_contractors/client_secret",
                "success": false,
                "error": "Vault strategy not found",
                "cached": false,
                "timestamp": "2026-11-22T12:00:00.000000Z"
            })
        )
    );
    // "credential_id is included as-is": the default masker leaves it alone.
    assert_eq!(Masker::default().masked(&written), written);
}

#[test]
fn a_secret_cache_hit_has_no_error_key() {
    let data = SecretData {
        vault_type: "hashicorp".to_owned(),
        credential_id: "entraid_contractors/client_secret".to_owned(),
        success: true,
        error: None,
        cached: true,
        sampled: None,
        sample_every: None,
        timestamp: at("2026-11-22T12:00:00Z"),
    };
    assert_eq!(
        to_json(&envelope("secret_cache_hit", data))["data"],
        json!({
            "vault_type": "hashicorp",
            "credential_id": "entraid_contractors/client_secret",
            "success": true,
            "cached": true,
            "timestamp": "2026-11-22T12:00:00.000000Z"
        })
    );
}

#[test]
fn a_metrics_snapshot_carries_its_type_window_and_values() {
    let values = json!({
        "requests": 120,
        "failures": 3,
        "latency_ms": {"p50": 2.5, "p95": 10.0, "p99": 25.0},
    });
    let data = MetricsData {
        metric_type: "execute".to_owned(),
        window_seconds: 60,
        values: values.clone(),
        timestamp: at("2026-11-22T12:01:00Z"),
    };
    let written = to_json(&envelope("metrics", data.clone()));
    assert_eq!(
        written,
        envelope_json(
            "metrics",
            json!({
                "metric_type": "execute",
                "window_seconds": 60,
                "values": values,
                "timestamp": "2026-11-22T12:01:00.000000Z"
            })
        )
    );
    let read: Envelope<MetricsData> = serde_json::from_value(written).unwrap();
    assert_eq!(read.data, data);
}

#[test]
fn a_user_context_writes_only_the_fields_it_has() {
    let context = UserContext {
        subject: Some("auth:account:1001".to_owned()),
        ..UserContext::default()
    };
    assert_eq!(to_json(&context), json!({"subject": "auth:account:1001"}));
}
