//! The integration tests of civitas-saga, one binary (each module one area).

mod adapters;
mod e2e;
mod store;
