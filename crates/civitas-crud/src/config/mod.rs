//! Systems are data, not code: *system types* (what a kind of outside system offers) and
//! *systems* (instances of a type: address, credentials, retry policy) are YAML files.
//!
//! - [`system_type`]: the system-type format (object types, commands, templates).
//! - [`system`]: the system format (base URL, auth, retry, timeouts).
//! - [`load`](mod@load): reading, the shipped types embedded in the binary, and the checks that
//!   refuse a bad configuration at start-up with file, key path and reason.

pub mod load;
pub mod system;
pub mod system_type;

use std::fmt;

pub use load::{BUILTIN_TYPES, Catalog, load_catalog, parse_system, parse_system_type};
pub use system::{AuthConfig, RetryConfig, SystemConfig, TimeoutConfig};
pub use system_type::{
    CommandSpec, ConfigEvent, ConnectorKind, HttpMethod, Kind, ObjectType, ResponseSpec,
    SettingSpec, SystemType,
};

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    /// The file, as given (`builtin:keycloak.yaml` for an embedded one).
    pub file: String,
    /// Dotted key path, e.g. `objects.user.commands.create.endpoint` (`.` for the document).
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Every problem found; the service refuses to start on any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration error(s):", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
