//! The saga's Kafka settings (low-latency producer and consumer options, its group
//! consumers); the consume loop and what it works on are `civitas_kafka::consume`'s,
//! re-exported here.

use civitas_kafka::KafkaSettings;
pub use civitas_kafka::consume::{
    AfterFailure, Emit, Envelope, Failure, Failures, MAX_FAILURES, Poison, Received, Recorder,
    consume, error_chain, outgoing_traceparent, send_dead_letter, stopped,
};
use rdkafka::consumer::{Consumer, StreamConsumer};

use crate::error::SagaError;

/// Producer options of the saga's publisher: one hop must cost about a millisecond, so no
/// batching delay (measured on the embedded broker: `linger.ms=1` raises the one-in-flight
/// p50 from ~10 to ~17 ms). The operator's passthrough options still win.
pub const PRODUCER_LATENCY: &[(&str, &str)] = &[("linger.ms", "0")];

/// Consumer options of the saga's group members: quick retries after a fetch error. The
/// fetch wait comes from the settings: long on a Kafka cluster, which answers as soon as
/// data arrives, short on the embedded broker, which answers only when the wait is over
/// ([`KafkaSettings::fetch_wait_ms`]).
pub const CONSUMER_LATENCY: &[(&str, &str)] = &[
    ("fetch.error.backoff.ms", "10"),
    ("enable.partition.eof", "false"),
];

/// `settings` with the saga's producer latency options added, unless the operator set them.
pub fn low_latency(settings: &KafkaSettings) -> KafkaSettings {
    let mut settings = settings.clone();
    for (key, value) in PRODUCER_LATENCY {
        settings
            .client_options
            .entry((*key).to_owned())
            .or_insert_with(|| (*value).to_owned());
    }
    settings
}

/// A consumer in `group`, subscribed to `topics`, storing offsets only after processing.
pub fn consumer(
    settings: &KafkaSettings,
    group: &str,
    topics: &[String],
) -> Result<StreamConsumer, SagaError> {
    let mut config = civitas_kafka::consumer::group_config(settings, group);
    for (key, value) in CONSUMER_LATENCY {
        if !settings.client_options.contains_key(*key) {
            config.set(*key, *value);
        }
    }
    let consumer: StreamConsumer = config
        .create()
        .map_err(|source| SagaError::CreateConsumer {
            group: group.to_owned(),
            source,
        })?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|source| SagaError::Subscribe {
            topics: names.join(", "),
            source,
        })?;
    Ok(consumer)
}

impl Failure for SagaError {
    fn is_transient(&self) -> bool {
        SagaError::is_transient(self)
    }
}
