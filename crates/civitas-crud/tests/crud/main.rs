//! The integration tests of civitas-crud, one binary (each module one area).

mod caller_auth;
mod common;
mod config_events;
mod console;
mod durable_events;
mod execute;
mod router;
mod secrets;
mod system_types;
mod workflows;
