//! Consumer settings for components that subscribe in consumer groups (saga, adapters).
//!
//! At-least-once (DESIGN.md §8): auto-commit stays on but offsets are *stored* only after a
//! record was processed (`enable.auto.offset.store=false`), so a crash re-delivers and the
//! handlers must be idempotent. Fetch waits are short because the saga's latency budget is
//! tens of milliseconds.

use rdkafka::ClientConfig;

use crate::settings::KafkaSettings;

/// Settings for a group member of `group`.
pub fn group_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    settings.client_config_with(&[
        ("group.id", group),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "1000"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("fetch.wait.max.ms", "10"),
        ("fetch.min.bytes", "1"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
        ("log_level", "3"),
    ])
}
