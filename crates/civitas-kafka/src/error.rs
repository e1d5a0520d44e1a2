//! Errors of the Kafka layer.

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("could not create the Kafka client for {bootstrap}")]
    CreateClient {
        bootstrap: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("could not start the embedded broker")]
    StartBroker(#[source] Box<rdkafka::error::KafkaError>),
    #[error("the embedded broker refused a mock operation")]
    Mock(#[source] Box<rdkafka::error::KafkaError>),
    #[error("could not listen on {addr} for the embedded broker")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not create topic {topic}")]
    CreateTopic {
        topic: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("could not read metadata of {what} from {bootstrap}")]
    Metadata {
        what: String,
        bootstrap: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("could not {what} on {bootstrap}")]
    Admin {
        what: String,
        bootstrap: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("could not consume from {topic}")]
    Consume {
        topic: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("could not serialize the event for {topic}")]
    Serialize {
        topic: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the event outbox could not {action}")]
    Outbox {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{pending} record(s) were still undelivered after the flush timeout")]
    FlushTimeout { pending: usize },
}
