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

impl From<civitas_kafka::KafkaError> for SagaError {
    fn from(err: civitas_kafka::KafkaError) -> Self {
        Self::Kafka(Box::new(err))
    }
}
