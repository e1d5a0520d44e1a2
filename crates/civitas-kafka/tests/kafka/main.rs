//! The integration tests of civitas-kafka, one binary (each module one area).

mod admin;
mod outbox;
mod publisher;
mod reader;
mod record_size;
