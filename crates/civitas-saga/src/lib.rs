//! The dataset-provisioning saga of civitas (seed 003, "Saga / Orchestrator Topics";
//! `docs/saga.md`): the orchestrator and its FROST and APISIX adapters.
//!
//! - [`definition`]: sagas as data — steps, their topics, conditions and command builders.
//! - [`machine`]: the orchestrator as a pure state machine (`state + input → state + commands`).
//! - [`store`]: saga instances and processed message ids in SQLite or PostgreSQL.
//! - [`orchestrator`]: the driver — persist, then dispatch, then commit the offset; timer; resume.
//! - [`adapter`]: command handlers with retries and dead letters ([`adapter::frost`], [`adapter::apisix`]).
//! - [`service`]: starting the components in a process.
//! - [`request`]: publishing a request and waiting for its outcome.
//! - [`mod@bench`]: the end-to-end benchmark behind `civitas bench saga`.
//! - [`io`], [`clock`], [`error`]: Kafka plumbing, a pausable clock, errors; [`outage`]: one
//!   log line for a failure that repeats every tick.

pub mod adapter;
pub mod bench;
/// The pausable clock, shared with the workflow engine (in `civitas-store`).
pub mod clock {
    pub use civitas_store::Clock;
}
pub mod definition;
pub mod error;
pub mod io;
pub mod machine;
pub mod orchestrator;
pub mod outage;
pub mod request;
pub mod service;
pub mod state;
pub mod store;

pub use definition::SagaDefinition;
pub use error::SagaError;
pub use machine::{Command, Input, Saga, SagaStatus, StepStatus};
pub use orchestrator::{Orchestrator, OrchestratorConfig, Outcome};
pub use service::{Component, Running, SagaConfig};
pub use store::SagaStore;
