//! The secret service's flags (shared by `up`, `serve crud` and `secrets check`). The vault
//! also comes from the ecosystem's variables (`VAULT_ADDR`/`BAO_ADDR`, `VAULT_TOKEN`/
//! `BAO_TOKEN`, `VAULT_NAMESPACE`/`BAO_NAMESPACE`, `VAULT_CACERT`/`BAO_CACERT`); a flag wins.

use std::path::PathBuf;
use std::time::Duration;

use civitas_http::CredentialRef;
use civitas_secrets::{SecretSettings, VaultAuth, VaultSettings};

/// The value parser of every credential flag: a [`CredentialRef`]. Its error names the flag
/// and the reason but — unlike clap's own "invalid value '…'" — never the value, which may be
/// a secret written where a pointer belongs.
#[derive(Debug, Clone, Copy)]
pub struct PointerParser;

impl clap::builder::TypedValueParser for PointerParser {
    type Value = CredentialRef;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<CredentialRef, clap::Error> {
        let flag = arg
            .and_then(clap::Arg::get_long)
            .map_or_else(|| "a credential".to_owned(), |long| format!("--{long}"));
        let refuse = |reason: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{flag}: {reason} (the value is not shown)\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8".to_owned()))?;
        CredentialRef::parse(text).map_err(|e| refuse(e.to_string()))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SecretArgs {
    /// The vault (OpenBao or HashiCorp Vault) serving openbao+kv2:// and hashicorp+kv2://
    /// pointers; default $VAULT_ADDR, else $BAO_ADDR.
    #[arg(long, value_name = "URL")]
    pub vault_addr: Option<String>,
    /// `X-Vault-Namespace`; default $VAULT_NAMESPACE / $BAO_NAMESPACE.
    #[arg(long)]
    pub vault_namespace: Option<String>,
    /// PEM file of the vault's CA; default $VAULT_CACERT / $BAO_CACERT.
    #[arg(long, value_name = "FILE")]
    pub vault_ca_cert: Option<PathBuf>,
    /// A pointer to the vault token (env: or file:); default the value of $VAULT_TOKEN /
    /// $BAO_TOKEN.
    #[arg(long, value_name = "POINTER", value_parser = PointerParser)]
    pub vault_token: Option<CredentialRef>,
    /// Log in with AppRole instead of a token: the role id.
    #[arg(long, requires = "vault_secret_id")]
    pub vault_role_id: Option<String>,
    /// The AppRole secret id, as a pointer (env: or file:).
    #[arg(long, value_name = "POINTER", value_parser = PointerParser, requires = "vault_role_id")]
    pub vault_secret_id: Option<CredentialRef>,
    /// Where the AppRole auth method is mounted.
    #[arg(long, default_value = "approle")]
    pub vault_approle_mount: String,
    /// Seconds a resolved secret is used before it is read again.
    #[arg(long, env = "CIVITAS_SECRETS_CACHE_TTL_SECS", default_value_t = 60)]
    pub secrets_cache_ttl_secs: u64,
    /// Most secrets kept in the cache.
    #[arg(long, env = "CIVITAS_SECRETS_CACHE_CAPACITY", default_value_t = 10_000)]
    pub secrets_cache_capacity: u64,
    /// Publish one secret_cache_hit event in this many (1: every hit).
    #[arg(long, env = "CIVITAS_SECRETS_HIT_SAMPLE_EVERY", default_value_t = 1)]
    pub secrets_hit_sample_every: u64,
    /// Development mode: yaml:// pointers are read. `civitas up` is always in development
    /// mode; never use this in production.
    #[arg(long, env = "CIVITAS_SECRETS_DEVELOPMENT")]
    pub secrets_development: bool,
}

impl SecretArgs {
    /// The settings; `development` forces development mode (`civitas up`).
    pub fn settings(&self, development: bool) -> SecretSettings {
        let variables = VaultSettings::from_variables(|name| std::env::var(name).ok());
        let addr = self
            .vault_addr
            .clone()
            .or_else(|| variables.as_ref().map(|v| v.addr.clone()));
        let vault = addr.map(|addr| {
            let auth = match (&self.vault_role_id, &self.vault_secret_id) {
                (Some(role_id), Some(secret_id)) => VaultAuth::AppRole {
                    role_id: role_id.clone(),
                    secret_id: secret_id.clone(),
                    mount: self.vault_approle_mount.clone(),
                },
                _ => match (&self.vault_token, &variables) {
                    (Some(token), _) => VaultAuth::Token(token.clone()),
                    (None, Some(v)) => v.auth.clone(),
                    (None, None) => VaultAuth::Token(CredentialRef::Env("VAULT_TOKEN".into())),
                },
            };
            let mut settings = VaultSettings::new(addr, auth);
            settings.namespace = self
                .vault_namespace
                .clone()
                .or_else(|| variables.as_ref().and_then(|v| v.namespace.clone()));
            settings.ca_cert = self
                .vault_ca_cert
                .clone()
                .or_else(|| variables.as_ref().and_then(|v| v.ca_cert.clone()));
            settings
        });
        SecretSettings {
            vault,
            cache_ttl: Duration::from_secs(self.secrets_cache_ttl_secs),
            cache_capacity: self.secrets_cache_capacity,
            hit_sample_every: self.secrets_hit_sample_every.max(1),
            development: development || self.secrets_development,
            ..SecretSettings::default()
        }
    }
}
