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

pub use load::{BUILTIN_TYPES, Catalog, load_catalog, parse_system, parse_system_type};
pub use system::{AuthConfig, RetryConfig, SystemConfig, TimeoutConfig};
pub use system_type::{
    CommandSpec, ConfigEvent, ConnectorKind, DIRECTORY_OPERATIONS, HttpMethod, Kind, ObjectType,
    ResponseSpec, SettingSpec, SystemType,
};

/// The errors every loader reports with (shared with the policy and workflow loaders).
pub use civitas_config::{ConfigError, ConfigErrors};
