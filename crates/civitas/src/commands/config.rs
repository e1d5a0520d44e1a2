//! `civitas config show`: the effective settings of `civitas up` — each with where it came
//! from (environment variable, settings file or default) — as a settings file. The saga's
//! secrets are shown as `****`, Kafka options that hold secrets as `key=****` unless the
//! value is a pointer (`env:NAME`, `file:PATH`), a database URL without its password.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::settings_file::{SECTIONS, SettingsFile};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings (flag > environment > file > default) as YAML.
    Show,
}

/// Keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "frost_password",
    "frost_bearer_token",
    "frost_client_secret",
    "apisix_admin_key",
    "vault_token",
    "vault_secret_id",
    "database_password",
];

pub fn run(args: Args, file: &SettingsFile, cli: Command) -> anyhow::Result<ExitCode> {
    match args.command {
        ConfigCommand::Show => {
            print!("{}", show(file, cli)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The settings of `up` as they would be with no flags: environment, file, defaults.
pub fn show(file: &SettingsFile, cli: Command) -> anyhow::Result<String> {
    let up_command = cli
        .find_subcommand("up")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no up command"))?;
    let matches = file.apply(cli).try_get_matches_from(["civitas", "up"])?;
    let Some(("up", up)) = matches.subcommand() else {
        anyhow::bail!("no settings of up");
    };
    let mut out = format!(
        "# civitas: effective settings of `civitas up` (flag > environment > file > default)\n# settings file: {}\n",
        file.path
            .as_ref()
            .map_or("none (--config FILE or CIVITAS_CONFIG)".to_owned(), |p| p
                .display()
                .to_string())
    );
    for (section, keys) in SECTIONS {
        out.push_str(&format!("{section}:\n"));
        for key in *keys {
            let long = key.replace('_', "-");
            let Some(arg) = up_command
                .get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))
            else {
                continue;
            };
            let id = arg.get_id().as_str();
            let values = raw_values(up, id);
            let source = match up.value_source(id) {
                Some(ValueSource::EnvVariable) => format!(
                    "env {}",
                    arg.get_env()
                        .map(|e| e.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                Some(ValueSource::DefaultValue) if file.values.contains_key(&long) => {
                    "file".to_owned()
                }
                Some(ValueSource::DefaultValue) => "default".to_owned(),
                Some(ValueSource::CommandLine) => "flag".to_owned(),
                _ => "not set".to_owned(),
            };
            let shown: Vec<String> = values.iter().map(|v| redact(key, v)).collect();
            let value = match shown.len() {
                0 => "null".to_owned(),
                1 if !matches!(*key, "kafka_option" | "catalog") => yaml_scalar(&shown[0]),
                _ => format!(
                    "[{}]",
                    shown
                        .iter()
                        .map(|v| yaml_scalar(v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            out.push_str(&format!("  {key}: {value}  # {source}\n"));
        }
    }
    Ok(out)
}

fn raw_values(matches: &ArgMatches, id: &str) -> Vec<String> {
    matches
        .get_raw(id)
        .map(|vals| vals.map(|v| v.to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// A value as it may be shown: pointers and non-secrets as they are.
fn redact(key: &str, value: &str) -> String {
    // Credentials are pointers, shown as they are; anything else there is hidden (it is
    // refused when the command parses it, but may be a secret written in the wrong place).
    let pointer = |v: &str| civitas_http::CredentialRef::parse(v).is_ok();
    if SECRET_KEYS.contains(&key) && !pointer(value) {
        return "****".to_owned();
    }
    if key == "database_url" {
        return civitas_store::redact(value);
    }
    if let Some((k, v)) = value.split_once('=').filter(|_| key == "kafka_option") {
        let secret = ["password", "secret", "key"].iter().any(|s| k.contains(s));
        if secret && !pointer(v) {
            return format!("{k}=****");
        }
    }
    value.to_owned()
}

fn yaml_scalar(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_prints_file_values_with_their_source_and_hides_secrets() {
        let file = SettingsFile::parse(
            "crud:\n  service_name: from-file\n  database_url: postgres://civitas:hunter2@db/civitas\n\
             saga:\n  frost_password: file:/run/secrets/frost\n  apisix_admin_key: env:APISIX_KEY\n\
             kafka:\n  kafka_option: [sasl.password=hunter2, linger.ms=5]\n",
            "c.yaml",
        )
        .unwrap();
        let out = show(&file, crate::commands::Cli::command_for_settings()).unwrap();
        assert!(
            out.contains("  service_name: \"from-file\"  # file\n"),
            "{out}"
        );
        assert!(
            out.contains("  http_listen: \"127.0.0.1:8080\"  # default\n"),
            "{out}"
        );
        assert!(
            out.contains("  frost_password: \"file:/run/secrets/frost\"  # file\n"),
            "{out}"
        );
        assert!(
            out.contains("  apisix_admin_key: \"env:APISIX_KEY\"  # file\n"),
            "{out}"
        );
        assert!(
            out.contains("\"sasl.password=****\", \"linger.ms=5\""),
            "{out}"
        );
        assert!(!out.contains("hunter2"), "{out}");
        // What show prints is a settings file that loads again.
        let body: String = out
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        SettingsFile::parse(&body, "shown.yaml").expect("show's output is a valid settings file");
    }

    #[test]
    fn a_literal_secret_in_a_credential_setting_is_refused_without_being_shown() {
        let file = SettingsFile::parse("saga:\n  frost_password: hunter2\n", "c.yaml").unwrap();
        let error = show(&file, crate::commands::Cli::command_for_settings())
            .unwrap_err()
            .to_string();
        assert!(error.contains("--frost-password: NOT_A_POINTER"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
