//! Why a command did not run, in the domain's words: no HTTP here. The executor, the
//! systems' lookup and the connectors' failures speak [`CommandError`]; the CRUD API maps it
//! to a status and a body (`civitas-crud`'s `ApiError`), the workflow engine keeps it
//! in a run's step.

use serde_json::Value;

use crate::connectors::ConnectorError;
use crate::credentials::CredentialError;
use crate::request::ValidationIssue;
use civitas_http::AuthError;

/// Longest upstream detail put in an event's `error` string, in characters.
pub const MAX_EVENT_DETAIL: usize = 500;

/// Why a command failed or was refused.
#[derive(Debug, Clone)]
pub enum CommandError {
    /// The request does not fit the schema (FastAPI's validation detail).
    Validation(Vec<ValidationIssue>),
    /// Unknown system, object type or action, or the object does not exist.
    NotFound(String),
    /// Missing or unusable params.
    BadRequest(String),
    /// The authorization policy refuses the command.
    Forbidden(String),
    /// The object conflicts with an existing one.
    Conflict(String),
    /// An outside system failed. `error` is `HTTP Error <code>` or `Upstream unreachable`.
    Upstream {
        error: String,
        url: String,
        detail: Value,
    },
    /// Something the command needs is not available now (a credential, the database); with
    /// the seconds after which trying again may help, when that is known.
    Unavailable(String, Option<u64>),
    /// A fault of ours: logged, never shown.
    Internal(String),
}

impl CommandError {
    /// The `outcome` label of the request metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            CommandError::Validation(_) => "invalid",
            CommandError::NotFound(_) => "not_found",
            CommandError::BadRequest(_) => "bad_request",
            CommandError::Forbidden(_) => "forbidden",
            CommandError::Conflict(_) => "conflict",
            CommandError::Upstream { .. } => "upstream_error",
            CommandError::Unavailable(..) => "unavailable",
            CommandError::Internal(_) => "error",
        }
    }

    /// Whether the failure is not the caller's (an outside system, a missing credential, a
    /// fault of ours): counted as a system error, logged as a warning.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            CommandError::Upstream { .. }
                | CommandError::Unavailable(..)
                | CommandError::Internal(_)
        )
    }

    /// The `error` string of the `crud.operations` event.
    pub fn message(&self) -> String {
        match self {
            CommandError::Validation(issues) => validation_message(issues),
            CommandError::NotFound(m)
            | CommandError::BadRequest(m)
            | CommandError::Forbidden(m)
            | CommandError::Conflict(m)
            | CommandError::Unavailable(m, _) => m.clone(),
            CommandError::Upstream { error, url, detail } => upstream_message(error, url, detail),
            CommandError::Internal(_) => "Internal Server Error".to_owned(),
        }
    }
}

/// `body.system: Field required; …`: the validation issues in one line.
pub fn validation_message(issues: &[ValidationIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}: {}", loc_text(&i.loc), i.msg))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `HTTP Error 503 from <url>: <detail>`, the detail cut at [`MAX_EVENT_DETAIL`] characters.
pub fn upstream_message(error: &str, url: &str, detail: &Value) -> String {
    let detail = match detail {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let detail: String = detail.chars().take(MAX_EVENT_DETAIL).collect();
    if detail.is_empty() {
        format!("{error} from {url}")
    } else {
        format!("{error} from {url}: {detail}")
    }
}

/// `body.system` for `["body", "system"]`.
fn loc_text(loc: &[Value]) -> String {
    loc.iter()
        .map(|p| match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl From<ConnectorError> for CommandError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::NotFound(m) => CommandError::NotFound(m),
            ConnectorError::Conflict(m) => CommandError::Conflict(m),
            ConnectorError::BadParams(m) => CommandError::BadRequest(m),
            ConnectorError::Upstream {
                status,
                url,
                detail,
            } => {
                let error = format!("HTTP Error {status}");
                // The upstream's answer keeps its meaning when it is about the request; our
                // own credentials refused (401/403) or a failing system (5xx) stay upstream
                // failures.
                match status {
                    404 => CommandError::NotFound(upstream_message(&error, &url, &detail)),
                    409 => CommandError::Conflict(upstream_message(&error, &url, &detail)),
                    400 | 422 => CommandError::BadRequest(upstream_message(&error, &url, &detail)),
                    _ => CommandError::Upstream { error, url, detail },
                }
            }
            ConnectorError::Unreachable { url, detail } => CommandError::Upstream {
                error: "Upstream unreachable".to_owned(),
                url,
                detail: Value::String(detail),
            },
            ConnectorError::Auth(AuthError::Token {
                url,
                status,
                detail,
            }) => CommandError::Upstream {
                error: match status {
                    Some(status) => format!("HTTP Error {status}"),
                    None => "Upstream unreachable".to_owned(),
                },
                url,
                detail: serde_json::json!({"token_request_failed": detail}),
            },
            ConnectorError::Auth(AuthError::Credential(e)) | ConnectorError::Credential(e) => {
                let retry_after = match &e {
                    CredentialError::CircuitOpen { retry_in_ms, .. } => {
                        Some(retry_in_ms.div_ceil(1000).max(1))
                    }
                    _ => None,
                };
                CommandError::Unavailable(e.to_string(), retry_after)
            }
            ConnectorError::Template(e) => CommandError::BadRequest(format!(
                "the params do not fit the command's templates: {e}"
            )),
            ConnectorError::Unavailable(m) => CommandError::Unavailable(m, Some(5)),
            ConnectorError::Internal(m) => CommandError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_upstream_failure_names_the_system_and_its_answer() {
        let error = CommandError::from(ConnectorError::Upstream {
            status: 503,
            url: "http://kc/x".into(),
            detail: json!({"error": "down"}),
        });
        assert!(error.is_fault());
        assert_eq!(
            error.message(),
            r#"HTTP Error 503 from http://kc/x: {"error":"down"}"#
        );
    }

    #[test]
    fn an_upstream_404_is_a_missing_object_not_a_fault() {
        let error = CommandError::from(ConnectorError::Upstream {
            status: 404,
            url: "http://kc/users/9".into(),
            detail: Value::Null,
        });
        assert!(matches!(error, CommandError::NotFound(_)));
        assert_eq!(error.message(), "HTTP Error 404 from http://kc/users/9");
        assert!(!error.is_fault());
    }

    #[test]
    fn an_upstream_detail_in_an_event_is_cut_at_500_characters() {
        let message = upstream_message("HTTP Error 500", "http://x", &json!("y".repeat(2_000)));
        assert_eq!(message.len(), "HTTP Error 500 from http://x: ".len() + 500);
    }

    #[test]
    fn an_internal_error_never_shows_its_cause() {
        let error = CommandError::Internal("db exploded at /var/lib".into());
        assert!(!error.message().contains("/var/lib"));
    }
}
