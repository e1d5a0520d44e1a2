//! Errors of the saga crate.

/// What went wrong running the saga or its adapters.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    #[error("could not open the saga store")]
    OpenStore(#[source] civitas_store::StoreError),
    #[error("saga store: could not {what}")]
    Store {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("saga {saga_id}: the stored state is not readable")]
    CorruptState {
        saga_id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("saga {saga_id}: the state does not serialize")]
    EncodeState {
        saga_id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("saga {0}: changed by someone else on every one of 20 tries")]
    Contention(String),
    #[error("Kafka")]
    Kafka(#[source] Box<civitas_kafka::KafkaError>),
    #[error("could not create the Kafka consumer of group {group}")]
    CreateConsumer {
        group: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("could not subscribe to {topics}")]
    Subscribe {
        topics: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("could not build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    #[error("invalid saga configuration: {0}")]
    Config(String),
}

impl SagaError {
    /// Whether retrying later may succeed: the database or the broker is away, busy or
    /// contended. Anything else (a value the store refuses, a state that does not parse)
    /// fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            SagaError::OpenStore(_) | SagaError::Contention(_) | SagaError::Kafka(_) => true,
            SagaError::Store { source, .. } => sqlx_is_transient(source),
            _ => false,
        }
    }
}

/// Connection and availability problems, and SQLSTATE classes 08 (connection), 40
/// (serialization, deadlock), 53 (resources) and 57 (operator intervention: shutdown), plus
/// 42501 (permission) and 42P01 (no such table); SQLite's BUSY (5) and LOCKED (6) with their
/// extended codes.
fn sqlx_is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLite reports extended codes (BUSY_SNAPSHOT is 517): the primary one is the
            // low byte.
            if let Ok(sqlite) = code.parse::<u32>() {
                return matches!(sqlite & 0xff, 5 | 6);
            }
            // 42501 and 42P01: a permission or a table missing is the operator's to fix, not
            // the message's fault; retried (and logged once) instead of dead-lettering all.
            ["08", "40", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "42501"
                || code == "42P01"
        }),
        _ => false,
    }
}

impl From<civitas_kafka::KafkaError> for SagaError {
    fn from(err: civitas_kafka::KafkaError) -> Self {
        Self::Kafka(Box::new(err))
    }
}
