//! `civitas emit --count N`: sample events on every crud topic, for trying the tools.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas_events::Masker;
use civitas_kafka::{CrudEvents, Publisher};

use super::shared::KafkaArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many events to publish (a secret event counts once though it is written twice).
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// The envelope's `service`.
    #[arg(long, env = "CIVITAS_SERVICE_NAME", default_value = "crud-service")]
    pub service: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.kafka.settings()?;
    let publisher = Publisher::connect(&settings)?;
    let events = CrudEvents::new(
        publisher.clone(),
        args.kafka.crud_topics()?,
        &args.service,
        Masker::default(),
    );
    let ids = civitas_kafka::samples::emit(&events, args.count)?;
    tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(30)))
        .await?
        .with_context(|| format!("delivering to {}", settings.bootstrap_servers))?;
    println!(
        "published {} events to {} ({} correlation ids, e.g. {})",
        args.count,
        events.topics().all().join(", "),
        ids.len(),
        ids.first().map(String::as_str).unwrap_or("-"),
    );
    Ok(ExitCode::SUCCESS)
}
