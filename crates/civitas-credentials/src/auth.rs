//! Authentication of requests to outside systems: none, bearer, basic, API key, or OAuth2
//! client credentials with the token cached until shortly before it expires.
//!
//! [`AuthConfig`] is what a system file's `auth:` mapping (or a command line) declares;
//! [`Authenticator`] applies it to requests. Secrets are resolved through the
//! [`CredentialResolver`] each time they are needed and are exposed only while the request is
//! built.

use std::sync::Arc;
use std::time::Duration;

use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use serde::{Deserialize, Serialize};

use crate::credentials::{CredentialError, CredentialRef, CredentialResolver};

/// Lifetime assumed for a token whose response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

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

/// Why a request could not be authenticated.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The token endpoint answered with an error status or an unusable body.
    #[error("OAuth2 token request to {url} failed{}", status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
    Token {
        url: String,
        status: Option<u16>,
        detail: Value,
    },
}

#[derive(Debug)]
struct CachedToken {
    token: SecretString,
    /// When to fetch a new one (a little before the real expiry).
    refresh_at: Instant,
}

/// Applies a system's auth to its requests.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthConfig,
    resolver: Arc<dyn CredentialResolver>,
    client: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
}

impl Authenticator {
    pub fn new(
        config: AuthConfig,
        resolver: Arc<dyn CredentialResolver>,
        client: reqwest::Client,
    ) -> Self {
        Self {
            config,
            resolver,
            client,
            token: Mutex::new(None),
        }
    }

    /// Adds the credentials to `request`.
    pub async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, AuthError> {
        Ok(match &self.config {
            AuthConfig::None => request,
            AuthConfig::Bearer { token } => {
                let token = self.resolver.resolve(token).await?;
                request.bearer_auth(token.expose_secret())
            }
            AuthConfig::Basic { username, password } => {
                let password = self.resolver.resolve(password).await?;
                request.basic_auth(username, Some(password.expose_secret()))
            }
            AuthConfig::ApiKey { header, key } => {
                let key = self.resolver.resolve(key).await?;
                request.header(header.as_str(), key.expose_secret())
            }
            AuthConfig::Oauth2ClientCredentials { .. } => {
                let token = self.oauth2_token().await?;
                request.bearer_auth(token.expose_secret())
            }
        })
    }

    /// Forgets a cached token (after the system answered 401 to it).
    pub async fn invalidate(&self) {
        *self.token.lock().await = None;
    }

    /// Whether this auth has a token that a 401 may have invalidated.
    pub fn caches_tokens(&self) -> bool {
        matches!(self.config, AuthConfig::Oauth2ClientCredentials { .. })
    }

    /// The cached token, or a new one. The lock is held while fetching, so concurrent
    /// requests wait for one token request instead of sending their own.
    async fn oauth2_token(&self) -> Result<SecretString, AuthError> {
        let AuthConfig::Oauth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
            audience,
        } = &self.config
        else {
            unreachable!("called for OAuth2 only");
        };
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.token.clone());
        }
        let secret = self.resolver.resolve(client_secret).await?;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        if let Some(audience) = audience {
            form.push(("audience", audience));
        }
        let token_error = |status: Option<u16>, detail: Value| AuthError::Token {
            url: token_url.clone(),
            status,
            detail,
        };
        let response = self
            .client
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| token_error(None, Value::String(crate::describe_reqwest(&e))))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        let json: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if !status.is_success() {
            return Err(token_error(Some(status.as_u16()), json));
        }
        let Some(access_token) = json.get("access_token").and_then(Value::as_str) else {
            return Err(token_error(
                Some(status.as_u16()),
                Value::String("the response has no access_token".to_owned()),
            ));
        };
        let lifetime = json
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Refresh a little early: a tenth of the lifetime, at most 30 s.
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        let token = SecretString::from(access_token.to_owned());
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        Ok(token)
    }
}
