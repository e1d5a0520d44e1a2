//! Connectors execute commands against a system. One trait, two implementations:
//!
//! - [`http`]: the declarative engine; each command of the system type is a templated HTTP
//!   request, with auth, retries and timeouts from the system file.
//! - the built-in user and group directory in the civitas database (`civitas-directory`).

pub mod http;

use std::fmt;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::auth::AuthError;
use crate::config::CommandSpec;
use crate::credentials::CredentialError;
use crate::template::{RenderPathError, TemplateError};

/// The command to run: where it belongs and its definition.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    pub system: &'a str,
    pub object_type: &'a str,
    pub action: &'a str,
    pub spec: &'a CommandSpec,
}

/// What a successful command produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub result: Value,
    /// The id of the object acted on, when known (e.g. the id a create assigned).
    pub object_id: Option<String>,
}

impl Executed {
    pub fn new(result: Value, object_id: Option<String>) -> Self {
        Self { result, object_id }
    }
}

/// Why a command failed, by the class of answer it gets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The object does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The object conflicts with an existing one (409).
    #[error("{0}")]
    Conflict(String),
    /// The params do not make sense for the command (400).
    #[error("{0}")]
    BadParams(String),
    /// The system answered with an error status after all tries (502).
    #[error("HTTP Error {status}")]
    Upstream {
        status: u16,
        url: String,
        detail: Value,
    },
    /// The system could not be reached or did not answer in time, after all tries (502).
    #[error("Upstream unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// A credential pointer could not be resolved (503).
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The token endpoint refused (502).
    #[error("{0}")]
    Auth(AuthError),
    /// A template could not be rendered with these params (400).
    #[error("{0}")]
    Template(#[from] TemplateError),
    /// A database or service of ours is unreachable for now (503, try again).
    #[error("{0}")]
    Unavailable(String),
    /// A fault on our side (500); the message is logged, not shown.
    #[error("{0}")]
    Internal(String),
}

impl From<AuthError> for ConnectorError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Credential(e) => ConnectorError::Credential(e),
            other => ConnectorError::Auth(other),
        }
    }
}

impl From<RenderPathError> for ConnectorError {
    fn from(error: RenderPathError) -> Self {
        match error {
            RenderPathError::Template(e) => ConnectorError::Template(e),
            unsafe_value @ RenderPathError::Unsafe { .. } => {
                ConnectorError::BadParams(unsafe_value.to_string())
            }
        }
    }
}

/// Runs commands against one system.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Executes `command` with `params` (already checked against the command's required
    /// params) on the object `object_id`.
    fn execute<'a>(
        &'a self,
        command: Command<'a>,
        params: &'a Map<String, Value>,
        object_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Executed, ConnectorError>>;

    /// Tries after the first, over all calls so far (a connector without retries: 0).
    fn retries(&self) -> u64 {
        0
    }
}

pub use civitas_http::describe_reqwest;
