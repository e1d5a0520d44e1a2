//! The workflow engine (seed 000's workflow events): multi-step commands with conditions,
//! parallel branches, approvals and timers, durable in the civitas database, with
//! `crud.workflows` events. It runs inside a service through a small [`Host`] interface (the
//! executor, the events, the policy, the directory) and knows no HTTP: the CRUD service's
//! routes and the `civitas workflow` CLI speak its typed [`api`].
//!
//! ```text
//!  workflows/*.yaml ──definition──▶ Workflow (checked against the systems at start-up)
//!  POST /workflow/start ──▶ engine::start ──▶ store (run v1) ──▶ drive:
//!        run::advance (pure) ─▶ store (vN, nodes RUNNING/WAITING) ─▶ CommandExecutor ─▶
//!        crud.operations (correlation id = run id) ─▶ finish_action ─▶ store (vN+1) …
//!  POST /workflow/resume/{task} ──▶ decide::resume (decision stored over If-Match) ──▶ drive
//!  scheduler tick ──▶ runs whose instance died, timers due ──▶ drive
//!  every status change ──▶ crud.workflows (started, waiting, completed, failed, cancelled)
//! ```
//!
//! - [`definition`]: the YAML format and its checks (file:line, key, reason).
//! - [`run`]: a run's state and its rules, no I/O.
//! - [`store`]: the tables, optimistic writes and leases.
//! - [`engine`]: starting and driving runs, taking over runs and timers (the scheduler);
//!   [`command`]: one action node's command; [`decide`]: decisions and cancels;
//!   [`events`]: the `crud.workflows` events.
//! - [`access`]: who may start, read, cancel and decide.
//! - [`api`]: the typed answers of the workflow API (and the views they are built by).
//! - [`workflows`]: the engine's state in one instance.
//! - [`host`]: what the engine needs of the service around it; [`error`]: its refusals.

pub mod access;
pub mod api;
pub mod command;
pub mod decide;
pub mod definition;
pub mod engine;
pub mod error;
pub mod events;
pub mod host;
pub mod run;
pub mod store;
#[cfg(test)]
mod testing;
pub mod workflows;

pub use definition::{Workflow, load_dir};
pub use error::WorkflowError;
pub use host::Host;
pub use run::{Run, RunStatus};
pub use workflows::Workflows;
