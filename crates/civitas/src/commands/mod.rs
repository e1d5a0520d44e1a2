//! One module per subcommand. Each exposes `Args` (clap) and `run`.

pub mod acls;
pub mod bench;
pub mod bench_execute;
pub mod bench_trace;
pub mod config;
pub mod crud_args;
pub mod emit;
pub mod saga;
pub mod secret_args;
pub mod secrets;
pub mod serve;
pub mod shared;
pub mod tail;
pub mod topics;
pub mod trace;
pub mod up;
pub mod workflow;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::settings_file::SettingsFile;

/// The event core of a smart-city data platform.
#[derive(Debug, Parser)]
#[command(name = "civitas", version, about)]
pub struct Cli {
    /// A settings file (YAML) whose values stand in for flags not given (flag > environment
    /// > file > default); format: docs/operations.md. `civitas config show` prints the result.
    #[arg(long, global = true, env = crate::settings_file::CONFIG_ENV, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line's definition, before a settings file is applied.
    pub fn command_for_settings() -> clap::Command {
        Self::command()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // `up` and `serve` are boxed: they carry every service's settings, several times the
    // size of the other commands.
    /// Run everything in one process: broker (embedded unless --kafka), topics, services.
    Up(Box<up::Args>),
    /// Run one component on its own against an existing Kafka cluster (e.g. `serve crud`).
    Serve(Box<serve::Args>),
    /// Publish sample events on every crud topic (for trying the tools).
    Emit(emit::Args),
    /// The last N records of a topic across all partitions, ordered by time.
    Tail(tail::Args),
    /// Every record with a correlation id, across topics, as a timeline.
    Trace(trace::Args),
    /// Benchmarks that print our figures beside their baselines.
    #[command(subcommand)]
    Bench(bench::Command),
    /// The topic catalog: lint, list, plan/apply against a cluster, render (Strimzi), AsyncAPI.
    Topics(topics::Args),
    /// The ACL matrix: render it (Kafka, Strimzi, kafka-acls.sh) or ask who may use a topic.
    Acls(acls::Args),
    /// The dataset-provisioning saga: list and show sagas, publish a request.
    Saga(saga::Args),
    /// The settings: `config show` prints the effective ones.
    Config(config::Args),
    /// Credential pointers: `secrets check` resolves every one of the configuration.
    Secrets(secrets::Args),
    /// Workflow runs and approval tasks, through the CRUD service's API.
    Workflow(workflow::Args),
}

impl Command {
    /// Long-running services log JSON; one-shot commands log text.
    pub fn is_service(&self) -> bool {
        matches!(self, Command::Up(_) | Command::Serve(_))
    }
}

pub async fn run(cli: Cli, file: &SettingsFile) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(*args).await,
        Command::Serve(args) => serve::run(*args).await,
        Command::Emit(args) => emit::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Trace(args) => trace::run(args).await,
        Command::Bench(command) => bench::run(command).await,
        Command::Topics(args) => topics::run(args).await,
        Command::Acls(args) => acls::run(args).await,
        Command::Saga(args) => saga::run(args).await,
        Command::Config(args) => config::run(args, file, Cli::command_for_settings()),
        Command::Secrets(args) => secrets::run(args).await,
        Command::Workflow(args) => workflow::run(args).await,
    }
}
