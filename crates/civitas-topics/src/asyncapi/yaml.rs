//! A YAML writer for the document's tree: block style, keys plain when no YAML version
//! could read them as anything but a string, every string value double-quoted.

use serde_json::Value;

use super::Node;

pub(super) fn node(out: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Obj(obj) => entries(
            out,
            obj.0.iter().map(|(k, v)| (k.as_str(), Child::Node(v))),
            indent,
        ),
        Node::Json(value) => json(out, value, indent),
    }
}

enum Child<'a> {
    Node(&'a Node),
    Value(&'a Value),
}

fn entries<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a str, Child<'a>)>,
    indent: usize,
) {
    for (key, child) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&self::key(key));
        out.push(':');
        match child {
            Child::Node(child @ Node::Obj(obj)) if !obj.0.is_empty() => {
                out.push('\n');
                node(out, child, indent + 2);
            }
            Child::Node(Node::Obj(_)) => out.push_str(" {}\n"),
            Child::Node(Node::Json(value)) | Child::Value(value) => value_after(out, value, indent),
        }
    }
}

/// A value after `key:` or `-`.
fn value_after(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            json(out, value, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            json(out, value, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&self::scalar(scalar));
            out.push('\n');
        }
    }
}

fn json(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => entries(
            out,
            map.iter().map(|(k, v)| (k.as_str(), Child::Value(v))),
            indent,
        ),
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                value_after(out, item, indent);
            }
        }
        scalar => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&self::scalar(scalar));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // JSON's own text: null, true/false, numbers, and double-quoted strings.
        other => other.to_string(),
    }
}

/// A key plain when it is a word no YAML version reads as another type.
fn key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}
