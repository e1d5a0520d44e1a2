//! The CRUD service's event envelope (seed 000), field names exactly as the seed spells them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope every record on the `crud.*` topics carries as its value.
///
/// `event_type` depends on the topic: the command's kind on `crud.operations`
/// (create/read/update/delete/list), `validation_error` on `crud.errors`, the
/// workflow transition on `crud.workflows`, the secret event on `crud.secrets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<D> {
    pub event_id: String,
    pub event_type: String,
    #[serde(with = "crate::time::micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
    pub correlation_id: Option<String>,
    pub service: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub user_context: Option<UserContext>,
    pub data: D,
}

/// Who asked, when the caller was authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// `data` of a `crud.operations` event: one per executed command, success or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OperationData {
    /// The action name, e.g. `create` or `lock`.
    pub operation: String,
    pub system: String,
    pub object_type: String,
    pub object_id: Option<String>,
    /// The command's parameters, masked.
    pub params: Value,
    /// Present on success only (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Present on failure only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub success: bool,
    #[serde(with = "crate::time::micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
}

/// One FastAPI-style validation detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationDetail {
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the problem is, e.g. `["body", "system"]`.
    pub loc: Vec<Value>,
    pub msg: String,
    /// The offending input, masked.
    #[serde(default)]
    pub input: Value,
}

/// `data` of a `validation_error` event on `crud.errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValidationErrorData {
    pub path: String,
    pub errors: Vec<ValidationDetail>,
    pub system: Option<String>,
    pub object_type: Option<String>,
    pub action: Option<String>,
    pub object_id: Option<String>,
}

/// `data` of a `crud.workflows` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowData {
    pub workflow_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    /// STARTED, COMPLETED, FAILED or WAITING.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub metadata: Value,
    pub started_by: Option<String>,
    #[serde(with = "crate::time::micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
}

/// `data` of a `crud.secrets` / `crud.secrets.audit` event. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SecretData {
    pub vault_type: String,
    pub credential_id: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cached: bool,
    /// On a cache hit: `true` — hits are sampled, one in `sample_every` is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_every: Option<u64>,
    #[serde(with = "crate::time::micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
}

/// `data` of a `crud.metrics` snapshot (`event_type` `metrics`, key = `metric_type`): the
/// figures of one part of the service over a window (docs/operations.md lists every field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricsData {
    /// What the snapshot covers: `execute`, `connector`, `publisher`, `workflow`, `secrets`.
    pub metric_type: String,
    /// Length of the window the counts cover, in seconds (since the previous snapshot).
    pub window_seconds: u64,
    /// The figures: counts within the window, gauges as they are at `timestamp`.
    pub values: serde_json::Value,
    #[serde(with = "crate::time::micros")]
    #[schemars(with = "DateTime<Utc>")]
    pub timestamp: DateTime<Utc>,
}
