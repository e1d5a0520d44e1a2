//! `civitas`: the command line of the civitas event core. Thin: each subcommand lives in
//! `commands/`, turns its arguments into library calls and prints the result.

mod commands;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    // Kept until the end of main: dropping it exports the last spans.
    let _telemetry = match civitas_telemetry::init(cli.command.is_service(), "civitas") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match commands::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
