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
    exit_quietly_on_broken_stdout();
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

/// A reader that closes our stdout early (`civitas saga show … | grep -q …`, `… | head`) is
/// normal use, not a fault: `println!` would panic with a backtrace. End quietly with exit
/// code 0 instead, as ripgrep does; every other panic keeps the default report.
fn exit_quietly_on_broken_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
