//! [`AuthConfig`]: how requests to an outside system authenticate, as a system file's `auth:`
//! mapping declares it (or a command line builds it).

use serde::{Deserialize, Serialize};

use crate::credentials::CredentialRef;

/// How requests to the system authenticate. In system files secrets are credential pointers
/// ([`CredentialRef`]: `env:`, `file:`, `openbao+kv2://`, …), never literal values.
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
        let kind_name = kind.as_str();
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
    /// The credential pointers this auth uses.
    pub fn pointers(&self) -> Vec<&CredentialRef> {
        match self {
            AuthConfig::None => Vec::new(),
            AuthConfig::Bearer { token } => vec![token],
            AuthConfig::Basic { password, .. } => vec![password],
            AuthConfig::ApiKey { key, .. } => vec![key],
            AuthConfig::Oauth2ClientCredentials { client_secret, .. } => vec![client_secret],
        }
    }

    /// The kind's name, as system files write it.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthConfig::None => AuthKind::None,
            AuthConfig::Bearer { .. } => AuthKind::Bearer,
            AuthConfig::Basic { .. } => AuthKind::Basic,
            AuthConfig::ApiKey { .. } => AuthKind::ApiKey,
            AuthConfig::Oauth2ClientCredentials { .. } => AuthKind::Oauth2ClientCredentials,
        }
        .as_str()
    }
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Bearer => "bearer",
            AuthKind::Basic => "basic",
            AuthKind::ApiKey => "api_key",
            AuthKind::Oauth2ClientCredentials => "oauth2_client_credentials",
        }
    }
}
