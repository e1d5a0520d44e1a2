//! The [`Authenticator`]: applies an [`AuthConfig`] to requests to an outside system — none,
//! bearer, basic, API key, or OAuth2 client credentials with the token cached until shortly
//! before it expires.
//!
//! Secrets are resolved through the [`CredentialResolver`] each time they are needed and are
//! exposed only while the request is built.

use std::sync::Arc;
use std::time::Duration;

use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use crate::auth_config::AuthConfig;
use crate::credentials::{CredentialError, CredentialResolver};

/// Longest lifetime a token is cached for, whatever its `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Lifetime assumed for a token whose response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

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

    /// Adds the credentials to `request`; `true` with it when they came from a cache (an
    /// OAuth2 token, a cached secret), which a 401 may have made stale.
    pub async fn apply(
        &self,
        request: RequestBuilder,
    ) -> Result<(RequestBuilder, bool), AuthError> {
        Ok(match &self.config {
            AuthConfig::None => (request, false),
            AuthConfig::Bearer { token } => {
                let token = self.resolver.resolve(token).await?;
                (
                    request.bearer_auth(token.value.expose_secret()),
                    token.cached,
                )
            }
            AuthConfig::Basic { username, password } => {
                let password = self.resolver.resolve(password).await?;
                (
                    request.basic_auth(username, Some(password.value.expose_secret())),
                    password.cached,
                )
            }
            AuthConfig::ApiKey { header, key } => {
                let key = self.resolver.resolve(key).await?;
                (
                    request.header(header.as_str(), key.value.expose_secret()),
                    key.cached,
                )
            }
            AuthConfig::Oauth2ClientCredentials { .. } => {
                let token = self.oauth2_token().await?;
                (request.bearer_auth(token.expose_secret()), true)
            }
        })
    }

    /// Forgets what is cached for this auth — the OAuth2 token and the secrets behind it —
    /// after the system answered 401: the next request reads them afresh (a rotated secret
    /// heals itself).
    pub async fn invalidate(&self) {
        *self.token.lock().await = None;
        for pointer in self.config.pointers() {
            self.resolver.invalidate(pointer).await;
        }
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
        let secret = self.resolver.resolve(client_secret).await?.value;
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
        let body = crate::read_body(response, crate::MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| token_error(Some(status.as_u16()), Value::String(e.to_string())))?;
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
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            // A crafted `expires_in` (2^63 s) must not overflow the clock.
            .min(MAX_TOKEN_LIFETIME);
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
