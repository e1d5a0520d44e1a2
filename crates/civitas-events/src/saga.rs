//! The messages of the dataset-provisioning saga (seed 003, "Saga / Orchestrator Topics";
//! docs/saga.md).
//!
//! Every value is camelCase JSON (the portal backend is Java) and travels with CloudEvents
//! binary-mode headers; `ce_id` is the message's `messageId`, `ce_type` the topic name,
//! `ce_subject` the dataset id.
//!
//! | topic (prefix `core.civitas`) | value |
//! |---|---|
//! | `dataset.create.requested` | [`DatasetCreateRequested`] |
//! | `frost.project.create` / `.delete` | [`FrostProjectCreate`] / [`FrostProjectDelete`] |
//! | `apisix.route.create` / `.delete` | [`ApisixRouteCreate`] / [`ApisixRouteDelete`] |
//! | `frost.project.result`, `apisix.route.result` | [`StepResult`] |
//! | `dataset.create.completed` / `.failed` | [`DatasetCreateCompleted`] / [`DatasetCreateFailed`] |
//! | `dataset.create.intervention` | [`InterventionRequired`] |
//! | `*.deadletter` | [`DeadLetter`] |
//!
//! Readers ignore fields they do not know, so producers may add fields without breaking them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::error_code::AdapterErrorCode;

/// One API of a dataset, published through APISIX at `/v1/datasets/<datasetId>/<slug>`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetApi {
    /// Lowercase letters, digits and `-`, e.g. `sensorthings`.
    pub slug: String,
    /// Absolute http(s) URL the route forwards to, e.g. `http://frost:8080/FROST-Server/v1.1`.
    pub upstream_url: String,
}

/// `dataset.create.requested`: the portal asks for a dataset to be provisioned.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetCreateRequested {
    /// Unique per request; a redelivery carries the same id.
    pub message_id: String,
    /// The dataset; one saga per dataset id, ever (a second request is a duplicate).
    pub dataset_id: String,
    /// Human name; the FROST project is called `"<name> (<datasetId>)"`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The APIs to route; none means the APISIX step is skipped.
    #[serde(default)]
    pub apis: Vec<DatasetApi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl DatasetCreateRequested {
    /// What is wrong with the request, one sentence per problem; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.message_id.trim().is_empty() {
            problems.push("messageId must not be empty".to_owned());
        }
        if self.dataset_id.trim().is_empty() {
            problems.push("datasetId must not be empty".to_owned());
        } else if !self
            .dataset_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            problems.push(format!(
                "datasetId {:?} may only contain letters, digits, '-', '_' and '.'",
                self.dataset_id
            ));
        }
        if self.name.trim().is_empty() {
            problems.push("name must not be empty".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for api in &self.apis {
            if api.slug.is_empty()
                || !api
                    .slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                problems.push(format!(
                    "api slug {:?} must be lowercase letters, digits and '-'",
                    api.slug
                ));
            }
            if !seen.insert(api.slug.as_str()) {
                problems.push(format!("api slug {:?} is given twice", api.slug));
            }
            let url = api.upstream_url.as_str();
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                problems.push(format!(
                    "api {:?}: upstreamUrl {url:?} must be an absolute http(s) URL",
                    api.slug
                ));
            }
        }
        problems
    }
}

/// `frost.project.create`: find or create the FROST project of a dataset.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FrostProjectCreate {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    pub dataset_id: String,
    /// The dataset's name; the project is named `"<name> (<datasetId>)"`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FrostProjectCreate {
    /// The FROST project's name: `"<name> (<datasetId>)"`.
    pub fn project_name(&self) -> String {
        format!("{} ({})", self.name, self.dataset_id)
    }
}

/// `frost.project.delete`: compensation; delete a project this saga created.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FrostProjectDelete {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    pub dataset_id: String,
    pub project_id: String,
}

/// `apisix.route.create`: one upstream and one route per API of the dataset.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApisixRouteCreate {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    pub dataset_id: String,
    pub apis: Vec<DatasetApi>,
    /// The FROST project created by the previous step, written into the routes' labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frost_project_id: Option<String>,
}

/// `apisix.route.delete`: compensation; delete routes and then their upstreams.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApisixRouteDelete {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    pub dataset_id: String,
    #[serde(default)]
    pub route_ids: Vec<String>,
    #[serde(default)]
    pub upstream_ids: Vec<String>,
}

/// Which command a [`StepResult`] answers.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepOperation {
    /// The step's own command (`*.create`).
    Create,
    /// Its compensation (`*.delete`).
    Delete,
}

/// `SUCCESS` or `FAILURE`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultStatus {
    Success,
    Failure,
}

/// Why a step failed.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepError {
    /// A number of the platform's table, [`AdapterErrorCode`].
    pub code: u16,
    /// Starts with `NAME(code): `, e.g. `FROST_ENTITY_ERROR(3201): create project: HTTP 400 …`.
    pub message: String,
}

impl StepError {
    /// An error with `code`; the message is prefixed with `NAME(code): ` unless it already
    /// starts with it.
    pub fn new(code: AdapterErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let label = code.to_string();
        Self {
            code: code.code(),
            message: if message.starts_with(&label) {
                message
            } else {
                format!("{label}: {message}")
            },
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something a step made (or found) in an outside system.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `frost-project`, `apisix-upstream`, `apisix-route`, …
    pub kind: String,
    pub id: String,
    /// Where to reach it (project self link, public route URL), when it has an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether this saga created it. Only created resources are ever deleted by compensation.
    pub created: bool,
}

/// `frost.project.result`, `apisix.route.result`: the answer to a command or a compensation.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub message_id: String,
    pub saga_id: String,
    pub step_id: String,
    /// `messageId` of the command answered.
    pub command_id: String,
    pub operation: StepOperation,
    pub status: ResultStatus,
    /// The main resource's id (project id; for APISIX the first route id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// On success what exists now; on a failed create what was made before the failure.
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// HTTP tries the adapter made (1 without retries).
    #[serde(default)]
    pub attempts: u32,
    /// The adapter did not call the outside system (dry-run mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `dataset.create.completed`: every step succeeded.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetCreateCompleted {
    pub message_id: String,
    pub saga_id: String,
    pub dataset_id: String,
    /// `messageId` of the request that started the saga.
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frost_project_id: Option<String>,
    /// The FROST project's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frost_project_url: Option<String>,
    #[serde(default)]
    pub route_ids: Vec<String>,
    /// Public gateway URLs of the dataset's APIs.
    #[serde(default)]
    pub public_urls: Vec<String>,
    /// Everything provisioned, of every step.
    #[serde(default)]
    pub resources: Vec<Resource>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub duration_ms: i64,
}

/// How a failed saga ended.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailedStatus {
    /// Earlier steps were undone.
    Compensated,
    /// At least one undo failed; see `staleResources` and the intervention record.
    CompensationFailed,
    /// Failed before anything was created; nothing to undo.
    Failed,
}

/// `dataset.create.failed`: a step failed (or timed out); what was cleaned, what is stale.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetCreateFailed {
    pub message_id: String,
    pub saga_id: String,
    pub dataset_id: String,
    pub request_id: String,
    pub status: FailedStatus,
    /// The step whose failure ended the saga, e.g. `apisix-route`.
    pub failed_step: String,
    pub error: StepError,
    /// Created resources that compensation removed.
    #[serde(default)]
    pub cleaned_resources: Vec<Resource>,
    /// Created resources still there (their compensation failed): an operator must act.
    #[serde(default)]
    pub stale_resources: Vec<Resource>,
    /// Resources the saga found and reused; they are never deleted.
    #[serde(default)]
    pub kept_resources: Vec<Resource>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
}

/// One step's error, for an intervention record.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepFailure {
    pub step_id: String,
    pub error: StepError,
}

/// `dataset.create.intervention`: resources left behind that an operator must remove.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InterventionRequired {
    pub message_id: String,
    pub saga_id: String,
    pub dataset_id: String,
    /// What happened, in one sentence.
    pub reason: String,
    pub stale_resources: Vec<Resource>,
    #[serde(default)]
    pub errors: Vec<StepFailure>,
    pub created_at: DateTime<Utc>,
}

/// `*.deadletter`: a record that could not be processed, with the reason. It is not retried.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message_id: String,
    /// The component that gave up on it, e.g. `frost-adapter`.
    pub component: String,
    pub reason: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The original value (lossy UTF-8).
    pub payload: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub received_at: DateTime<Utc>,
}

/// Size limits of every saga message (commands, results, requests), applied by field name
/// when a message is read, so that no field can fail the saga store (PostgreSQL refuses
/// index entries over ~2 700 bytes) or flood a log. A message over a limit goes to the
/// dead-letter topic with [`AdapterErrorCode::InvalidPayload`].
///
/// Unknown fields are not kept, so they are not limited either.
///
/// | field | limit |
/// |---|---|
/// | ids: `id`, a name ending in `Id` or `Ids` (each item), `slug`, `kind`, `component` | 255 characters |
/// | names: `name`, `requestedBy`, `reason` | 1 000 characters |
/// | URLs: a name ending in `Url`/`url`, `selfLink` | 2 048 characters |
/// | any other string (`description`, `message`, …) | 10 000 characters |
/// | any list (`apis`, `routeIds`, `resources`, …) | 100 items |
/// | nesting | 16 levels |
pub mod limits {
    use serde_json::Value;

    pub const ID_CHARS: usize = 255;
    pub const NAME_CHARS: usize = 1_000;
    pub const URL_CHARS: usize = 2_048;
    pub const TEXT_CHARS: usize = 10_000;
    pub const LIST_ITEMS: usize = 100;
    pub const DEPTH: usize = 16;

    /// The limit of a string field called `key`.
    pub fn chars_for(key: &str) -> usize {
        if key == "id"
            || key.ends_with("Id")
            || key.ends_with("Ids")
            || matches!(key, "slug" | "kind" | "component")
        {
            ID_CHARS
        } else if matches!(key, "name" | "requestedBy" | "reason") {
            NAME_CHARS
        } else if key.ends_with("Url") || key == "url" || key == "selfLink" {
            URL_CHARS
        } else {
            TEXT_CHARS
        }
    }

    /// The first field of `value` over its limit, as `path: what`.
    pub fn check(value: &Value) -> Result<(), String> {
        walk(value, "", "$", 0)
    }

    fn walk(value: &Value, key: &str, path: &str, depth: usize) -> Result<(), String> {
        if depth > DEPTH {
            return Err(format!("{path}: nested deeper than {DEPTH} levels"));
        }
        match value {
            Value::String(text) => {
                let limit = chars_for(key);
                let chars = text.chars().count();
                if chars > limit {
                    return Err(format!(
                        "{path}: {chars} characters, at most {limit} allowed"
                    ));
                }
            }
            Value::Array(items) => {
                if items.len() > LIST_ITEMS {
                    return Err(format!(
                        "{path}: {} items, at most {LIST_ITEMS} allowed",
                        items.len()
                    ));
                }
                for (index, item) in items.iter().enumerate() {
                    walk(item, key, &format!("{path}[{index}]"), depth + 1)?;
                }
            }
            Value::Object(fields) => {
                if fields.len() > LIST_ITEMS {
                    return Err(format!(
                        "{path}: {} fields, at most {LIST_ITEMS} allowed",
                        fields.len()
                    ));
                }
                for (name, item) in fields {
                    let limit = chars_for(name).max(ID_CHARS);
                    if name.chars().count() > limit {
                        return Err(format!("{path}: a field name is too long"));
                    }
                    walk(item, name, &format!("{path}.{name}"), depth + 1)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }
}

/// Reads a saga message (`what`, e.g. `frost.project.create command`): JSON of type `T`
/// whose every field is within [`limits`]. `Err` is the dead letter's reason: `not a
/// <what>: …`, or `INVALID_PAYLOAD(1001): …` for a field over its limit.
pub fn decode<T: serde::de::DeserializeOwned + Serialize>(
    payload: &[u8],
    what: &str,
) -> Result<T, String> {
    // serde also reads a struct from a JSON array, by position (found by the saga_messages
    // fuzz target); a message is an object.
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(format!("not a {what}: the message must be a JSON object"));
    }
    let typed: T = serde_json::from_slice(payload).map_err(|e| format!("not a {what}: {e}"))?;
    // The limits go by field name, so they are checked on the message as read: what it holds
    // and what the store will keep (unknown fields are dropped), whatever shape it came in.
    let named = serde_json::to_value(&typed).map_err(|e| format!("not a {what}: {e}"))?;
    limits::check(&named)
        .map_err(|reason| format!("{}: {what}: {reason}", AdapterErrorCode::InvalidPayload))?;
    Ok(typed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> DatasetCreateRequested {
        DatasetCreateRequested {
            message_id: "m-1".into(),
            dataset_id: "ds-1".into(),
            name: "Luftqualitaet".into(),
            description: None,
            apis: vec![DatasetApi {
                slug: "sensorthings".into(),
                upstream_url: "http://frost:8080/FROST-Server/v1.1".into(),
            }],
            requested_by: None,
        }
    }

    #[test]
    fn a_request_is_camel_case_json_and_reads_back() {
        let value = serde_json::to_value(request()).unwrap();
        assert_eq!(
            value,
            json!({"messageId":"m-1","datasetId":"ds-1","name":"Luftqualitaet",
                   "apis":[{"slug":"sensorthings","upstreamUrl":"http://frost:8080/FROST-Server/v1.1"}]})
        );
        let back: DatasetCreateRequested = serde_json::from_value(value).unwrap();
        assert_eq!(back, request());
    }

    #[test]
    fn a_request_without_apis_and_with_unknown_fields_is_read() {
        let back: DatasetCreateRequested = serde_json::from_value(
            json!({"messageId":"m","datasetId":"d","name":"n","portalVersion":"7"}),
        )
        .unwrap();
        assert!(back.apis.is_empty());
    }

    #[test]
    fn a_valid_request_has_no_problems() {
        assert!(request().problems().is_empty());
    }

    #[test]
    fn each_problem_of_an_invalid_request_is_named() {
        let mut bad = request();
        bad.dataset_id = "ds 1".into();
        bad.name = " ".into();
        bad.apis.push(DatasetApi {
            slug: "Bad_Slug".into(),
            upstream_url: "ftp://x".into(),
        });
        bad.apis.push(bad.apis[0].clone());
        let problems = bad.problems().join("\n");
        assert!(problems.contains("datasetId \"ds 1\""), "{problems}");
        assert!(problems.contains("name must not be empty"), "{problems}");
        assert!(
            problems.contains("\"Bad_Slug\" must be lowercase"),
            "{problems}"
        );
        assert!(problems.contains("upstreamUrl \"ftp://x\""), "{problems}");
        assert!(
            problems.contains("\"sensorthings\" is given twice"),
            "{problems}"
        );
    }

    #[test]
    fn the_frost_project_name_is_name_and_dataset_id_in_parentheses() {
        let command = FrostProjectCreate {
            message_id: "c".into(),
            saga_id: "s".into(),
            step_id: "frost-project".into(),
            dataset_id: "ds-1".into(),
            name: "Luftqualitaet".into(),
            description: None,
        };
        assert_eq!(command.project_name(), "Luftqualitaet (ds-1)");
    }

    #[test]
    fn result_status_and_operation_are_upper_case() {
        let result = StepResult {
            message_id: "r".into(),
            saga_id: "s".into(),
            step_id: "frost-project".into(),
            command_id: "c".into(),
            operation: StepOperation::Create,
            status: ResultStatus::Failure,
            resource_id: None,
            resources: vec![],
            error: Some(StepError::new(
                AdapterErrorCode::ServiceUnavailable,
                "HTTP 500",
            )),
            attempts: 3,
            dry_run: false,
        };
        let value = serde_json::to_value(&result).unwrap();
        assert_eq!(value["operation"], "CREATE");
        assert_eq!(value["status"], "FAILURE");
        // 5xx is the platform's SERVICE_UNAVAILABLE (2002), named in the message.
        assert_eq!(value["error"]["code"], 2002);
        assert_eq!(
            value["error"]["message"],
            "SERVICE_UNAVAILABLE(2002): HTTP 500"
        );
        assert!(value.get("dryRun").is_none());
    }

    #[test]
    fn a_field_over_its_limit_is_an_invalid_command_naming_the_field() {
        let long_id = "m".repeat(4_000);
        let payload = serde_json::json!({"messageId": long_id, "datasetId": "ds", "name": "n"});
        let err = decode::<DatasetCreateRequested>(
            payload.to_string().as_bytes(),
            "dataset.create.requested",
        )
        .unwrap_err();
        assert!(err.starts_with("INVALID_PAYLOAD(1001)"), "{err}");
        assert!(
            err.contains("$.messageId: 4000 characters, at most 255"),
            "{err}"
        );
        let apis: Vec<_> = (0..101)
            .map(|n| serde_json::json!({"slug": format!("a{n}"), "upstreamUrl": "http://x"}))
            .collect();
        let payload =
            serde_json::json!({"messageId": "m", "datasetId": "ds", "name": "n", "apis": apis});
        let err =
            decode::<DatasetCreateRequested>(payload.to_string().as_bytes(), "x").unwrap_err();
        assert!(err.contains("$.apis: 101 items"), "{err}");
        let positional = serde_json::json!(["m".repeat(4_000), "ds", "n"]);
        let err =
            decode::<DatasetCreateRequested>(positional.to_string().as_bytes(), "x").unwrap_err();
        assert!(err.contains("must be a JSON object"), "{err}");
        let nested = serde_json::json!({"messageId": "m", "datasetId": "ds", "name": "n",
            "apis": [["s".repeat(1_000), "http://x"]]});
        let err = decode::<DatasetCreateRequested>(nested.to_string().as_bytes(), "x").unwrap_err();
        assert!(err.contains("$.apis[0].slug"), "{err}");
        let ok =
            serde_json::json!({"messageId": "m", "datasetId": "ds", "name": "n".repeat(1_000)});
        assert!(decode::<DatasetCreateRequested>(ok.to_string().as_bytes(), "x").is_ok());
    }

    #[test]
    fn failed_status_is_written_as_the_seed_names_it() {
        assert_eq!(
            serde_json::to_value(FailedStatus::CompensationFailed).unwrap(),
            "COMPENSATION_FAILED"
        );
    }

    #[test]
    fn only_2xxx_codes_are_retryable() {
        assert!(AdapterErrorCode::ServiceUnavailable.is_retryable());
        assert!(!AdapterErrorCode::FrostEntityError.is_retryable());
        assert!(!AdapterErrorCode::FrostAmbiguousProject.is_retryable());
    }

    #[test]
    fn every_message_has_a_json_schema() {
        let schema = schemars::schema_for!(DatasetCreateFailed);
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.contains("staleResources"));
    }
}
