//! How a consumed record is shown to a person: one JSON object a line, or one readable line
//! (`time  topic[p]@offset  event_type  corr=…  summary`), as `civitas tail` and `trace` print
//! it (and the console will).
//!
//! The value is masked first with the default patterns, whoever produced it: a sink masks
//! too (seed 000, "Masking and PII"), so a secret a foreign producer let through is not
//! shown. Control characters are escaped: a value from a record must not drive a terminal.

use std::sync::LazyLock;

use civitas_events::Masker;
use serde_json::Value;

use crate::reader::ConsumedRecord;

/// The record as one line: masked, control characters escaped; JSON with `json`.
pub fn render_record(record: &ConsumedRecord, json: bool) -> String {
    let record = masked(record);
    let line = if json {
        record.to_json().to_string()
    } else {
        human_line(&record)
    };
    escape_controls(&line)
}

/// A copy of the record with its value masked by the default patterns.
pub fn masked(record: &ConsumedRecord) -> ConsumedRecord {
    static MASKER: LazyLock<Masker> = LazyLock::new(Masker::default);
    let mut record = record.clone();
    MASKER.mask_in_place(&mut record.value);
    record
}

/// Control characters, and the bidirectional overrides and isolates that reorder what a
/// terminal shows (U+202A–U+202E, U+2066–U+2069).
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The line with every control character (ANSI/OSC escapes, C1 codes, DEL, newlines, bidi
/// overrides)
/// written as `\uXXXX`: a value from a record must not drive the operator's terminal. In
/// JSON output these can only sit inside strings, so the line stays valid JSON.
pub fn escape_controls(line: &str) -> String {
    if !line.chars().any(needs_escape) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `time  topic[p]@offset  event_type  correlation  summary`.
pub fn human_line(record: &ConsumedRecord) -> String {
    let time = record
        .timestamp
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".to_owned());
    let v = &record.value;
    let event_type = v
        .get("event_type")
        .and_then(Value::as_str)
        .or_else(|| record.header("ce_type"))
        .unwrap_or("-");
    let correlation = record.correlation_id().unwrap_or("-");
    format!(
        "{time}  {}[{}]@{}  {event_type}  corr={correlation}  {}",
        record.topic,
        record.partition,
        record.offset,
        summary(record)
    )
}

fn summary(record: &ConsumedRecord) -> String {
    let v = &record.value;
    let Some(data) = v.get("data") else {
        // Not a CRUD envelope (configuration event, saga message): the compact value.
        return truncate(&v.to_string(), 200);
    };
    let s = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("");
    let outcome = if record.is_failure() {
        let error = data
            .get("error")
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string())
            })
            .unwrap_or_default();
        format!("FAILED {error}")
    } else {
        "ok".to_owned()
    };
    if data.get("operation").is_some() {
        // `system/object_type/object_id`, like the record key; without an id (a create that
        // failed before the system assigned one, a list) just `system/object_type`.
        let mut path = format!("{}/{}", s("system"), s("object_type"));
        if !s("object_id").is_empty() {
            path.push('/');
            path.push_str(s("object_id"));
        }
        return format!("{} {path} {outcome}", s("operation"));
    }
    if let Some(errors) = data.get("errors").and_then(Value::as_array) {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let loc: Vec<String> = e
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|p| {
                                p.as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| p.to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "{}: {}",
                    loc.join("."),
                    e.get("msg").and_then(Value::as_str).unwrap_or("")
                )
            })
            .collect();
        return format!("{} {}", s("path"), messages.join("; "));
    }
    if data.get("workflow_name").is_some() {
        return format!(
            "{} {} {} {outcome}",
            s("workflow_name"),
            s("step_name"),
            s("status")
        );
    }
    if data.get("vault_type").is_some() {
        let cached = data.get("cached").and_then(Value::as_bool).unwrap_or(false);
        return format!(
            "{} {} cached={cached} {outcome}",
            s("vault_type"),
            s("credential_id")
        );
    }
    truncate(&data.to_string(), 200)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_in_a_record_are_escaped_not_sent_to_the_terminal() {
        assert_eq!(escape_controls("ok"), "ok");
        assert_eq!(
            escape_controls("id \u{1b}]0;pwned\u{7}x\u{9b}2J"),
            "id \\u001b]0;pwned\\u0007x\\u009b2J"
        );
        assert_eq!(escape_controls("a\u{202e}b"), "a\\u202eb");
        let json = json!({"object_id": "a\u{1b}[31mred\u{85}"}).to_string();
        let escaped = escape_controls(&json);
        assert!(!escaped.chars().any(char::is_control));
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["object_id"], "a\u{1b}[31mred\u{85}");
    }

    #[test]
    fn a_printed_record_is_masked_whoever_produced_it() {
        let record = ConsumedRecord {
            topic: "crud.operations".to_owned(),
            partition: 0,
            offset: 7,
            timestamp: None,
            key: None,
            headers: Vec::new(),
            value: json!({"event_type": "update", "data": {"operation": "update",
                "params": {"Password": "hunter2", "nested": [{"api_token": "t0k3n"}]}}}),
        };
        for json in [true, false] {
            let printed = render_record(&record, json);
            assert!(
                !printed.contains("hunter2") && !printed.contains("t0k3n"),
                "{printed}"
            );
        }
        assert!(render_record(&record, true).contains("****MASKED****"));
    }

    #[test]
    fn an_operation_without_an_object_id_prints_no_trailing_slash() {
        let record = |object_id: Value| ConsumedRecord {
            topic: "crud.operations".to_owned(),
            partition: 0,
            offset: 1,
            timestamp: None,
            key: None,
            headers: Vec::new(),
            value: json!({"event_type": "create", "data": {"operation": "create",
                "system": "local", "object_type": "user", "object_id": object_id,
                "success": false, "error": "user 'max' already exists"}}),
        };
        assert_eq!(
            summary(&record(Value::Null)),
            "create local/user FAILED user 'max' already exists"
        );
        assert_eq!(
            summary(&record(json!("max"))),
            "create local/user/max FAILED user 'max' already exists"
        );
    }
}
