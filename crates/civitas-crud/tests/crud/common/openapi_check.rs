//! Checks an error response against the service's own OpenAPI document: the status must be
//! documented for the route, and the body must fit the documented schema — no field missing,
//! none extra, each of its type. Every error response the suite reads goes through it.

use std::sync::LazyLock;

use serde_json::Value;
use utoipa::OpenApi;

static DOC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(civitas_crud::routes::openapi::ApiDoc::openapi())
        .expect("the OpenAPI document serializes")
});

/// Panics unless `body` is what `/openapi.json` documents for `method path` → `status`.
pub fn assert_documented(method: &str, path: &str, status: u16, body: &Value) {
    let operation = &DOC["paths"][path][method];
    assert!(
        operation.is_object(),
        "{method} {path} is not in the OpenAPI document"
    );
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which the OpenAPI document does not list; body: {body}"
    );
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        return;
    };
    if let Err(problem) = check(body, schema, "$") {
        panic!(
            "{method} {path} {status}: the body does not fit the document: {problem}; body: {body}"
        );
    }
}

fn check(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    if let Some(Value::String(reference)) = schema.get("$ref") {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(value, &DOC["components"]["schemas"][name], at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            return if options.iter().any(|o| check(value, o, at).is_ok()) {
                Ok(())
            } else {
                Err(format!("{at} fits none of {key}"))
            };
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        // A composed object (a flattened struct): its fields are those of all its parts,
        // so each part alone would call the others' fields undocumented.
        return match merged(all) {
            Some(object) => check(value, &object, at),
            None => all.iter().try_for_each(|s| check(value, s, at)),
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = types.iter().any(|t| match *t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    });
    if !fits {
        return Err(format!("{at} is {value}, not of type {types:?}"));
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = schema.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        return Err(format!("{at}.{name} is required but missing"));
                    }
                }
            }
            if let Some(properties) = properties {
                for (name, field) in fields {
                    match properties.get(name) {
                        Some(s) => check(field, s, &format!("{at}.{name}"))?,
                        None => return Err(format!("{at}.{name} is not documented")),
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => match schema.get("items") {
            Some(s) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(item, s, &format!("{at}[{i}]"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The parts of an `allOf` as one object schema (their properties and required fields
/// together); `None` when a part is not an object schema.
fn merged(parts: &[Value]) -> Option<Value> {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for part in parts {
        let part = match part.get("$ref") {
            Some(Value::String(reference)) => {
                &DOC["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")]
            }
            _ => part,
        };
        if let Some(Value::Array(inner)) = part.get("allOf") {
            let inner = merged(inner)?;
            properties.extend(inner["properties"].as_object()?.clone());
            required.extend(inner["required"].as_array()?.iter().cloned());
            continue;
        }
        properties.extend(part.get("properties")?.as_object()?.clone());
        if let Some(Value::Array(names)) = part.get("required") {
            required.extend(names.iter().cloned());
        }
    }
    Some(serde_json::json!({"type": "object", "properties": properties, "required": required}))
}
