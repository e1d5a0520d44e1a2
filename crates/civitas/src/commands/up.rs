//! `civitas up`: everything in one process — the broker (embedded unless `--kafka`), the
//! topics, and the services — until Ctrl-C or SIGTERM, then a graceful flush.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas_kafka::EmbeddedBroker;
use civitas_kafka::settings::EMBEDDED_FETCH_WAIT_MS;

use super::shared::{ClientArgs, shutdown_signal};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bootstrap servers of an existing cluster. Without it an embedded broker is started.
    #[arg(long = "kafka", env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka: Option<String>,
    /// Address of the embedded broker (broker i of n listens on port + i).
    #[arg(long, env = "CIVITAS_BROKER_LISTEN", default_value = "127.0.0.1:9092")]
    pub broker_listen: SocketAddr,
    /// Partitions of each topic the embedded broker creates: the catalog's count, at most this.
    #[arg(long, env = "CIVITAS_BROKER_PARTITIONS", default_value_t = 3)]
    pub partitions: i32,
    /// An extension topic catalog merged over the shipped one (repeatable); the embedded
    /// broker gets every topic of the result.
    #[arg(long = "catalog", value_name = "FILE", env = "CIVITAS_CATALOG")]
    pub catalogs: Vec<std::path::PathBuf>,
    /// How long shutdown waits for undelivered events.
    #[arg(long, env = "CIVITAS_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// Hours of history the embedded broker gets back after a restart: every record it took
    /// in that window is kept in the database (--database-url) and written back at the next
    /// start. 0: none.
    #[arg(long, env = "CIVITAS_HISTORY_HOURS", default_value_t = 24)]
    pub history_hours: u64,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub crud: super::serve::CrudArgs,
    #[command(flatten)]
    pub saga: super::saga::ServiceArgs,
}

pub async fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.crud.resolve_database_password()?;
    let crud_topics = args.client.crud_topics()?;
    let (broker, bootstrap) = match &args.kafka {
        Some(bootstrap) => {
            println!("civitas: using the Kafka cluster at {bootstrap}");
            let settings = args.client.settings(bootstrap)?;
            super::topics::hint_missing_topics(
                &settings,
                &args.catalogs,
                &args.client.topic_prefix,
            )
            .await;
            (None, bootstrap.clone())
        }
        None => {
            let broker = EmbeddedBroker::start(args.broker_listen, 1)
                .await
                .with_context(|| {
                    format!("starting the embedded broker on {}", args.broker_listen)
                })?;
            super::topics::provision_embedded(
                &broker,
                &args.catalogs,
                &args.client.topic_prefix,
                args.partitions,
            )?;
            let bootstrap = broker.bootstrap_servers().to_owned();
            println!("civitas: embedded Kafka broker listening on {bootstrap}");
            println!("         try: kcat -b {bootstrap} -L");
            println!(
                "WARNING: the embedded broker keeps events in memory, at most {} records or {} MB per partition \
                 (about {} CRUD events); older ones are evicted. A restart gets back {} of its records \
                 from the database (--history-hours). Use --kafka HOST:PORT (or KAFKA_BOOTSTRAP_SERVERS) \
                 for a real cluster.",
                civitas_kafka::broker::EVICTION_RECORDS,
                civitas_kafka::broker::EVICTION_BYTES / 1_000_000,
                civitas_kafka::broker::EVICTION_CRUD_EVENTS,
                if args.history_hours == 0 {
                    "none".to_owned()
                } else {
                    format!("the last {} h", args.history_hours)
                },
            );
            (Some(broker), bootstrap)
        }
    };
    println!("civitas: crud topics: {}", crud_topics.all().join(", "));

    let mut settings = args.client.settings(&bootstrap)?;
    if broker.is_some() && args.client.fetch_wait_ms.is_none() {
        // The embedded broker answers a fetch only when its wait is over.
        settings = settings.with_fetch_wait_ms(EMBEDDED_FETCH_WAIT_MS);
    }
    // The embedded broker forgets everything when it stops: its journal writes the history
    // back first, then keeps copying what it takes.
    let journal = match &broker {
        Some(_) if args.history_hours > 0 => Some(start_journal(&args, &settings).await?),
        _ => None,
    };
    let outbox = super::serve::crud_outbox(&settings, &args.crud).await?;
    // The saga runs in this process: its figures go to /metrics and crud.metrics too, and
    // the console reads its store.
    let saga_store = civitas_saga::SagaStore::connect(&args.crud.database_url)
        .await
        .context("opening the saga store for its metrics and the console")?;
    let saga_metrics: std::sync::Arc<dyn civitas_crud::metrics::ExtraMetrics> =
        std::sync::Arc::new(super::saga::metrics::SagaMetrics::new(saga_store.clone()));
    let console = args.crud.console_settings(
        &settings,
        args.client.naming()?,
        Some(std::sync::Arc::new(
            super::saga::console::ConsoleSagas::new(saga_store),
        )),
    )?;
    let crud = super::serve::start_crud(
        &args.crud,
        &crud_topics,
        outbox.clone(),
        true,
        Some(saga_metrics),
        console,
    )
    .await?;
    let mut saga = super::saga::start_in_up(
        &args.saga,
        args.crud.secrets.settings(true),
        crud_topics.clone(),
        &settings,
        &args.crud.database_url,
        broker.as_ref(),
        args.partitions,
    )
    .await?;

    println!("civitas: ready (Ctrl-C to stop)");
    // A component that dies (an adapter's task, say) stops the whole process, loudly: a
    // half-running `up` looks healthy while sagas wait forever.
    let failed = tokio::select! {
        () = shutdown_signal() => false,
        (which, result) = saga.failed() => {
            eprintln!("civitas: the {} stopped unexpectedly ({}); shutting everything down", which.name(), match result {
                Ok(()) => "without an error".to_owned(),
                Err(err) => format!("{:#}", anyhow::Error::from(err)),
            });
            true
        }
    };
    let services = civitas_services::Services {
        crud: Some(crud),
        saga: Some(saga),
        outbox: Some(outbox),
        journal,
    };
    let code = super::serve::stop(services, Duration::from_secs(args.shutdown_timeout_secs)).await;
    Ok(if failed { ExitCode::FAILURE } else { code })
}

/// Writes the embedded broker's history of the last `--history-hours` back into it, then
/// starts copying everything it takes (`civitas_kafka::journal`).
async fn start_journal(
    args: &Args,
    settings: &civitas_kafka::KafkaSettings,
) -> anyhow::Result<civitas_kafka::journal::Journal> {
    let window = Duration::from_secs(args.history_hours.saturating_mul(3600));
    let (journal, replayed) =
        civitas_services::start_journal(&args.crud.database_url, settings, window)
            .await
            .context("writing the embedded broker's history back and starting its journal")?;
    println!(
        "civitas: history: {replayed} record(s) of the last {} h written back into the embedded broker",
        args.history_hours
    );
    Ok(journal)
}
