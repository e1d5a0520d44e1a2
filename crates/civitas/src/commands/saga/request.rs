//! `civitas saga request`: publishes a dataset.create.requested as the portal does, and
//! with `--wait` waits for its outcome.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use civitas_events::saga::{DatasetApi, DatasetCreateRequested};
use civitas_kafka::Publisher;
use civitas_saga::request::{OutcomeWatcher, SagaOutcome, request_record};
use civitas_topics::SagaTopics;

use crate::commands::shared::{KafkaArgs, parse_pair};

#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    #[arg(long)]
    pub dataset_id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// An API to route, SLUG=UPSTREAM_URL (repeatable), e.g. sensorthings=http://frost:8080/FROST-Server/v1.1
    #[arg(long = "api", value_name = "SLUG=UPSTREAM_URL")]
    pub apis: Vec<String>,
    /// Wait for dataset.create.completed or .failed and print it (exit 1 on failed).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value_t = 120)]
    pub wait_timeout_secs: u64,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub(super) async fn request(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let apis = args
        .apis
        .iter()
        .map(|text| {
            let (slug, upstream_url) =
                parse_pair(text).with_context(|| format!("--api {text:?}"))?;
            Ok(DatasetApi { slug, upstream_url })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = DatasetCreateRequested {
        message_id: uuid::Uuid::new_v4().to_string(),
        dataset_id: args.dataset_id.clone(),
        name: args.name.clone(),
        description: args.description.clone(),
        apis,
        requested_by: Some("civitas-cli".to_owned()),
    };
    let problems = request.problems();
    if !problems.is_empty() {
        bail!("invalid request: {}", problems.join("; "));
    }
    let settings = args.kafka.settings()?;
    let topics = SagaTopics::default();
    let watcher = if args.wait {
        let (settings, topics) = (settings.clone(), topics.clone());
        Some(
            tokio::task::spawn_blocking(move || OutcomeWatcher::start(&settings, &topics))
                .await?
                .context("watching the completed and failed topics")?,
        )
    } else {
        None
    };
    // With spans exported, the request starts the saga's trace (and prints its id).
    let span = tracing::info_span!("saga.request", dataset_id = %request.dataset_id);
    let record = span.in_scope(|| {
        request_record(
            &topics,
            &request,
            civitas_saga::request::CLI_SOURCE,
            &request.message_id,
        )
    })?;
    if let Some(trace) = civitas_telemetry::trace_of(&span) {
        println!("trace id {}", trace.trace_id);
    }
    drop(span);
    let publisher = Publisher::connect(&settings)?;
    publisher.send(record);
    tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10)))
        .await?
        .with_context(|| format!("publishing to {}", settings.bootstrap_servers))?;
    println!(
        "published {} for dataset {}: message id {} (correlation id {})",
        topics.requested, request.dataset_id, request.message_id, request.message_id
    );
    let Some(watcher) = watcher else {
        return Ok(ExitCode::SUCCESS);
    };
    let dataset_id = request.dataset_id.clone();
    let timeout = Duration::from_secs(args.wait_timeout_secs);
    let outcome = tokio::task::spawn_blocking(move || watcher.wait(&dataset_id, timeout)).await?;
    match outcome {
        Some(SagaOutcome::Completed(completed)) => {
            println!(
                "COMPLETED saga {} in {} ms",
                completed.saga_id, completed.duration_ms
            );
            println!("{}", serde_json::to_string_pretty(&completed)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(SagaOutcome::Failed(failed)) => {
            println!(
                "FAILED ({}) saga {} at step {}: {}",
                serde_json::to_value(failed.status)?.as_str().unwrap_or("?"),
                failed.saga_id,
                failed.failed_step,
                failed.error
            );
            println!("{}", serde_json::to_string_pretty(&failed)?);
            Ok(ExitCode::FAILURE)
        }
        None => bail!(
            "no completed or failed message for dataset {} within {timeout:?}",
            request.dataset_id
        ),
    }
}
