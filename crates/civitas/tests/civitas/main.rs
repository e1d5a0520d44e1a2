//! The integration tests of the `civitas` binary, one test binary: the tools run as a user
//! runs them, against a broker of the test kit.

mod cli;
