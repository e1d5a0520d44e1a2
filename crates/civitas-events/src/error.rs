//! Errors of the wire model.

/// Why a set of Kafka headers is not a valid CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudEventError {
    #[error("required CloudEvents attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    #[error("CloudEvents attribute `{name}` is invalid: {reason}")]
    InvalidAttribute { name: String, reason: String },
    #[error("header `{0}` is not valid UTF-8")]
    NotUtf8(String),
    #[error("unsupported CloudEvents specversion `{0}` (expected 1.0)")]
    UnsupportedSpecVersion(String),
}
