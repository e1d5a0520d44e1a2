//! `civitas saga list` and `civitas saga show`: the saga store, read.

use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use civitas_saga::SagaStatus;
use civitas_saga::machine::Saga;

use civitas_saga::store::redact_url;

use super::{StoreArgs, open};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only sagas in this status (e.g. COMPENSATION_FAILED).
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Saga id, a unique prefix of it, or a dataset id.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The whole stored state as JSON.
    #[arg(long)]
    pub json: bool,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn duration(saga: &Saga) -> String {
    let end = saga.finished_at.unwrap_or_else(Utc::now);
    format_ms((end - saga.created_at).num_milliseconds())
}

fn format_ms(ms: i64) -> String {
    if ms < 10_000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn saga_error(saga: &Saga) -> String {
    saga.failure
        .as_ref()
        .map(|f| format!("{}: {}", f.step_id, f.error))
        .unwrap_or_default()
}

fn parse_status(text: &str) -> anyhow::Result<SagaStatus> {
    serde_json::from_value(serde_json::Value::String(text.to_ascii_uppercase())).map_err(|_| {
        anyhow::anyhow!(
            "unknown status {text:?}; one of PENDING, EXECUTING, COMPLETED, COMPENSATING, COMPENSATED, COMPENSATION_FAILED, FAILED"
        )
    })
}

pub(super) async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let status = args.status.as_deref().map(parse_status).transpose()?;
    let store = open(&args.store).await?;
    let sagas = store.list(status, args.limit).await?;
    if sagas.is_empty() {
        println!("no sagas in {}", redact_url(&args.store.database_url));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<20}  {:<19}  {:<5}  {:<24}  {:>9}  ERROR",
        "SAGA ID", "DATASET", "STATUS", "STEPS", "STARTED", "DURATION"
    );
    for saga in &sagas {
        let (done, total) = saga.steps_done();
        println!(
            "{:<36}  {:<20}  {:<19}  {:<5}  {:<24}  {:>9}  {}",
            saga.saga_id,
            saga.dataset_id,
            saga.status,
            format!("{done}/{total}"),
            time(saga.created_at),
            duration(saga),
            saga_error(saga)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.store).await?;
    let Some(saga) = store.find(&args.id).await? else {
        bail!(
            "no saga with id, unique id prefix or dataset id {:?}",
            args.id
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&saga)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (done, total) = saga.steps_done();
    println!("saga        {}", saga.saga_id);
    println!("dataset     {} ({})", saga.dataset_id, saga.request.name);
    println!("status      {}   steps done {done}/{total}", saga.status);
    println!(
        "request     {}   correlation {}",
        saga.request_id, saga.correlation_id
    );
    println!(
        "started     {}   finished {}   took {}",
        time(saga.created_at),
        saga.finished_at.map(time).unwrap_or_else(|| "-".to_owned()),
        duration(&saga)
    );
    if let Some(failure) = &saga.failure {
        println!("error       {}: {}", failure.step_id, failure.error);
    }
    println!();
    println!("STEPS");
    for step in &saga.steps {
        let dispatched_at = step.dispatch.as_ref().map(|d| d.dispatched_at);
        let took = match (dispatched_at, step.finished_at) {
            (Some(a), Some(b)) => format_ms((b - a).num_milliseconds()),
            _ => "-".to_owned(),
        };
        println!(
            "  {:<16} {:<19} dispatched {}  took {}  http tries {}  sent {}x",
            step.step_id,
            step.status,
            dispatched_at.map(time).unwrap_or_else(|| "-".to_owned()),
            took,
            step.attempts,
            step.dispatch.as_ref().map_or(0, |d| d.dispatches)
        );
        for resource in &step.resources {
            println!(
                "      {} {}{}{}",
                resource.kind,
                resource.id,
                resource
                    .url
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default(),
                if resource.created {
                    ""
                } else {
                    " (reused, kept)"
                }
            );
        }
        if let Some(error) = &step.error {
            println!("      error: {error}");
        }
        if let Some(c) = &step.compensation {
            println!(
                "      compensation: sent {}  finished {}{}",
                c.dispatch
                    .as_ref()
                    .map(|d| time(d.dispatched_at))
                    .unwrap_or_else(|| "-".to_owned()),
                c.finished_at.map(time).unwrap_or_else(|| "-".to_owned()),
                c.error
                    .as_ref()
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
        for late in &step.late_results {
            println!(
                "      late result {:?} at {} (ignored)",
                late.status,
                time(late.received_at)
            );
        }
    }
    println!();
    println!("TIMELINE");
    for entry in &saga.timeline {
        let offset = (entry.at - saga.created_at).num_milliseconds();
        println!(
            "  {}  +{:>6} ms  {:<16} {}{}",
            time(entry.at),
            offset,
            entry.step.as_deref().unwrap_or("-"),
            entry.event,
            entry
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
