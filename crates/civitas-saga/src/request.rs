//! The requester's side: publishing a `dataset.create.requested` the way the portal does,
//! and waiting for its `completed` or `failed` (used by `civitas saga request` and the
//! benchmark).

use std::time::{Duration, Instant};

use civitas_events::saga::{DatasetCreateCompleted, DatasetCreateFailed, DatasetCreateRequested};
use civitas_kafka::{KafkaSettings, Record};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::SagaError;
use crate::io::Envelope;
use civitas_topics::{SagaTopics, groups};

/// `ce_source` of requests made from the command line.
pub const CLI_SOURCE: &str = "/civitas/cli";

/// The record of a request: key and subject = dataset id, `ce_id` = `messageId`,
/// correlation id = `correlation_id`.
pub fn request_record(
    topics: &SagaTopics,
    request: &DatasetCreateRequested,
    source: &str,
    correlation_id: &str,
) -> Result<Record, SagaError> {
    Envelope {
        source: source.to_owned(),
        subject: Some(request.dataset_id.clone()),
        correlation_id: Some(correlation_id.to_owned()),
        traceparent: crate::io::outgoing_traceparent(None),
    }
    .record(&topics.requested, &request.message_id, request)
    .map_err(SagaError::from)
}

/// How a saga ended, as published.
#[derive(Debug, Clone, PartialEq)]
pub enum SagaOutcome {
    Completed(DatasetCreateCompleted),
    Failed(DatasetCreateFailed),
}

impl SagaOutcome {
    pub fn dataset_id(&self) -> &str {
        match self {
            Self::Completed(c) => &c.dataset_id,
            Self::Failed(f) => &f.dataset_id,
        }
    }

    pub fn saga_id(&self) -> &str {
        match self {
            Self::Completed(c) => &c.saga_id,
            Self::Failed(f) => &f.saga_id,
        }
    }

    /// Reads a record of the completed or failed topic.
    pub fn parse(topics: &SagaTopics, topic: &str, payload: &[u8]) -> Option<Self> {
        if topic == topics.completed {
            serde_json::from_slice(payload).ok().map(Self::Completed)
        } else if topic == topics.failed {
            serde_json::from_slice(payload).ok().map(Self::Failed)
        } else {
            None
        }
    }
}

/// Watches `completed` and `failed` from their current ends: start it *before*
/// publishing the request, so the answer cannot slip past.
pub struct OutcomeWatcher {
    consumer: BaseConsumer,
    topics: SagaTopics,
}

impl std::fmt::Debug for OutcomeWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeWatcher")
            .field("topics", &self.topics)
            .finish()
    }
}

impl OutcomeWatcher {
    /// Blocking: reads metadata and watermarks.
    pub fn start(settings: &KafkaSettings, topics: &SagaTopics) -> Result<Self, SagaError> {
        let fetch_wait = settings.fetch_wait_ms.to_string();
        let consumer: BaseConsumer = settings
            .client_config_with(&[
                ("group.id", groups::PORTAL),
                ("enable.auto.commit", "false"),
                ("fetch.wait.max.ms", &fetch_wait),
                ("log_level", "3"),
            ])
            .create()
            .map_err(|source| SagaError::CreateConsumer {
                group: groups::PORTAL.to_owned(),
                source,
            })?;
        let mut assignment = TopicPartitionList::new();
        for topic in [&topics.completed, &topics.failed] {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(|source| SagaError::Subscribe {
                    topics: topic.clone(),
                    source,
                })?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic.as_str())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                return Err(SagaError::Config(format!(
                    "topic {topic} does not exist on the cluster"
                )));
            }
            for partition in partitions {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .map_err(|source| SagaError::Subscribe {
                        topics: topic.clone(),
                        source,
                    })?;
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(high))
                    .map_err(|source| SagaError::Subscribe {
                        topics: topic.clone(),
                        source,
                    })?;
            }
        }
        consumer
            .assign(&assignment)
            .map_err(|source| SagaError::Subscribe {
                topics: "completed/failed".to_owned(),
                source,
            })?;
        Ok(Self {
            consumer,
            topics: topics.clone(),
        })
    }

    /// Blocking: the first outcome for `dataset_id`, or `None` after `timeout`.
    pub fn wait(&self, dataset_id: &str, timeout: Duration) -> Option<SagaOutcome> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let payload = message.payload().unwrap_or_default();
            if let Some(outcome) = SagaOutcome::parse(&self.topics, message.topic(), payload)
                && outcome.dataset_id() == dataset_id
            {
                return Some(outcome);
            }
        }
        None
    }
}
