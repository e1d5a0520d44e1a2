//! A *system*: one instance of a system type (`config/systems/*.yaml`), e.g. the Entra ID
//! tenant of the contractors, with its address, credentials, retry policy and timeouts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::credentials::CredentialRef;

/// One system file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// The name requests use in `system`, e.g. `entraid_contractors`.
    pub name: String,
    /// The system type's name, e.g. `msgraph`.
    #[serde(rename = "type")]
    pub system_type: String,
    #[serde(default)]
    pub description: String,
    /// Where the API lives, e.g. `https://graph.microsoft.com` (http connector only).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Values for the type's `settings`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Extra headers on every request (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
}

impl SystemConfig {
    /// A system of `system_type` with every other field at its default.
    pub fn new(name: impl Into<String>, system_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            system_type: system_type.into(),
            description: String::new(),
            base_url: None,
            settings: BTreeMap::new(),
            headers: BTreeMap::new(),
            auth: AuthConfig::None,
            retry: RetryConfig::default(),
            timeouts: TimeoutConfig::default(),
        }
    }
}

/// How requests to the system authenticate. Secrets are credential pointers
/// (`env:NAME`, `file:PATH`), never literal values.
///
/// Read from a flat mapping with a `kind` (rather than serde's internally tagged enums) so
/// that every error keeps its key path (`auth.token`) and line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "RawAuth", into = "RawAuth")]
pub enum AuthConfig {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer { token: CredentialRef },
    /// `Authorization: Basic …`.
    Basic {
        username: String,
        password: CredentialRef,
    },
    /// A key in a header, e.g. APISIX's `X-API-KEY`.
    ApiKey { header: String, key: CredentialRef },
    /// OAuth2 client credentials: a token from `token_url`, cached until it expires.
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: CredentialRef,
        scope: Option<String>,
        audience: Option<String>,
    },
}

/// The kinds of auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    Bearer,
    Basic,
    ApiKey,
    Oauth2ClientCredentials,
}

/// The auth mapping as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub kind: Option<AuthKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<CredentialRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<CredentialRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<CredentialRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<CredentialRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

impl TryFrom<RawAuth> for AuthConfig {
    type Error = String;

    fn try_from(raw: RawAuth) -> Result<Self, String> {
        // serde reports a `try_from` error without a key path; the `auth: ` prefix gives it
        // one (the loader reads `path: reason`).
        let kind = raw.kind.ok_or(
            "auth: `kind` is required: none, bearer, basic, api_key or oauth2_client_credentials",
        )?;
        let mut given: Vec<&str> = Vec::new();
        for (name, present) in [
            ("token", raw.token.is_some()),
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("header", raw.header.is_some()),
            ("key", raw.key.is_some()),
            ("token_url", raw.token_url.is_some()),
            ("client_id", raw.client_id.is_some()),
            ("client_secret", raw.client_secret.is_some()),
            ("scope", raw.scope.is_some()),
            ("audience", raw.audience.is_some()),
        ] {
            if present {
                given.push(name);
            }
        }
        let (allowed, required): (&[&str], &[&str]) = match kind {
            AuthKind::None => (&[], &[]),
            AuthKind::Bearer => (&["token"], &["token"]),
            AuthKind::Basic => (&["username", "password"], &["username", "password"]),
            AuthKind::ApiKey => (&["header", "key"], &["header", "key"]),
            AuthKind::Oauth2ClientCredentials => (
                &[
                    "token_url",
                    "client_id",
                    "client_secret",
                    "scope",
                    "audience",
                ],
                &["token_url", "client_id", "client_secret"],
            ),
        };
        let kind_name = serde_norway::to_string(&kind).unwrap_or_default();
        let kind_name = kind_name.trim();
        let extra: Vec<&str> = given
            .iter()
            .copied()
            .filter(|g| !allowed.contains(g))
            .collect();
        if !extra.is_empty() {
            return Err(format!(
                "auth: kind {kind_name} takes no {}",
                extra.join(", ")
            ));
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !given.contains(r))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "auth: kind {kind_name} needs {}",
                missing.join(", ")
            ));
        }
        let text = |v: Option<String>| v.unwrap_or_default();
        let secret = |v: Option<CredentialRef>| v.expect("checked above");
        Ok(match kind {
            AuthKind::None => AuthConfig::None,
            AuthKind::Bearer => AuthConfig::Bearer {
                token: secret(raw.token),
            },
            AuthKind::Basic => AuthConfig::Basic {
                username: text(raw.username),
                password: secret(raw.password),
            },
            AuthKind::ApiKey => AuthConfig::ApiKey {
                header: text(raw.header),
                key: secret(raw.key),
            },
            AuthKind::Oauth2ClientCredentials => AuthConfig::Oauth2ClientCredentials {
                token_url: text(raw.token_url),
                client_id: text(raw.client_id),
                client_secret: secret(raw.client_secret),
                scope: raw.scope,
                audience: raw.audience,
            },
        })
    }
}

impl From<AuthConfig> for RawAuth {
    fn from(auth: AuthConfig) -> Self {
        match auth {
            AuthConfig::None => RawAuth {
                kind: Some(AuthKind::None),
                ..RawAuth::default()
            },
            AuthConfig::Bearer { token } => RawAuth {
                kind: Some(AuthKind::Bearer),
                token: Some(token),
                ..RawAuth::default()
            },
            AuthConfig::Basic { username, password } => RawAuth {
                kind: Some(AuthKind::Basic),
                username: Some(username),
                password: Some(password),
                ..RawAuth::default()
            },
            AuthConfig::ApiKey { header, key } => RawAuth {
                kind: Some(AuthKind::ApiKey),
                header: Some(header),
                key: Some(key),
                ..RawAuth::default()
            },
            AuthConfig::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
                audience,
            } => RawAuth {
                kind: Some(AuthKind::Oauth2ClientCredentials),
                token_url: Some(token_url),
                client_id: Some(client_id),
                client_secret: Some(client_secret),
                scope,
                audience,
                ..RawAuth::default()
            },
        }
    }
}

impl AuthConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::ApiKey { .. } => "api_key",
            AuthConfig::Oauth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }
}

/// When and how often a failed request is tried again.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Tries in all, the first included (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry.
    pub initial_backoff_ms: u64,
    /// Longest wait between tries.
    pub max_backoff_ms: u64,
    /// Each wait is the previous one times this.
    pub multiplier: f64,
    /// Random spread of each wait, as a fraction (0.2 = ±20 %).
    pub jitter: f64,
    /// Response statuses that are retried. Timeouts and connection errors are always
    /// retried while attempts are left.
    pub retry_on: Vec<u16>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff_ms: 200,
            max_backoff_ms: 5_000,
            multiplier: 2.0,
            jitter: 0.2,
            retry_on: vec![429, 502, 503, 504],
        }
    }
}

/// Time limits of each try.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    pub connect_ms: u64,
    /// The whole try: connect, send, wait, read.
    pub request_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect_ms: 2_000,
            request_ms: 10_000,
        }
    }
}
