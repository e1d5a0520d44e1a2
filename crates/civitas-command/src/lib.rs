//! The command core of civitas (seed 000): what a command is and how one runs — system types
//! and systems as data, templates, connectors, the executor and the events each command
//! leaves. No HTTP server here: the CRUD API (`civitas-crud`) and the workflow engine call
//! the [`CommandExecutor`]; the built-in directory (`civitas-directory`) is one more
//! [`Connector`](connectors::Connector).
//!
//! - [`config`]: system types and systems in YAML, the shipped types embedded, the checks.
//! - [`template`]: the minijinja engine behind endpoints, bodies and result mappings.
//! - [`connectors`]: the [`Connector`](connectors::Connector) trait and the declarative
//!   `http` connector; [`auth`], [`credentials`] (from `civitas-http`): how it authenticates.
//! - [`request`]: the `/execute` body and its FastAPI-style validation.
//! - [`systems`]: the configured systems and the lookup of a request's command.
//! - [`executor`]: runs one command for one caller under the policy and publishes its events.
//! - [`command_error`]: why a command failed, with no HTTP in it.
//! - [`events`], [`config_events`]: the `crud.*` events and the configuration events (seed
//!   003) a command announces; [`seal`]: events committed with a database connector's change.

pub mod command_error;
pub mod config;
pub mod config_events;
pub mod connectors;
pub mod events;
pub mod executor;
pub mod request;
pub mod seal;
pub mod systems;
pub mod template;

/// Secret pointers and the auth of outgoing requests live in `civitas-http`, shared
/// with the saga's adapters.
pub use civitas_http::{auth, credentials};

pub use command_error::CommandError;
pub use executor::{CommandExecutor, Executed, Invocation, Outcome};
