//! The integration tests of civitas-topics, one binary (each module one area).

mod asyncapi;
mod strimzi_crds;
