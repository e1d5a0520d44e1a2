//! The template engine of the http connector (minijinja).
//!
//! - Endpoints are string templates in which every printed value is percent-encoded, so an
//!   `object_id` of `a/b` cannot leave its path segment (`| safe` opts out). Values that a
//!   URL parser would resolve as dot segments (`.`, `..`, `%2e%2e`, …) and empty values are
//!   refused before rendering, whatever the filter ([`Templates::render_path`]).
//! - Bodies, query values, headers and result mappings are values whose strings are
//!   templates. A string that is exactly one `{{ expression }}` keeps the expression's type
//!   (`enabled: "{{ params.enabled }}"` stays a boolean); in an object, a key whose lone
//!   expression is undefined is left out, so optional params need no `{% if %}`.
//! - Undefined values are chainable (`params.a.b` of a missing `a` is undefined, not an
//!   error) and print as nothing.
//!
//! Filters besides minijinja's built-ins: `odata_id` (FROST ids: `42` stays `42`, `a'b`
//! becomes `'a''b'`) and `basename` (the last path segment).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use civitas_http::url_path;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

/// Name suffix of templates whose output is a URL path.
const PATH_SUFFIX: &str = ".path";

/// Why a template failed to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {what} failed: {reason}")]
pub struct TemplateError {
    pub what: String,
    pub reason: String,
}

/// The shared engine. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// The variables of each endpoint template (a handful per system type).
    path_variables: RwLock<HashMap<String, Arc<[String]>>>,
}

/// Why an endpoint could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderPathError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A value would leave its path segment (refused with 400, nothing is sent).
    #[error("param `{name}` cannot go into the URL path: {reason}")]
    Unsafe {
        name: String,
        reason: url_path::UnsafeSegment,
    },
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(PATH_SUFFIX) {
                AutoEscape::Custom("path".into())
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Custom(name) if name == "path")
                && !value.is_safe()
            {
                if value.is_undefined() || value.is_none() {
                    return Ok(());
                }
                let text = value.to_string();
                out.write_str(&url_path::encode_segment(&text))
                    .map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_filter("odata_id", odata_id);
        env.add_filter("basename", |text: String| {
            text.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        Self {
            env,
            path_variables: RwLock::default(),
        }
    }

    /// Renders a URL path template; printed values are percent-encoded.
    ///
    /// Every variable the template refers to (`object_id`, `params.user_id`, …) must have a
    /// value that can be a path segment ([`url_path::check_segment`]: not empty, not `.` or
    /// `..` in any encoding), and the rendered path is checked once more, so no value can
    /// move the request to another resource.
    pub fn render_path(
        &self,
        source: &str,
        ctx: &minijinja::Value,
    ) -> Result<String, RenderPathError> {
        let template = self
            .env
            .template_from_named_str("endpoint.path", source)
            .map_err(|e| error("endpoint", &e))?;
        for variable in self.path_variables(source, &template).iter() {
            let value = lookup(ctx, variable);
            let text = if value.is_undefined() || value.is_none() {
                String::new()
            } else {
                value.to_string()
            };
            url_path::check_segment(&text).map_err(|reason| RenderPathError::Unsafe {
                name: variable
                    .strip_prefix("params.")
                    .unwrap_or(variable)
                    .to_owned(),
                reason,
            })?;
        }
        let path = template.render(ctx).map_err(|e| error("endpoint", &e))?;
        url_path::check_path(&path).map_err(|reason| RenderPathError::Unsafe {
            name: "endpoint".to_owned(),
            reason,
        })?;
        Ok(path)
    }

    /// The variables a path template refers to, sorted, parsed once per template.
    fn path_variables(
        &self,
        source: &str,
        template: &minijinja::Template<'_, '_>,
    ) -> Arc<[String]> {
        if let Some(known) = self
            .path_variables
            .read()
            .ok()
            .and_then(|m| m.get(source).cloned())
        {
            return known;
        }
        let mut variables: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        variables.sort();
        let variables: Arc<[String]> = variables.into();
        if let Ok(mut known) = self.path_variables.write() {
            known.insert(source.to_owned(), variables.clone());
        }
        variables
    }

    /// Renders a string template.
    pub fn render_string(
        &self,
        what: &str,
        source: &str,
        ctx: &minijinja::Value,
    ) -> Result<String, TemplateError> {
        if !is_template(source) {
            return Ok(source.to_owned());
        }
        self.env
            .render_named_str("value", source, ctx)
            .map_err(|e| error(what, &e))
    }

    /// Evaluates one expression (a workflow's condition or `set` value), without `{{ }}`:
    /// its value as JSON (undefined is null).
    pub fn eval_expression(
        &self,
        what: &str,
        expression: &str,
        ctx: &minijinja::Value,
    ) -> Result<Value, TemplateError> {
        let value = self
            .env
            .compile_expression(expression)
            .and_then(|e| e.eval(ctx))
            .map_err(|e| error(what, &e))?;
        if value.is_undefined() {
            return Ok(Value::Null);
        }
        serde_json::to_value(&value).map_err(|e| TemplateError {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Renders a value whose strings are templates (see the module docs). `None` when the
    /// value is a lone expression that is undefined.
    pub fn render_value(
        &self,
        what: &str,
        spec: &Value,
        ctx: &minijinja::Value,
    ) -> Result<Option<Value>, TemplateError> {
        match spec {
            Value::String(source) => {
                if let Some(expr) = lone_expression(source) {
                    let value = self
                        .env
                        .compile_expression(expr)
                        .and_then(|e| e.eval(ctx))
                        .map_err(|e| error(what, &e))?;
                    if value.is_undefined() {
                        return Ok(None);
                    }
                    let json = serde_json::to_value(&value).map_err(|e| TemplateError {
                        what: what.to_owned(),
                        reason: e.to_string(),
                    })?;
                    return Ok(Some(json));
                }
                self.render_string(what, source, ctx)
                    .map(|s| Some(Value::String(s)))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.render_value(what, item, ctx)?.unwrap_or(Value::Null));
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (key, item) in fields {
                    if let Some(value) = self.render_value(what, item, ctx)? {
                        out.insert(key.clone(), value);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }
}

/// A template context from a JSON object.
pub fn context(value: &Value) -> minijinja::Value {
    minijinja::Value::from(Serde(value))
}

/// Checks a string template's syntax (at start-up).
pub fn check_string(source: &str) -> Result<(), String> {
    let env = Environment::new();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Checks an expression's syntax (at start-up).
pub fn check_expression(expression: &str) -> Result<(), String> {
    Environment::new()
        .compile_expression(expression)
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Checks every template in a value (at start-up).
pub fn check_value(spec: &Value) -> Result<(), String> {
    match spec {
        Value::String(source) => match lone_expression(source) {
            Some(expr) => check_expression(expr),
            None => check_string(source),
        },
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(fields) => fields.values().try_for_each(check_value),
        _ => Ok(()),
    }
}

fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// The expression of a string that is exactly one `{{ … }}`.
fn lone_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

fn error(what: &str, err: &minijinja::Error) -> TemplateError {
    TemplateError {
        what: what.to_owned(),
        reason: describe(err),
    }
}

fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{} ({detail})", err.kind()),
        None => err.to_string(),
    }
}

/// The value of a dotted variable path (`params.user_id`); undefined when any part is missing.
fn lookup(ctx: &minijinja::Value, path: &str) -> minijinja::Value {
    path.split('.').fold(ctx.clone(), |value, part| {
        value.get_attr(part).unwrap_or(minijinja::Value::UNDEFINED)
    })
}

/// OData key syntax (FROST): integers as they are, anything else quoted with `'` doubled.
/// The result is percent-encoded inside the quotes and marked safe, so it can go into a path.
fn odata_id(value: minijinja::Value) -> minijinja::Value {
    let text = value.to_string();
    let key = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text
    } else {
        format!("'{}'", url_path::encode_segment(&text.replace('\'', "''")))
    };
    minijinja::Value::from_safe_string(key)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> minijinja::Value {
        context(&json!({
            "params": {"username": "max", "enabled": false, "n": 3, "attrs": {"a": [1, 2]}},
            "object_id": "a+b admin users",
            "settings": {"realm": "city"}
        }))
    }

    #[test]
    fn values_printed_into_a_path_are_percent_encoded() {
        let t = Templates::new();
        let path = t
            .render_path(
                "/admin/realms/{{ settings.realm }}/users/{{ object_id }}",
                &ctx(),
            )
            .unwrap();
        assert_eq!(path, "/admin/realms/city/users/a%2Bb%20admin%20users");
    }

    #[test]
    fn a_dot_segment_or_empty_value_in_a_path_names_the_param() {
        let t = Templates::new();
        for (id, user) in [
            ("..", "max"),
            ("%2e%2E", "max"),
            ("a/../..", "max"),
            ("", "max"),
            ("g", "."),
        ] {
            let c = context(&json!({"object_id": id, "params": {"user_id": user}}));
            let err = t
                .render_path("/users/{{ params.user_id }}/groups/{{ object_id }}", &c)
                .unwrap_err();
            let name = if user == "." { "user_id" } else { "object_id" };
            assert!(
                matches!(&err, RenderPathError::Unsafe { name: n, .. } if n == name),
                "{id:?}: {err}"
            );
        }
        let c = context(&json!({"object_id": ".."}));
        assert!(
            t.render_path("/Things({{ object_id | odata_id }})", &c)
                .is_err()
        );
        let c = context(&json!({}));
        assert!(t.render_path("/users/{{ object_id }}", &c).is_err());
    }

    #[test]
    fn a_lone_expression_keeps_its_type_and_undefined_keys_are_left_out() {
        let t = Templates::new();
        let spec = json!({
            "username": "{{ params.username }}",
            "enabled": "{{ params.enabled }}",
            "count": "{{ params.n }}",
            "attributes": "{{ params.attrs }}",
            "email": "{{ params.email }}",
            "greeting": "hi {{ params.username }}",
            "fixed": 7
        });
        let out = t.render_value("body", &spec, &ctx()).unwrap().unwrap();
        assert_eq!(
            out,
            json!({
                "username": "max",
                "enabled": false,
                "count": 3,
                "attributes": {"a": [1, 2]},
                "greeting": "hi max",
                "fixed": 7
            })
        );
    }

    #[test]
    fn the_default_filter_fills_a_missing_param() {
        let t = Templates::new();
        let out = t
            .render_value(
                "body",
                &json!("{{ params.temporary | default(false) }}"),
                &ctx(),
            )
            .unwrap();
        assert_eq!(out, Some(json!(false)));
    }

    #[test]
    fn odata_ids_are_quoted_unless_numeric() {
        let t = Templates::new();
        let c = context(&json!({"a": "42", "b": "it's"}));
        assert_eq!(
            t.render_path("/Things({{ a | odata_id }})/x({{ b | odata_id }})", &c)
                .unwrap(),
            "/Things(42)/x('it%27%27s')"
        );
    }

    #[test]
    fn a_syntax_error_is_found_at_check_time() {
        assert!(check_string("/users/{{ object_id").is_err());
        assert!(check_value(&json!({"a": ["{{ params.x + }}"]})).is_err());
        assert!(check_value(&json!({"a": "{{ params.x }}"})).is_ok());
    }
}
