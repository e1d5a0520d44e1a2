//! Client settings shared by every component of a process.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// Where the brokers are and how to talk to them.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port]`, as `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: String,
    /// Prefix of the CRUD service's topics, as `KAFKA_TOPIC_PREFIX` (default `crud`).
    pub topic_prefix: String,
    /// Raw librdkafka options passed through unchanged (TLS, SASL, tuning), e.g.
    /// `security.protocol=SASL_SSL`. They override our defaults.
    pub client_options: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// Settings for the given bootstrap servers with the default prefix.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            topic_prefix: "crud".to_owned(),
            client_options: BTreeMap::new(),
        }
    }

    /// Replaces the CRUD topic prefix.
    pub fn with_topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Adds `KEY=VALUE` librdkafka options, as parsed from `--kafka-option` flags.
    pub fn with_client_options<I, K, V>(mut self, options: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.client_options
            .extend(options.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// A librdkafka configuration with the bootstrap servers and the passthrough options.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in &self.client_options {
            config.set(key, value);
        }
        config
    }

    /// Like [`client_config`](Self::client_config), but `defaults` apply first so that the
    /// operator's passthrough options win.
    pub fn client_config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.client_options {
            config.set(key, value);
        }
        config
    }
}
