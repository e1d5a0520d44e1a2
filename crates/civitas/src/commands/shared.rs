//! Arguments and helpers several subcommands share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use civitas_kafka::{ConsumedRecord, KafkaSettings};
use civitas_topics::{CrudTopics, NamingContext};

/// Where the Kafka cluster is.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Bootstrap servers of the cluster.
    #[arg(
        long = "kafka",
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

impl KafkaArgs {
    pub fn settings(&self) -> anyhow::Result<KafkaSettings> {
        self.client.settings(&self.bootstrap)
    }

    pub fn crud_topics(&self) -> anyhow::Result<CrudTopics> {
        self.client.crud_topics()
    }
}

/// Topic prefix and raw client options (shared with `up`, whose `--kafka` is optional).
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Prefix of the CRUD service's topics.
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "crud")]
    pub topic_prefix: String,
    /// A raw librdkafka option, KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL.
    #[arg(
        long = "kafka-option",
        value_name = "KEY=VALUE",
        env = "KAFKA_OPTIONS",
        value_delimiter = ','
    )]
    pub options: Vec<String>,
    /// How long the saga's consumers let the broker hold an empty fetch (fetch.wait.max.ms).
    /// Default 500 on a cluster, which answers as soon as data arrives; 1 on the embedded
    /// broker, which answers only when the wait is over (so does tansu).
    #[arg(long, env = "CIVITAS_FETCH_WAIT_MS", value_parser = clap::value_parser!(u32).range(0..=300_000))]
    pub fetch_wait_ms: Option<u32>,
}

impl ClientArgs {
    pub fn settings(&self, bootstrap: &str) -> anyhow::Result<KafkaSettings> {
        let options = parse_kafka_options(&self.options)?;
        let mut settings = KafkaSettings::new(bootstrap).with_client_options(options);
        if let Some(ms) = self.fetch_wait_ms {
            settings = settings.with_fetch_wait_ms(ms);
        }
        Ok(settings)
    }

    /// The naming context with the CRUD prefix of `--topic-prefix`, checked.
    pub fn naming(&self) -> anyhow::Result<NamingContext> {
        NamingContext::new()
            .with_crud_prefix(&self.topic_prefix)
            .context("--topic-prefix / KAFKA_TOPIC_PREFIX")
    }

    /// The CRUD topics under `--topic-prefix`.
    pub fn crud_topics(&self) -> anyhow::Result<CrudTopics> {
        Ok(CrudTopics::in_context(&self.naming()?))
    }
}

/// The values of `--kafka-option` flags as `(key, value)` pairs; an error names the flag.
pub fn parse_kafka_options(options: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    options
        .iter()
        .map(|o| parse_pair(o).with_context(|| format!("--kafka-option {o:?}")))
        .collect()
}

/// Splits `key=value`.
pub fn parse_pair(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => bail!("expected KEY=VALUE, got {text:?}"),
    }
}

/// A flag set on Ctrl-C or SIGTERM, for blocking loops.
pub fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Prints a record as [`civitas_kafka::display::render_record`] shows it.
pub fn print_record(record: &ConsumedRecord, json: bool) {
    println!("{}", civitas_kafka::display::render_record(record, json));
}
