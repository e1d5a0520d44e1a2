//! The wire model of civitas: everything that crosses Kafka, as types, with no I/O.
//!
//! - [`envelope`]: the CRUD service's JSON envelope (seed 000) and its typed `data` shapes.
//! - [`cloudevents`]: CloudEvents binary-mode attributes and their Kafka header codec.
//! - [`mask`]: masking of secrets in JSON values before they reach an event or a log.
//! - [`trace`]: W3C trace context (`traceparent`) parsing and formatting.
//! - [`truncate`]: shortening a JSON value to a byte budget, with visible markers.
//! - [`error`]: why a set of headers is not a CloudEvent.
//! - [`error_code`]: the platform's error codes of adapters and sagas (`NAME(code)`).
//! - [`kind`]: the five kinds of command (create, read, update, delete, list).
//!
//! Everything here is testable on bytes alone; the crates that do I/O build on it.

pub mod cloudevents;
pub mod envelope;
pub mod error;
pub mod error_code;
pub mod kind;
pub mod mask;
pub mod saga;
pub mod time;
pub mod trace;
pub mod truncate;

pub use cloudevents::{Attributes, CloudEvent};
pub use envelope::{
    Envelope, MetricsData, OperationData, SecretData, UserContext, ValidationDetail,
    ValidationErrorData, WorkflowData,
};
pub use error::CloudEventError;
pub use error_code::AdapterErrorCode;
pub use kind::Kind;
pub use mask::Masker;
pub use trace::TraceContext;
