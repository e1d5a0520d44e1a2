//! Kafka I/O for civitas: everything that talks to a broker.
//!
//! - [`settings`]: client settings (bootstrap servers, raw librdkafka options, fetch wait).
//! - [`publisher`]: the one shared producer of a process, with delivery tracking, a retry
//!   queue, and a builder thread for records built off the caller's thread (`send_later`).
//! - [`Record`]: one record to publish, its headers kept as librdkafka's own list.
//! - [`crud_events`]: the CRUD service's event producer (seed 000): envelope, key, headers, topics.
//! - [`outbox`]: the durable outbox: events stored (group commit) before a command is
//!   answered, relayed to the broker, removed only once acknowledged.
//! - [`admin`]: reading a real cluster's topics and applying a provisioning plan.
//! - [`broker`]: the embedded broker (librdkafka's mock cluster behind a fixed TCP port);
//!   [`journal`]: its history, kept in the database and written back after a restart.
//! - [`reader`]: reading records back — the engine behind `civitas tail` and `civitas trace`;
//!   [`display`]: a record as a person sees it (masked, escaped, one line).
//! - [`consumer`]: consumer settings for the components that subscribe in consumer groups;
//!   [`consume`]: the at-least-once consume-decide-commit loop, replies and dead letters.

pub mod admin;
pub mod broker;
pub mod consume;
pub mod consumer;
pub mod crud_events;
mod deferred;
pub mod display;
pub mod error;
pub mod journal;
pub mod outbox;
pub mod publisher;
pub mod reader;
mod record;
pub mod samples;
pub mod settings;

pub use broker::EmbeddedBroker;
pub use crud_events::{CrudEvents, EventContext};
pub use error::KafkaError;
pub use publisher::{Publisher, PublisherStats};
pub use reader::{ConsumedRecord, Filter, Reader, headers_of};
pub use record::Record;
pub use settings::{KafkaSettings, is_credential_option};
