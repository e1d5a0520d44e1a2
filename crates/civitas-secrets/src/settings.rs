//! What the secret service needs to know: the vault (address, namespace, CA certificate,
//! auth), the cache, the breaker, the sampling of cache-hit events, and whether it runs in
//! development mode.

use std::path::PathBuf;
use std::time::Duration;

use civitas_http::CredentialRef;

/// How the service logs in to the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultAuth {
    /// A token (`VAULT_TOKEN` / `BAO_TOKEN`, or a pointer to one).
    Token(CredentialRef),
    /// AppRole: `role_id` and a `secret_id` (itself a pointer, e.g. `file:/run/secrets/sid`);
    /// the login token is renewed before it expires and fetched again when it cannot be.
    AppRole {
        role_id: String,
        secret_id: CredentialRef,
        /// The auth method's mount; default `approle`.
        mount: String,
    },
}

/// Where the vault is and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultSettings {
    /// e.g. `https://bao.example:8200`.
    pub addr: String,
    /// `X-Vault-Namespace` (Vault Enterprise, OpenBao namespaces).
    pub namespace: Option<String>,
    /// A PEM file of the CA that signed the vault's certificate.
    pub ca_cert: Option<PathBuf>,
    pub auth: VaultAuth,
    /// Per request, connect and answer.
    pub timeout: Duration,
    /// Tries per lookup (transport failures and 5xx are tried again).
    pub attempts: u32,
}

/// The secret service's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSettings {
    /// `None`: vault pointers are refused (with a message saying how to configure one).
    pub vault: Option<VaultSettings>,
    /// How long a resolved value is used before it is read again.
    pub cache_ttl: Duration,
    /// Most values kept.
    pub cache_capacity: u64,
    /// Publish one cache-hit event in this many (1: every hit).
    pub hit_sample_every: u64,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses before it lets one lookup try (half-open).
    pub breaker_pause: Duration,
    /// Development mode: `yaml://` pointers are read. Off in production.
    pub development: bool,
    /// A value read from its provider this recently is kept when an outside system answers
    /// 401 to it: a system that refuses every request cannot make each one read the vault.
    pub min_reread_interval: Duration,
}

impl Default for SecretSettings {
    /// No vault; 60 s TTL, 10 000 values; every hit reported; breaker at 5 failures, 30 s.
    fn default() -> Self {
        Self {
            vault: None,
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 10_000,
            hit_sample_every: 1,
            breaker_failures: 5,
            breaker_pause: Duration::from_secs(30),
            development: false,
            min_reread_interval: Duration::from_secs(5),
        }
    }
}

impl VaultSettings {
    /// Defaults: 5 s timeout, 3 tries.
    pub fn new(addr: impl Into<String>, auth: VaultAuth) -> Self {
        Self {
            addr: addr.into(),
            namespace: None,
            ca_cert: None,
            auth,
            timeout: Duration::from_secs(5),
            attempts: 3,
        }
    }

    /// The vault the ecosystem's variables describe: `VAULT_ADDR` (or OpenBao's `BAO_ADDR`),
    /// `VAULT_TOKEN`/`BAO_TOKEN`, `VAULT_NAMESPACE`/`BAO_NAMESPACE`,
    /// `VAULT_CACERT`/`BAO_CACERT`; `None` without an address. `lookup` reads a variable
    /// (the process environment in production).
    pub fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| {
            lookup(&format!("VAULT_{name}"))
                .or_else(|| lookup(&format!("BAO_{name}")))
                .filter(|v| !v.is_empty())
        };
        let addr = var("ADDR")?;
        // The token stays in its variable: a pointer to it, so errors name the variable.
        let token = if lookup("VAULT_TOKEN").is_none() && lookup("BAO_TOKEN").is_some() {
            "BAO_TOKEN"
        } else {
            "VAULT_TOKEN"
        };
        let mut settings = Self::new(addr, VaultAuth::Token(CredentialRef::Env(token.to_owned())));
        settings.namespace = var("NAMESPACE");
        settings.ca_cert = var("CACERT").map(PathBuf::from);
        Some(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_vault_comes_from_vault_or_bao_variables() {
        let vars: HashMap<&str, &str> = [
            ("BAO_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_NAMESPACE", "city"),
            ("BAO_CACERT", "/etc/ca.pem"),
        ]
        .into();
        let settings =
            VaultSettings::from_variables(|n| vars.get(n).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(settings.addr, "http://127.0.0.1:8200");
        assert_eq!(settings.namespace.as_deref(), Some("city"));
        assert_eq!(settings.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            settings.auth,
            VaultAuth::Token(CredentialRef::Env("VAULT_TOKEN".into())),
            "no token variable: the error will name VAULT_TOKEN"
        );
        assert!(VaultSettings::from_variables(|_| None).is_none());
    }
}
