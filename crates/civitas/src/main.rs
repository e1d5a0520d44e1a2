//! `civitas`: the command line of the civitas event core. Thin: each subcommand lives in
//! `commands/`, turns its arguments into library calls and prints the result.

mod commands;
mod settings_file;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::FromArgMatches;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let file = match settings_file::SettingsFile::from_args_or_env(&args) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let matches = file
        .apply(commands::Cli::command_for_settings())
        .get_matches_from(&args);
    let cli = match commands::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    // Kept until the end of main: dropping it exports the last spans.
    let _telemetry = match civitas_telemetry::init(cli.command.is_service(), "civitas") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match commands::run(cli, &file).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
