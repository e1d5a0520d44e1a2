//! What the service reports: one [`SecretEvent`] per provider retrieval, cache hit (sampled)
//! and error, handed to a [`SecretEvents`] sink (the CRUD service publishes each to
//! `crud.secrets` and `crud.secrets.audit`).

use civitas_events::{SecretData, TraceContext};
use civitas_http::LookupContext;
use civitas_kafka::{CrudEvents, EventContext};

/// The three kinds of secret events (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretEventType {
    Retrieved,
    CacheHit,
    Error,
}

impl SecretEventType {
    /// The envelope's `event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretEventType::Retrieved => "secret_retrieved",
            SecretEventType::CacheHit => "secret_cache_hit",
            SecretEventType::Error => "secret_error",
        }
    }
}

/// One lookup, as reported. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEvent {
    pub event_type: SecretEventType,
    /// `openbao`, `hashicorp`, `env`, `file`, `yaml`.
    pub vault_type: &'static str,
    /// The pointer without its version.
    pub credential_id: String,
    pub success: bool,
    pub error: Option<String>,
    pub cached: bool,
    /// On cache hits: one hit in `sample_every` is reported.
    pub sample_every: Option<u64>,
    /// Who caused the lookup.
    pub context: LookupContext,
}

/// Where events go.
pub trait SecretEvents: Send + Sync + std::fmt::Debug {
    fn publish(&self, event: SecretEvent);
}

/// Drops every event (a command-line tool without a broker).
#[derive(Debug, Default)]
pub struct NoEvents;

impl SecretEvents for NoEvents {
    fn publish(&self, _event: SecretEvent) {}
}

/// Keeps every event (tests).
#[derive(Debug, Default)]
pub struct RecordedEvents(pub std::sync::Mutex<Vec<SecretEvent>>);

impl RecordedEvents {
    pub fn take(&self) -> Vec<SecretEvent> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl SecretEvents for RecordedEvents {
    fn publish(&self, event: SecretEvent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

/// Publishes each event to `crud.secrets` and its audit copy `crud.secrets.audit` (same
/// `event_id`), with the correlation id and trace of the work that caused the lookup.
#[derive(Debug)]
pub struct KafkaSecretEvents(pub CrudEvents);

impl SecretEvents for KafkaSecretEvents {
    fn publish(&self, event: SecretEvent) {
        let trace = event
            .context
            .traceparent
            .as_deref()
            .and_then(TraceContext::parse)
            .unwrap_or_else(TraceContext::new_root);
        let ctx = EventContext {
            correlation_id: event.context.correlation_id,
            trace: Some(trace),
            user_context: None,
        };
        let data = SecretData {
            vault_type: event.vault_type.to_owned(),
            credential_id: event.credential_id,
            success: event.success,
            error: event.error,
            cached: event.cached,
            sampled: event.sample_every.map(|_| true),
            sample_every: event.sample_every,
            timestamp: chrono::Utc::now(),
        };
        if let Err(error) = self.0.secret(event.event_type.as_str(), &ctx, data) {
            tracing::error!(%error, "a secret event could not be built and is lost");
        }
    }
}
