//! Test helpers for civitas: an embedded broker per test, unique names, and a plain rdkafka
//! consumer that reads what the code under test published.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use civitas_kafka::{ConsumedRecord, EmbeddedBroker, KafkaSettings};
use civitas_topics::CrudTopics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Starts an embedded broker with `brokers` brokers on random loopback ports.
pub async fn start_broker(brokers: i32) -> EmbeddedBroker {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("a literal socket address");
    EmbeddedBroker::start(any_port, brokers)
        .await
        .expect("the embedded broker starts")
}

/// Client settings for `broker`.
pub fn settings(broker: &EmbeddedBroker) -> KafkaSettings {
    broker.settings()
}

/// The CRUD topics under a unique prefix (`crud-<random>`), so tests never share topics.
pub fn crud_topics() -> CrudTopics {
    CrudTopics::with_prefix(&unique_name("crud")).expect("crud-<hex> is a valid CRUD prefix")
}

/// `prefix-<random>`: unique topic, group and prefix names per test.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Reads `topic` from the beginning with a plain rdkafka consumer until `count` records
/// arrived or `timeout` passed; returns what it got.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("test-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .set("log_level", "3")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition offset");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            records.push(ConsumedRecord::from_message(&message));
        }
    }
    records
}
