//! The CRUD service of civitas (seed 000): the HTTP service that assembles the products —
//! `POST /execute` runs a command (`civitas-command`) for an authenticated caller
//! (`civitas-auth`), `/workflow/*` and `/tasks` drive the workflow engine, `/console` serves
//! the web console — and publishes one event per request on the `crud.*` topics.
//!
//! - [`app`]: the shared state; [`startup`]: building it from the settings (systems, the
//!   built-in directory of `civitas-directory`, the policy, the workflow engine, the console);
//!   [`server`]: serving it.
//! - [`routes`]: the HTTP API and its OpenAPI document; [`error`]: [`ApiError`], the one
//!   mapping of a command's failure ([`CommandError`](civitas_command::CommandError)) to a
//!   status and a body.
//! - [`metrics`]: `/metrics` and the `crud.metrics` snapshots.
//!
//! The workflow engine (`civitas-workflow`) sees the app through its `Host` interface
//! ([`app`]); the console (`civitas-console`) has its own state, merged into [`routes`].

pub mod app;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod startup;

pub use app::App;
/// A database URL without its password, for messages.
pub use civitas_store::redact as redact_database_url;
pub use error::ApiError;
pub use server::{Running, serve};
pub use startup::{CrudSettings, StartupError};
