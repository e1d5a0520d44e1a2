//! Consumer settings for components that subscribe in consumer groups (saga, adapters).
//!
//! At-least-once (docs/architecture.md, "Delivery"): auto-commit stays on but offsets are *stored* only after a
//! record was processed (`enable.auto.offset.store=false`), so a crash re-delivers and the
//! handlers must be idempotent. The fetch wait depends on the broker
//! ([`KafkaSettings::fetch_wait_ms`]).

use rdkafka::ClientConfig;

use crate::settings::KafkaSettings;

/// Settings for a group member of `group`.
pub fn group_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let fetch_wait = settings.fetch_wait_ms.to_string();
    settings.client_config_with(&[
        ("group.id", group),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "1000"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("fetch.wait.max.ms", &fetch_wait),
        ("fetch.min.bytes", "1"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
        ("log_level", "3"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{CLUSTER_FETCH_WAIT_MS, EMBEDDED_FETCH_WAIT_MS};

    #[test]
    fn a_cluster_gets_a_long_fetch_wait_the_embedded_broker_a_short_one_and_the_operator_wins() {
        let cluster = KafkaSettings::new("kafka:9092");
        let wait = |settings: &KafkaSettings| {
            group_config(settings, "g")
                .get("fetch.wait.max.ms")
                .map(str::to_owned)
        };
        assert_eq!(wait(&cluster), Some(CLUSTER_FETCH_WAIT_MS.to_string()));
        let embedded = cluster.clone().with_fetch_wait_ms(EMBEDDED_FETCH_WAIT_MS);
        assert_eq!(wait(&embedded), Some(EMBEDDED_FETCH_WAIT_MS.to_string()));
        let tuned = cluster.with_client_options([("fetch.wait.max.ms", "7")]);
        assert_eq!(wait(&tuned).as_deref(), Some("7"));
    }
}
