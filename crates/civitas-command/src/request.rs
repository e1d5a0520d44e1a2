//! The `/execute` request body and its validation, FastAPI-style.
//!
//! The body is checked from its raw bytes, so that every problem is reported at once and in
//! the shape FastAPI (pydantic v2) gives it — the shape the seed's `crud.errors` events carry:
//!
//! | problem | `type` | `loc` | `msg` |
//! |---|---|---|---|
//! | not JSON | `json_invalid` | `["body", <char position>]` | `JSON decode error` (+ `ctx.error`) |
//! | empty body | `missing` | `["body"]` | `Field required` |
//! | not an object / not JSON content | `model_attributes_type` | `["body"]` | `Input should be a valid dictionary or object to extract fields from` |
//! | field absent | `missing` | `["body", field]` | `Field required` |
//! | not a string | `string_type` | `["body", field]` | `Input should be a valid string` |
//! | `params` not an object | `dict_type` | `["body", "params"]` | `Input should be a valid dictionary` |
//!
//! Unknown fields are ignored, as FastAPI does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// A valid `/execute` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecuteRequest {
    /// A configured system, e.g. `local`.
    pub system: String,
    /// An object type of the system's type, e.g. `user`.
    pub object_type: String,
    /// A command of the object type, e.g. `create`.
    pub action: String,
    /// The command's parameters.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// The object acted on (read, update, delete and their kin).
    #[serde(default)]
    pub object_id: Option<String>,
}

/// One FastAPI validation detail, as the 422 response carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `"body"`, then field names (strings) or positions (integers).
    #[schema(value_type = Vec<serde_json::Value>)]
    pub loc: Vec<Value>,
    pub msg: String,
    /// The offending input: any JSON value.
    #[schema(value_type = serde_json::Value)]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

/// What could be read of an invalid body, for the `validation_error` event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    pub system: Option<String>,
    pub object_type: Option<String>,
    pub action: Option<String>,
    pub object_id: Option<String>,
}

/// An invalid body: every issue, and what could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub issues: Vec<ValidationIssue>,
    pub partial: Partial,
}

const FIELDS: [&str; 5] = ["system", "object_type", "action", "params", "object_id"];

/// Validates a JSON body (the CRUD API checked the content type before).
pub fn parse(body: &[u8]) -> Result<ExecuteRequest, Invalid> {
    let invalid = |issue: ValidationIssue| Invalid {
        issues: vec![issue],
        partial: Partial::default(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(issue(
            "missing",
            vec![json!("body")],
            "Field required",
            Value::Null,
        )));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            let position = char_position(body, e.line(), e.column());
            return Err(invalid(ValidationIssue {
                kind: "json_invalid".into(),
                loc: vec![json!("body"), json!(position)],
                msg: "JSON decode error".into(),
                input: json!({}),
                ctx: Some(json!({"error": json_error_reason(&e)})),
            }));
        }
    };
    let Value::Object(fields) = value else {
        return Err(invalid(not_an_object(value)));
    };
    let partial = Partial {
        system: string_field(&fields, "system"),
        object_type: string_field(&fields, "object_type"),
        action: string_field(&fields, "action"),
        object_id: string_field(&fields, "object_id"),
    };
    let mut issues = Vec::new();
    for field in FIELDS {
        let loc = vec![json!("body"), json!(field)];
        match (field, fields.get(field)) {
            ("object_id", None | Some(Value::Null)) => {}
            (_, None) => issues.push(issue(
                "missing",
                loc,
                "Field required",
                Value::Object(fields.clone()),
            )),
            ("params", Some(Value::Object(_))) => {}
            ("params", Some(other)) => issues.push(issue(
                "dict_type",
                loc,
                "Input should be a valid dictionary",
                other.clone(),
            )),
            (_, Some(Value::String(_))) => {}
            (_, Some(other)) => issues.push(issue(
                "string_type",
                loc,
                "Input should be a valid string",
                other.clone(),
            )),
        }
    }
    if !issues.is_empty() {
        return Err(Invalid { issues, partial });
    }
    let text = |name: &str| string_field(&fields, name).unwrap_or_default();
    let params = match fields.get("params") {
        Some(Value::Object(params)) => params.clone(),
        _ => Map::new(),
    };
    Ok(ExecuteRequest {
        system: text("system"),
        object_type: text("object_type"),
        action: text("action"),
        params,
        object_id: partial.object_id,
    })
}

fn issue(kind: &str, loc: Vec<Value>, msg: &str, input: Value) -> ValidationIssue {
    ValidationIssue {
        kind: kind.into(),
        loc,
        msg: msg.into(),
        input,
        ctx: None,
    }
}

fn not_an_object(input: Value) -> ValidationIssue {
    issue(
        "model_attributes_type",
        vec![json!("body")],
        "Input should be a valid dictionary or object to extract fields from",
        input,
    )
}

fn string_field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    fields.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The 0-based character position of serde_json's 1-based line and column.
fn char_position(body: &[u8], line: usize, column: usize) -> usize {
    let text = String::from_utf8_lossy(body);
    let mut position = 0;
    for (index, text_line) in text.split('\n').enumerate() {
        if index + 1 == line {
            return position + column.saturating_sub(1).min(text_line.chars().count());
        }
        position += text_line.chars().count() + 1;
    }
    position.saturating_sub(1)
}

/// serde_json's message without its " at line L column C" suffix.
fn json_error_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(body: &str) -> Result<ExecuteRequest, Invalid> {
        parse(body.as_bytes())
    }

    #[test]
    fn a_complete_body_is_read() {
        let request = parse_json(
            r#"{"system":"local","object_type":"user","action":"read","params":{},"object_id":"max"}"#,
        )
        .unwrap();
        assert_eq!(request.system, "local");
        assert_eq!(request.object_id.as_deref(), Some("max"));
    }

    #[test]
    fn a_missing_field_is_reported_like_fastapi() {
        let invalid =
            parse_json(r#"{"object_type":"user","action":"create","params":{"password":"x"}}"#)
                .unwrap_err();
        assert_eq!(invalid.issues.len(), 1);
        let detail = serde_json::to_value(&invalid.issues[0]).unwrap();
        assert_eq!(detail["type"], "missing");
        assert_eq!(detail["loc"], json!(["body", "system"]));
        assert_eq!(detail["msg"], "Field required");
        assert_eq!(detail["input"]["object_type"], "user");
        assert_eq!(invalid.partial.action.as_deref(), Some("create"));
        assert_eq!(invalid.partial.system, None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let invalid =
            parse_json(r#"{"system":1,"action":"x","params":[],"object_id":5}"#).unwrap_err();
        let kinds: Vec<(String, Value)> = invalid
            .issues
            .iter()
            .map(|i| (i.kind.clone(), i.loc[1].clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("string_type".into(), json!("system")),
                ("missing".into(), json!("object_type")),
                ("dict_type".into(), json!("params")),
                ("string_type".into(), json!("object_id")),
            ]
        );
        assert_eq!(invalid.issues[0].msg, "Input should be a valid string");
        assert_eq!(invalid.issues[2].msg, "Input should be a valid dictionary");
    }

    #[test]
    fn malformed_json_is_json_invalid_with_its_position() {
        let invalid = parse_json("{\"system\": }").unwrap_err();
        let issue = &invalid.issues[0];
        assert_eq!(issue.kind, "json_invalid");
        assert_eq!(issue.loc, vec![json!("body"), json!(11)]);
        assert_eq!(issue.msg, "JSON decode error");
        assert_eq!(issue.input, json!({}));
        assert!(
            issue.ctx.as_ref().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("expected value")
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_or_empty_is_refused() {
        let invalid = parse_json("[1,2]").unwrap_err();
        assert_eq!(invalid.issues[0].kind, "model_attributes_type");
        assert_eq!(invalid.issues[0].input, json!([1, 2]));
        let invalid = parse_json("  ").unwrap_err();
        assert_eq!(invalid.issues[0].kind, "missing");
        assert_eq!(invalid.issues[0].loc, vec![json!("body")]);
    }

    #[test]
    fn a_null_object_id_is_absent() {
        let request = parse_json(
            r#"{"system":"s","object_type":"o","action":"a","params":{},"object_id":null}"#,
        )
        .unwrap();
        assert_eq!(request.object_id, None);
    }
}
