//! Arguments and helpers several subcommands share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use civitas_http::{CredentialRef, CredentialResolver};
use civitas_kafka::{ConsumedRecord, KafkaSettings};
use civitas_secrets::{NoEvents, SecretService, SecretSettings, VaultSettings};
use civitas_topics::{CrudTopics, NamingContext};
use secrecy::ExposeSecret;

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
        let options = resolve_kafka_options(parse_kafka_options(&self.options)?)?;
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

/// Resolves option values that are credential pointers (`sasl.password=openbao+kv2://…`)
/// before the client is built; a credential option (`*password*`, `*secret*`, `ssl.key.pem`)
/// must be one. Pointers into a vault use `VAULT_ADDR`/`BAO_ADDR` and their token. Kafka's own
/// credentials are read before Kafka is reachable, so their lookups are not published.
pub fn resolve_kafka_options(
    options: Vec<(String, String)>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut resolved = Vec::with_capacity(options.len());
    let mut pending = Vec::new();
    for (key, value) in options {
        match CredentialRef::parse(&value) {
            Ok(pointer) => pending.push((key, pointer)),
            Err(error) if civitas_kafka::is_credential_option(&key) => {
                bail!("--kafka-option {key}: {error}")
            }
            Err(_) => resolved.push((key, value)),
        }
    }
    let labelled: Vec<(String, CredentialRef)> = pending
        .iter()
        .map(|(key, pointer)| (format!("--kafka-option {key}"), pointer.clone()))
        .collect();
    let values = resolve_now(&labelled)?;
    resolved.extend(pending.into_iter().map(|(key, _)| key).zip(values));
    Ok(resolved)
}

/// Resolves credentials a client needs before it is built (Kafka's, the database's) — once,
/// at start: such a client is not rebuilt when the secret rotates. `label` names the setting
/// in errors. Vault pointers use `VAULT_ADDR`/`BAO_ADDR` and their token; the lookups are not
/// published (Kafka may not be reachable yet): a failure stops the start.
pub fn resolve_now(pointers: &[(String, CredentialRef)]) -> anyhow::Result<Vec<String>> {
    if pointers.is_empty() {
        return Ok(Vec::new());
    }
    // Its own thread and runtime: callers may be sync code inside any runtime.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let settings = SecretSettings {
                    vault: VaultSettings::from_variables(|name| std::env::var(name).ok()),
                    ..SecretSettings::default()
                };
                let service = SecretService::new(&settings, Arc::new(NoEvents))?;
                runtime.block_on(async {
                    let mut values = Vec::new();
                    for (label, pointer) in pointers {
                        let value = service
                            .resolve(pointer)
                            .await
                            .with_context(|| label.clone())?;
                        values.push(value.value.expose_secret().to_owned());
                    }
                    anyhow::Ok(values)
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("resolving credentials panicked"))?
    })
}

/// `url` with the password `pointer` resolves to (`--database-password`): a postgres:// URL
/// with a user and no password of its own. Resolved once, at start.
pub fn database_url_with(url: &str, password: Option<&CredentialRef>) -> anyhow::Result<String> {
    let Some(pointer) = password else {
        return Ok(url.to_owned());
    };
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        bail!("--database-password needs a postgres:// --database-url");
    };
    // The user is in the authority only (before the path or query, which may hold an `@`).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        bail!("--database-password needs a user in --database-url (postgres://USER@HOST/DB)");
    };
    let (user, host) = (&rest[..at], &rest[at + 1..]);
    if user.contains(':') {
        bail!("--database-url already holds a password: remove it and keep --database-password");
    }
    let password = resolve_now(&[("--database-password".to_owned(), pointer.clone())])?.remove(0);
    let scheme = &url[..url.len() - rest.len()];
    Ok(format!(
        "{scheme}{user}:{}@{host}",
        civitas_http::url_path::encode_segment(&password)
    ))
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

/// Says on stderr which partitions of `topics` lost their oldest records, so that a short
/// history is never mistaken for the whole one.
pub fn note_gone(reader: &civitas_kafka::Reader, topics: &[String]) -> anyhow::Result<()> {
    for topic in topics {
        for (partition, first) in reader.gone(topic)? {
            eprintln!(
                "note: {topic}[{partition}] begins at offset {first}: its {first} older record(s) are gone \
                 (the broker's retention, or the embedded broker's limit of {} records or {} MB per partition)",
                civitas_kafka::broker::EVICTION_RECORDS,
                civitas_kafka::broker::EVICTION_BYTES / 1_000_000
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kafka_credential_option_is_resolved_and_a_literal_one_refused_unrepeated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sasl");
        std::fs::write(&path, "s3cret\n").unwrap();
        let options = vec![
            ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
            (
                "sasl.password".to_owned(),
                format!("file:{}", path.display()),
            ),
        ];
        let resolved = resolve_kafka_options(options).unwrap();
        assert_eq!(
            resolved,
            [
                ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
                ("sasl.password".to_owned(), "s3cret".to_owned()),
            ]
        );
        let settings = KafkaSettings::new("b:9092").with_client_options(resolved);
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "Debug hides it"
        );

        let literal = vec![("sasl.password".to_owned(), "hunter2".to_owned())];
        let error = format!("{:#}", resolve_kafka_options(literal).unwrap_err());
        assert!(error.contains("NOT_A_POINTER"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn the_database_password_goes_into_the_url_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg");
        std::fs::write(&path, "p@ss:w/rd").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let url = database_url_with("postgres://civitas@db:5432/civitas", Some(&pointer)).unwrap();
        assert_eq!(url, "postgres://civitas:p%40ss%3Aw%2Frd@db:5432/civitas");
        assert!(database_url_with("sqlite://x.db", Some(&pointer)).is_err());
        assert!(
            database_url_with("postgres://db/x?application_name=a@b", Some(&pointer)).is_err(),
            "an @ in the query is no user"
        );
        assert!(database_url_with("postgres://u:pw@db/x", Some(&pointer)).is_err());
        assert_eq!(
            database_url_with("sqlite://x.db", None).unwrap(),
            "sqlite://x.db"
        );
    }
}
