//! `civitas secrets check`: resolves every credential pointer of the configuration from its
//! provider (not a cache) and prints, per pointer, the provider, the outcome and the latency —
//! never a value. Exit code 1 when any fails: run it before a deploy.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use civitas_http::CredentialRef;
use civitas_secrets::{NoEvents, SecretService};

use super::secret_args::SecretArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SecretsCommand {
    /// Resolve every pointer of the systems' auth (and any given with --pointer); exit 1 if one fails.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Directory of system files whose auth pointers are checked.
    #[arg(long = "systems", value_name = "DIR", env = "CIVITAS_SYSTEMS_DIR")]
    pub systems: Option<PathBuf>,
    /// A further pointer to check (repeatable), e.g. an adapter's credential.
    #[arg(long = "pointer", value_name = "POINTER", value_parser = super::secret_args::PointerParser)]
    pub pointers: Vec<CredentialRef>,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let SecretsCommand::Check(args) = args.command;
    let catalog = civitas_command::config::load_catalog(args.systems.as_deref())
        .map_err(|errors| anyhow::anyhow!("{errors}"))
        .context("loading the systems")?;
    let mut pointers: Vec<(String, CredentialRef)> = Vec::new();
    for (name, system) in &catalog.systems {
        for pointer in system.auth.pointers() {
            pointers.push((format!("system {name}"), pointer.clone()));
        }
    }
    for pointer in args.pointers {
        pointers.push(("--pointer".to_owned(), pointer));
    }
    if pointers.is_empty() {
        println!("no credential pointers to check");
        return Ok(ExitCode::SUCCESS);
    }
    let settings = args.secrets.settings(false);
    let service = SecretService::new(&settings, Arc::new(NoEvents))?;
    let only: Vec<CredentialRef> = pointers.iter().map(|(_, p)| p.clone()).collect();
    let results = service.check(&only).await;
    let mut failed = 0;
    println!(
        "{:<10} {:<8} {:>9}  {:<20} POINTER",
        "PROVIDER", "STATUS", "LATENCY", "USED BY"
    );
    for ((used_by, _), result) in pointers.iter().zip(&results) {
        let latency = format!("{:.1} ms", result.latency.as_secs_f64() * 1000.0);
        let (status, detail) = match &result.result {
            Ok(()) => ("OK", String::new()),
            Err(error) => {
                failed += 1;
                ("FAILED", format!("\n           {error}"))
            }
        };
        println!(
            "{:<10} {:<8} {:>9}  {:<20} {}{detail}",
            result.pointer.vault_type(),
            status,
            latency,
            used_by,
            result.pointer
        );
    }
    if failed > 0 {
        eprintln!("{failed} of {} pointers failed", results.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
