//! The CRUD service of civitas (seed 000): `POST /execute` runs create/read/update/delete/list
//! commands against configured *systems* and publishes one event per request on the
//! `crud.*` topics.
//!
//! - [`config`]: system types and systems in YAML, the shipped types embedded.
//! - [`template`]: the minijinja engine behind endpoints, bodies and result mappings.
//! - [`connectors`]: the [`Connector`](connectors::Connector) trait; `http` (declarative) and
//!   `directory` (built-in users and groups).
//! - [`directory`]: the directory's storage in the civitas database (SQLite / PostgreSQL).
//! - [`auth`], [`credentials`] (from `civitas-http`, whose `Client` the http connector
//!   sends with): how the http connector talks to a system.
//! - [`caller_auth`]: who calls the API (OpenID Connect bearer tokens), the events'
//!   `user_context`; [`authz`]: what they may run (the policy file).
//! - [`request`]: the `/execute` body and its FastAPI-style validation.
//! - [`systems`]: the configured systems and the lookup of a request's command.
//! - [`executor`]: runs one command for one caller and publishes its events — the API behind
//!   `/execute` and workflows.
//! - [`workflow`]: the workflow engine — runs of multi-step commands (through the executor),
//!   approvals and timers, durable in the database, with `crud.workflows` events.
//! - [`events`], [`metrics`]: what each request leaves behind.
//! - [`app`]: the shared state; [`routes`], [`error`], [`startup`], [`server`]: the HTTP API,
//!   its errors, building the app and serving it.
//! - [`console`]: the web console at `/console`.
//! - [`bench`](mod@bench): the load generator behind `civitas bench execute`.

pub mod app;
pub mod authz;
pub mod bench;
pub mod caller_auth;
pub mod config;
pub mod config_events;
pub mod connectors;
pub mod console;
pub mod directory;
pub mod error;
pub mod events;
pub mod executor;
pub mod metrics;
pub mod request;
pub mod routes;
pub mod seal;
pub mod server;
pub mod startup;
pub mod systems;
pub mod template;
pub mod workflow;

/// Secret pointers and the auth of outgoing requests live in `civitas-http`, shared
/// with the saga's adapters.
pub use civitas_http::{auth, credentials};

pub use app::App;
/// A database URL without its password, for messages.
pub use civitas_store::redact as redact_database_url;
pub use error::ApiError;
pub use executor::{CommandExecutor, Executed, Invocation, Outcome};
pub use server::{Running, serve};
pub use startup::{CrudSettings, StartupError};
