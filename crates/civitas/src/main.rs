//! `civitas`: the command line of the civitas event core. Thin: each subcommand lives in
//! `commands/`, turns its arguments into library calls and prints the result.

mod commands;
mod telemetry;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    telemetry::init(cli.command.is_service());
    match commands::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
