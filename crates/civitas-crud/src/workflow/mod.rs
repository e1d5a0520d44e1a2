//! The workflow engine (seed 000's workflow events, issue 13): multi-step commands with
//! conditions, parallel branches, approvals and timers, durable in the civitas database, with
//! `crud.workflows` events.
//!
//! ```text
//!  workflows/*.yaml ──definition──▶ Workflow (checked against the systems at start-up)
//!  POST /workflow/start ──▶ engine::start ──▶ store (run v1) ──▶ drive:
//!        run::advance (pure) ─▶ store (vN, nodes RUNNING/WAITING) ─▶ CommandExecutor ─▶
//!        crud.operations (correlation id = run id) ─▶ finish_action ─▶ store (vN+1) …
//!  POST /workflow/resume/{task} ──▶ engine::resume (decision stored over If-Match) ──▶ drive
//!  scheduler tick ──▶ runs whose instance died, timers due ──▶ drive
//!  every status change ──▶ crud.workflows (started, waiting, completed, failed, cancelled)
//! ```
//!
//! - [`definition`]: the YAML format and its checks (file:line, key, reason).
//! - [`run`]: a run's state and its rules, no I/O.
//! - [`store`]: the tables, optimistic writes and leases.
//! - [`engine`]: starting, driving, deciding, cancelling, timers, events.
//! - [`access`]: who may start, read, cancel and decide.

pub mod access;
pub mod definition;
pub mod engine;
pub mod run;
pub mod store;

pub use definition::{Workflow, load_dir};
pub use engine::Workflows;
pub use run::{Run, RunStatus};
