//! `civitas saga list|show|request`, plus the saga's pieces of `up`, `serve` and `bench`:
//! the dataset-provisioning saga (docs/saga.md).
//!
//! - [`console`]: the saga store as the web console reads it;
//! - [`inspect`]: `saga list` and `saga show` (the store, read);
//! - [`request`]: `saga request` (a portal's request, optionally waited for);
//! - [`service`]: the saga's settings and components in `up` and `serve …`;
//! - [`bench`](mod@bench): `bench saga`.

mod bench;
pub mod console;
mod inspect;
pub mod metrics;
mod probes;
mod request;
mod service;

use std::process::ExitCode;

use anyhow::Context;
use civitas_saga::SagaStore;
use civitas_saga::store::redact_url;

pub use bench::{BenchArgs, bench};
use inspect::{ListArgs, ShowArgs};
pub use request::RequestArgs;
pub use service::{ServeArgs, ServiceArgs, serve, start_in_up};

const DEFAULT_DATABASE_URL: &str = "sqlite://.civitas/civitas.db";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SagaCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SagaCommand {
    /// Every saga, newest first: id, dataset, status, steps done, start, duration, error.
    List(ListArgs),
    /// One saga's steps and timeline (by saga id, a unique prefix of it, or dataset id).
    Show(ShowArgs),
    /// Publish a dataset.create.requested, as the portal does (for trying the saga).
    Request(RequestArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The orchestrator's database: sqlite://PATH or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        SagaCommand::List(args) => inspect::list(args).await,
        SagaCommand::Show(args) => inspect::show(args).await,
        SagaCommand::Request(args) => request::request(args).await,
    }
}

async fn open(store: &StoreArgs) -> anyhow::Result<SagaStore> {
    SagaStore::connect(&store.database_url)
        .await
        .with_context(|| format!("opening the saga store {}", redact_url(&store.database_url)))
}
