//! The KV version 2 client for OpenBao and HashiCorp Vault (the same HTTP API): reads one
//! key of one secret version, logs in with a token or AppRole (renewing the login token
//! before it expires), retries transient failures with backoff, and stops asking a vault that
//! keeps failing (the [`Breaker`]).
//!
//! Answers, as both products give them (observed against OpenBao 2.x in the tests):
//! - 200 `{"data": {"data": {KEY: VALUE}, "metadata": {"version": N}}}`;
//! - 404 with `data.metadata.deletion_time` set: the version was deleted; with
//!   `data.metadata.destroyed: true`: destroyed; with no `data`: no such secret or version;
//! - 403 `{"errors": ["permission denied"]}`: the token may not read it (or it expired).

use std::time::Duration;

use civitas_http::url_path::encode_segment;
use civitas_http::{
    CredentialError, CredentialRef, LocalResolver, RetryPolicy, VaultPointer, Verdict,
    describe_reqwest, retry,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerState};
use crate::settings::{VaultAuth, VaultSettings};

/// Largest answer read from the vault.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why the client could not build.
#[derive(Debug, thiserror::Error)]
pub enum VaultSetupError {
    #[error("vault address {0:?} is not an http(s) URL")]
    Address(String),
    #[error("vault CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error(
        "the vault's own credential ({0}) must be an env:, file: or direct value, not a pointer into the vault it unlocks"
    )]
    CircularCredential(String),
    #[error("the vault's HTTP client could not be built: {0}")]
    Client(String),
}

/// A lookup's failure: worth another try (transport, 5xx) or not.
#[derive(Debug)]
enum Failure {
    Transient(CredentialError),
    Final(CredentialError),
}

#[derive(Debug)]
struct LoginToken {
    token: SecretString,
    /// When to renew (two thirds into the lease); `None`: the token does not expire.
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
    renewable: bool,
}

/// How many logins and renewals the client made (for tests and `/metrics`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoginCounts {
    pub logins: u64,
    pub renewals: u64,
}

#[derive(Debug)]
pub struct VaultClient {
    settings: VaultSettings,
    base: String,
    http: reqwest::Client,
    policy: RetryPolicy,
    breaker: Breaker,
    login: Mutex<Option<LoginToken>>,
    counts: std::sync::Mutex<LoginCounts>,
}

impl VaultClient {
    pub fn new(settings: VaultSettings, breaker: Breaker) -> Result<Self, VaultSetupError> {
        let base = settings.addr.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|_| VaultSetupError::Address(settings.addr.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(VaultSetupError::Address(settings.addr.clone()));
        }
        let own = match &settings.auth {
            VaultAuth::Token(pointer) => pointer,
            VaultAuth::AppRole { secret_id, .. } => secret_id,
        };
        if matches!(own, CredentialRef::Vault(_) | CredentialRef::Yaml(_)) {
            return Err(VaultSetupError::CircularCredential(own.to_string()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A vault answers; it does not send us elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &settings.ca_cert {
            let ca_error = |reason: String| VaultSetupError::CaCert {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| VaultSetupError::Client(describe_reqwest(&e)))?;
        let policy = RetryPolicy {
            attempts: settings.attempts.max(1),
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.2,
            retry_on: Vec::new(),
        };
        Ok(Self {
            settings,
            base,
            http,
            policy,
            breaker,
            login: Mutex::new(None),
            counts: std::sync::Mutex::new(LoginCounts::default()),
        })
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    pub fn login_counts(&self) -> LoginCounts {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the key `pointer` names. `shown` is the pointer as errors name it.
    pub async fn read(&self, pointer: &VaultPointer) -> Result<SecretString, CredentialError> {
        let shown = pointer.to_string();
        let provider = pointer.provider.as_str();
        if let Err(wait) = self.breaker.admit() {
            return Err(CredentialError::CircuitOpen {
                pointer: shown,
                provider: provider.to_owned(),
                retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            });
        }
        let (outcome, _) = retry(
            &self.policy,
            || self.read_once(pointer, &shown),
            |failure| match failure {
                Failure::Transient(_) => Verdict::Retry(None),
                Failure::Final(_) => Verdict::Fatal,
            },
        )
        .await;
        match outcome {
            Ok(value) => {
                self.breaker.succeeded();
                Ok(value)
            }
            Err(Failure::Final(error)) => {
                // It answered: alive, whatever it said.
                self.breaker.succeeded();
                Err(error)
            }
            Err(Failure::Transient(error)) => {
                self.breaker.failed();
                Err(error)
            }
        }
    }

    async fn read_once(
        &self,
        pointer: &VaultPointer,
        shown: &str,
    ) -> Result<SecretString, Failure> {
        let provider = pointer.provider.as_str();
        let path: Vec<String> = pointer.path.split('/').map(encode_segment).collect();
        let url = format!(
            "{}/v1/{}/data/{}",
            self.base,
            encode_segment(&pointer.mount),
            path.join("/")
        );
        let mut relogged = false;
        loop {
            let token = self.token(shown, provider).await?;
            let mut request = self
                .http
                .get(&url)
                .header("X-Vault-Token", token.expose_secret());
            if let Some(version) = pointer.version {
                request = request.query(&[("version", version)]);
            }
            let (status, body) = self.send(request, shown, provider).await?;
            match status {
                StatusCode::OK => return value_of(&body, pointer, shown),
                StatusCode::NOT_FOUND => {
                    return Err(Failure::Final(not_found(&body, pointer, shown)));
                }
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                    // An AppRole login token may have expired: log in once more.
                    if matches!(self.settings.auth, VaultAuth::AppRole { .. }) && !relogged {
                        relogged = true;
                        *self.login.lock().await = None;
                        continue;
                    }
                    return Err(Failure::Final(CredentialError::PermissionDenied {
                        pointer: shown.to_owned(),
                        provider: provider.to_owned(),
                    }));
                }
                status => return Err(status_failure(status, &body, shown, provider)),
            }
        }
    }

    /// Sends with the namespace header; the status and the JSON body (`Null` if none).
    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        shown: &str,
        provider: &str,
    ) -> Result<(StatusCode, Value), Failure> {
        if let Some(namespace) = &self.settings.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let unreachable = |reason: String| {
            Failure::Transient(CredentialError::Unreachable {
                pointer: shown.to_owned(),
                provider: provider.to_owned(),
                reason,
            })
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(describe_reqwest(&e)))?;
        let status = response.status();
        let body = civitas_http::read_body(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// The token to send: the configured one, or the AppRole login's (renewed or fetched
    /// again as its lease requires).
    async fn token(&self, shown: &str, provider: &str) -> Result<SecretString, Failure> {
        let (role_id, secret_id, mount) = match &self.settings.auth {
            VaultAuth::Token(pointer) => return own_secret(pointer, shown).await,
            VaultAuth::AppRole {
                role_id,
                secret_id,
                mount,
            } => (role_id, secret_id, mount),
        };
        let mut login = self.login.lock().await;
        let now = Instant::now();
        if let Some(current) = login.as_ref() {
            let expired = current.expires_at.is_some_and(|at| now >= at);
            let due = current.renew_at.is_some_and(|at| now >= at);
            if !expired && !due {
                return Ok(current.token.clone());
            }
            if !expired && current.renewable {
                let renew = self
                    .http
                    .post(format!("{}/v1/auth/token/renew-self", self.base))
                    .header("X-Vault-Token", current.token.expose_secret())
                    .json(&json!({}));
                if let Ok((StatusCode::OK, body)) = self.send(renew, shown, provider).await
                    && let Some(renewed) = login_token(&body, Some(current.token.clone()))
                {
                    self.count(|c| c.renewals += 1);
                    tracing::debug!("vault login token renewed");
                    let token = renewed.token.clone();
                    *login = Some(renewed);
                    return Ok(token);
                }
            }
        }
        let secret_id = own_secret(secret_id, shown).await?;
        let request = self
            .http
            .post(format!(
                "{}/v1/auth/{}/login",
                self.base,
                encode_segment(mount)
            ))
            .json(&json!({"role_id": role_id, "secret_id": secret_id.expose_secret()}));
        let (status, body) = self.send(request, shown, provider).await?;
        if !status.is_success() {
            return Err(match status_failure(status, &body, shown, provider) {
                Failure::Transient(e) => Failure::Transient(e),
                Failure::Final(_) => Failure::Final(CredentialError::PermissionDenied {
                    pointer: shown.to_owned(),
                    provider: format!(
                        "{provider} (AppRole login refused with HTTP {})",
                        status.as_u16()
                    ),
                }),
            });
        }
        let Some(token) = login_token(&body, None) else {
            return Err(Failure::Final(CredentialError::Unreachable {
                pointer: shown.to_owned(),
                provider: provider.to_owned(),
                reason: "the AppRole login answer has no auth.client_token".to_owned(),
            }));
        };
        self.count(|c| c.logins += 1);
        tracing::info!(lease_s = ?token.expires_at.map(|at| at - now), "logged in to the vault with AppRole");
        let value = token.token.clone();
        *login = Some(token);
        Ok(value)
    }

    fn count(&self, change: impl FnOnce(&mut LoginCounts)) {
        change(&mut self.counts.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The vault's own credential (token, AppRole secret id): env, file or a direct value.
async fn own_secret(pointer: &CredentialRef, shown: &str) -> Result<SecretString, Failure> {
    match LocalResolver::read(pointer).await {
        Some(Ok(value)) => Ok(value),
        Some(Err(error)) => Err(Failure::Final(CredentialError::NotAllowed {
            pointer: shown.to_owned(),
            reason: format!("the vault's own credential is missing: {error}"),
        })),
        None => Err(Failure::Final(CredentialError::NotAllowed {
            pointer: shown.to_owned(),
            reason: "the vault's own credential cannot be a vault pointer".to_owned(),
        })),
    }
}

/// `auth.client_token` and its lease from a login or renewal answer (a renewal may omit the
/// token: `keep` is the one renewed).
fn login_token(body: &Value, keep: Option<SecretString>) -> Option<LoginToken> {
    let auth = body.get("auth")?;
    let token = match auth.get("client_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => SecretString::from(token.to_owned()),
        _ => keep?,
    };
    // A crafted lease cannot overflow the clock: at most a year.
    let lease = auth
        .get("lease_duration")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(365 * 24 * 3600);
    let now = Instant::now();
    let (renew_at, expires_at) = if lease == 0 {
        (None, None)
    } else {
        let lease = Duration::from_secs(lease);
        (Some(now + lease * 2 / 3), Some(now + lease))
    };
    Some(LoginToken {
        token,
        renew_at,
        expires_at,
        renewable: auth
            .get("renewable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The key's value from a 200 answer.
fn value_of(body: &Value, pointer: &VaultPointer, shown: &str) -> Result<SecretString, Failure> {
    let missing = |what: String| {
        Failure::Final(CredentialError::NotFound {
            pointer: shown.to_owned(),
            what,
        })
    };
    let Some(data) = body.pointer("/data/data").and_then(Value::as_object) else {
        return Err(missing("the secret's data".to_owned()));
    };
    let value = match data.get(&pointer.key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => {
            return Err(Failure::Final(CredentialError::NotAllowed {
                pointer: shown.to_owned(),
                reason: "the key holds a list or a mapping, not a text".to_owned(),
            }));
        }
        None => return Err(missing(format!("key {}", pointer.key))),
    };
    let pointer_ref = CredentialRef::Vault(pointer.clone());
    civitas_http::credentials::non_empty(&pointer_ref, value).map_err(Failure::Final)
}

/// What a 404 means: a deleted or destroyed version, or nothing there.
fn not_found(body: &Value, pointer: &VaultPointer, shown: &str) -> CredentialError {
    let metadata = body.pointer("/data/metadata");
    let version = metadata
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
        .or(pointer.version)
        .unwrap_or(0);
    if metadata
        .and_then(|m| m.get("destroyed"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return CredentialError::VersionDestroyed {
            pointer: shown.to_owned(),
            version,
        };
    }
    if metadata
        .and_then(|m| m.get("deletion_time"))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return CredentialError::VersionDeleted {
            pointer: shown.to_owned(),
            version,
        };
    }
    CredentialError::NotFound {
        pointer: shown.to_owned(),
        what: match pointer.version {
            Some(v) => format!("version {v} of the secret"),
            None => "the secret".to_owned(),
        },
    }
}

/// Any other status: 5xx and 429 are worth another try, the rest is final.
fn status_failure(status: StatusCode, body: &Value, shown: &str, provider: &str) -> Failure {
    let errors = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(|s| s.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let error = CredentialError::Unreachable {
        pointer: shown.to_owned(),
        provider: provider.to_owned(),
        reason: format!(
            "HTTP {}{}",
            status.as_u16(),
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {errors}")
            }
        ),
    };
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Failure::Transient(error)
    } else {
        Failure::Final(error)
    }
}
