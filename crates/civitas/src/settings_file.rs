//! The settings file (`--config FILE` / `CIVITAS_CONFIG`): the same settings as the flags, in
//! YAML, grouped in sections. Precedence: flag > environment variable > file > default.
//!
//! ```yaml
//! kafka:
//!   kafka: broker-1:9092,broker-2:9092   # the flag --kafka
//!   topic_prefix: crud
//!   kafka_option: [security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512]
//! crud:
//!   http_listen: 0.0.0.0:8080
//!   database_url: postgres://civitas@db/civitas
//! saga:
//!   step_timeout_secs: 60
//! ```
//!
//! A key is a flag's long name with `_` for `-` ([`SECTIONS`] lists them). The file's values
//! become the flags' defaults before the command line is parsed, so flags and environment
//! variables still win and every value goes through the flag's own parser. An unknown
//! section or key is refused with the file and line.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use civitas_config::Locator;
use clap::Command;
use serde_norway::Value;

/// The environment variable naming the settings file.
pub const CONFIG_ENV: &str = "CIVITAS_CONFIG";

/// Every section with its keys (flag long names, `_` for `-`).
pub const SECTIONS: &[(&str, &[&str])] = &[
    (
        "kafka",
        &["kafka", "topic_prefix", "kafka_option", "fetch_wait_ms"],
    ),
    (
        "broker",
        &["broker_listen", "partitions", "catalog", "history_hours"],
    ),
    (
        "crud",
        &[
            "http_listen",
            "database_url",
            "database_password",
            "systems",
            "workflows",
            "service_name",
            "no_events",
            "header_read_timeout_secs",
            "body_read_timeout_secs",
            "shutdown_timeout_secs",
            "outbox_max_events",
            "outbox_max_bytes",
            "outbox_when_full",
            "metrics_interval_secs",
        ],
    ),
    (
        "secrets",
        &[
            "vault_addr",
            "vault_namespace",
            "vault_ca_cert",
            "vault_token",
            "vault_role_id",
            "vault_secret_id",
            "vault_approle_mount",
            "secrets_cache_ttl_secs",
            "secrets_cache_capacity",
            "secrets_hit_sample_every",
            "secrets_development",
        ],
    ),
    (
        "auth",
        &[
            "auth_issuer",
            "auth_audience",
            "auth_jwks_url",
            "auth_subject_claim",
            "authz",
            "console_client_id",
            "console_client_secret",
            "console_url",
        ],
    ),
    (
        "saga",
        &[
            "step_timeout_secs",
            "frost_url",
            "frost_projects_path",
            "frost_username",
            "frost_password",
            "frost_bearer_token",
            "frost_token_url",
            "frost_client_id",
            "frost_client_secret",
            "frost_scope",
            "apisix_url",
            "apisix_admin_key",
            "apisix_public_url",
            "adapter_max_attempts",
            "adapter_backoff_ms",
            "adapter_request_timeout_secs",
        ],
    ),
];

/// The values of a settings file: flag long name (with `-`) → its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsFile {
    pub path: Option<PathBuf>,
    pub values: BTreeMap<String, Vec<String>>,
}

impl SettingsFile {
    /// The file named by `--config` in `args` or by `CIVITAS_CONFIG`, read and checked; an
    /// empty one without either.
    pub fn from_args_or_env(args: &[OsString]) -> anyhow::Result<Self> {
        let from_args = args.iter().enumerate().find_map(|(i, a)| {
            let a = a.to_str()?;
            if a == "--config" {
                args.get(i + 1).map(PathBuf::from)
            } else {
                a.strip_prefix("--config=").map(PathBuf::from)
            }
        });
        match from_args.or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from)) {
            Some(path) => Self::load(&path),
            None => Ok(Self::default()),
        }
    }

    /// Reads and checks a settings file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the settings file {}", path.display()))?;
        let mut file = Self::parse(&text, &path.display().to_string())?;
        file.path = Some(path.to_owned());
        Ok(file)
    }

    /// Parses a settings file's text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> anyhow::Result<Self> {
        let root: Value = serde_norway::from_str(text).map_err(|e| match e.location() {
            Some(at) => anyhow::anyhow!("{name}:{}: not valid YAML: {e}", at.line()),
            None => anyhow::anyhow!("{name}: not valid YAML: {e}"),
        })?;
        let mut values = BTreeMap::new();
        let sections = match root {
            Value::Null => return Ok(Self::default()),
            Value::Mapping(m) => m,
            _ => bail!(
                "{name}:1: the settings file must be a mapping of sections ({})",
                section_names()
            ),
        };
        // One line index of the file, for every message that names a line.
        let locator = Locator::new(text);
        for (section, body) in sections {
            let section = key_text(&section);
            let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| *s == section) else {
                bail!(
                    "{name}:{}: unknown section {section:?}; the sections are {}",
                    locator.key(&[&section]),
                    section_names()
                );
            };
            let body = match body {
                Value::Null => continue,
                Value::Mapping(m) => m,
                _ => bail!(
                    "{name}:{}: section {section:?} must be a mapping of settings",
                    locator.key(&[&section])
                ),
            };
            for (key, value) in body {
                let key = key_text(&key);
                let line = locator.key(&[&section, &key]);
                if !keys.contains(&key.as_str()) {
                    bail!(
                        "{name}:{line}: unknown setting {section}.{key}; {section} has {}",
                        keys.join(", ")
                    );
                }
                let texts = match value {
                    Value::Sequence(items) => {
                        items.iter().map(scalar_text).collect::<Option<Vec<_>>>()
                    }
                    Value::Null => continue,
                    other => scalar_text(&other).map(|t| vec![t]),
                };
                let Some(texts) = texts else {
                    bail!("{name}:{line}: {section}.{key} must be a value or a list of values");
                };
                values.insert(key.replace('_', "-"), texts);
            }
        }
        Ok(Self { path: None, values })
    }

    /// `command` with the file's values as defaults of the flags they name, in every
    /// subcommand that has them.
    pub fn apply(&self, command: Command) -> Command {
        if self.values.is_empty() {
            return command;
        }
        apply_to(command, &self.values)
    }
}

fn apply_to(mut command: Command, values: &BTreeMap<String, Vec<String>>) -> Command {
    let ids: Vec<(String, Vec<String>)> = command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            values
                .get(long)
                .map(|v| (arg.get_id().to_string(), v.clone()))
        })
        .collect();
    for (id, vals) in ids {
        command = command.mut_arg(id, |arg| {
            let vals: Vec<clap::builder::OsStr> = vals
                .into_iter()
                .map(|v| clap::builder::OsStr::from(clap::builder::Str::from(v)))
                .collect();
            arg.default_values(vals)
        });
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| apply_to(sub, values));
    }
    command
}

fn section_names() -> String {
    SECTIONS
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_text(key: &Value) -> String {
    scalar_text(key).unwrap_or_else(|| format!("{key:?}"))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_setting_of_up_is_in_exactly_one_section() {
        let cli = crate::commands::Cli::command();
        let up = cli.find_subcommand("up").expect("up");
        let all: Vec<&str> = SECTIONS
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        for arg in up.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version", "config"].contains(&long) {
                continue;
            }
            let key = long.replace('-', "_");
            assert_eq!(
                all.iter().filter(|k| **k == key).count(),
                1,
                "--{long} is in {} sections",
                all.iter().filter(|k| **k == key).count()
            );
        }
    }

    #[test]
    fn an_unknown_key_or_section_is_refused_with_the_line() {
        let err = SettingsFile::parse(
            "crud:\n  http_listen: 0.0.0.0:80\n  htp_port: 1\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("c.yaml:3: unknown setting crud.htp_port"),
            "{err}"
        );
        let err = SettingsFile::parse("kafka: {}\ncrdu:\n  x: 1\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.yaml:2: unknown section \"crdu\""),
            "{err}"
        );
        let err = SettingsFile::parse("crud: [1\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid YAML"), "{err}");
    }

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let file = SettingsFile::parse(
            "crud:\n  http_listen: 127.0.0.1:9999\n  service_name: from-file\n\
             kafka:\n  kafka_option: [a=1, b=2]\n",
            "c.yaml",
        )
        .unwrap();
        let cli = file.apply(crate::commands::Cli::command());
        let matches = cli
            .try_get_matches_from(["civitas", "serve", "crud", "--service-name", "from-flag"])
            .unwrap();
        let (_, serve) = matches.subcommand().unwrap();
        let (_, crud) = serve.subcommand().unwrap();
        assert_eq!(
            crud.get_one::<std::net::SocketAddr>("http_listen")
                .unwrap()
                .to_string(),
            "127.0.0.1:9999"
        );
        assert_eq!(crud.get_one::<String>("service_name").unwrap(), "from-flag");
        let options: Vec<&String> = crud.get_many::<String>("options").unwrap().collect();
        assert_eq!(options, ["a=1", "b=2"]);
    }
}
