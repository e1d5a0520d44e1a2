//! Client settings shared by every component of a process.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// How long a consumer's fetch waits at a Kafka cluster for new data (`fetch.wait.max.ms`).
///
/// A Kafka broker answers a fetch as soon as data arrives, so a long wait costs no latency
/// and keeps an idle consumer from sending a fetch every few milliseconds: with 1 ms, one
/// idle `civitas up` made its broker (tansu) spend a quarter of a core.
pub const CLUSTER_FETCH_WAIT_MS: u32 = 500;

/// The fetch wait on the embedded broker, which (like tansu) answers a fetch only when its
/// wait is over: every hop of the saga waits this long once (measured: 1 ms, saga p50
/// ~6 ms, the idle process ~0.23 core; 5 ms, ~20 ms and ~0.10 core; 20 ms, ~40 ms and
/// ~0.05 core).
pub const EMBEDDED_FETCH_WAIT_MS: u32 = 1;

/// Where the brokers are and how to talk to them. Its `Debug` form hides the values of
/// credential options (keys with `password`, `secret` or `key`): they hold resolved secrets.
#[derive(Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port]`, as `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: String,
    /// Raw librdkafka options passed through unchanged (TLS, SASL, tuning), e.g.
    /// `security.protocol=SASL_SSL`. They override our defaults.
    pub client_options: BTreeMap<String, String>,
    /// `fetch.wait.max.ms` of the long-running consumers (saga, adapters):
    /// [`CLUSTER_FETCH_WAIT_MS`], or [`EMBEDDED_FETCH_WAIT_MS`] on the embedded broker.
    /// A `fetch.wait.max.ms` in `client_options` wins.
    pub fetch_wait_ms: u32,
}

/// Whether a librdkafka option holds a credential (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, `ssl.key.pem`, …).
pub fn is_credential_option(key: &str) -> bool {
    ["password", "secret", "key.pem"]
        .iter()
        .any(|part| key.contains(part))
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: BTreeMap<&str, &str> = self
            .client_options
            .iter()
            .map(|(k, v)| {
                let shown = if is_credential_option(k) {
                    "****"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_options", &options)
            .field("fetch_wait_ms", &self.fetch_wait_ms)
            .finish()
    }
}

impl KafkaSettings {
    /// Settings for the given bootstrap servers.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            client_options: BTreeMap::new(),
            fetch_wait_ms: CLUSTER_FETCH_WAIT_MS,
        }
    }

    /// Replaces the consumers' fetch wait (see [`fetch_wait_ms`](Self::fetch_wait_ms)).
    pub fn with_fetch_wait_ms(mut self, ms: u32) -> Self {
        self.fetch_wait_ms = ms;
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
