//! The integration tests of civitas-directory, one binary.

mod store;
