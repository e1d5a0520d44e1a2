//! The built-in directory of civitas: users, groups and memberships in the civitas database,
//! for installations without Keycloak and for the tests. A `directory` system
//! (`config/system-types/directory.yaml`) is served by this crate's connector.
//!
//! - [`store`]: the storage (SQLite and PostgreSQL through one `AnyPool`), its SQL, and the
//!   transactional outbox: a change and its events commit together (through
//!   `civitas-command`'s [`seal`](civitas_command::seal)).
//! - [`connector`]: the [`Connector`](civitas_command::connectors::Connector) of a directory
//!   system — the commands of `directory.yaml`, passwords hashed with argon2.

pub mod connector;
pub mod store;

/// The name of the built-in directory system `civitas up` configures (`--local-directory`).
pub const LOCAL_SYSTEM: &str = "local";

pub use connector::DirectoryConnector;
pub use store::{DirectoryError, DirectoryStore};
