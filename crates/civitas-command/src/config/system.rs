//! A *system*: one instance of a system type (`config/systems/*.yaml`), e.g. the Entra ID
//! tenant of the contractors, with its address, credentials, retry policy and timeouts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use civitas_http::AuthConfig;

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

impl RetryConfig {
    /// The policy the http client applies.
    pub fn policy(&self) -> civitas_http::RetryPolicy {
        civitas_http::RetryPolicy {
            attempts: self.attempts.max(1),
            initial: std::time::Duration::from_millis(self.initial_backoff_ms),
            max: std::time::Duration::from_millis(self.max_backoff_ms),
            multiplier: self.multiplier,
            jitter: self.jitter,
            retry_on: self.retry_on.clone(),
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
