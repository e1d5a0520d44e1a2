//! [`SecretService`]: the [`CredentialResolver`] of the running product.
//!
//! ```text
//! resolve(pointer) ──▶ cache (moka: TTL, bounded, one fetch per pointer at a time)
//!                        │ hit ──▶ secret_cache_hit (one in N)          ──▶ value, cached
//!                        │ miss ─▶ provider: env | file | yaml (dev) | vault (breaker, retries)
//!                        │           ok  ──▶ secret_retrieved, cached    ──▶ value
//!                        │           err ──▶ secret_error                ──▶ error naming the pointer
//! invalidate(pointer) ─▶ the entry is dropped (an outside system answered 401)
//! ```
//!
//! Values are [`SecretString`]s, zeroized when the last copy is dropped (an evicted entry's
//! copy included). Events and metrics carry the pointer without its version, never a value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use civitas_http::{
    CredentialError, CredentialRef, CredentialResolver, LocalResolver, Resolved, lookup_context,
};
use futures::future::BoxFuture;
use metrics::Recorder;
use moka::future::Cache;
use secrecy::SecretString;

use crate::breaker::{Breaker, BreakerState};
use crate::events::{SecretEvent, SecretEventType, SecretEvents};
use crate::settings::SecretSettings;
use crate::vault::{LoginCounts, VaultClient, VaultSetupError};
use crate::yaml;

/// Resolves, caches and reports credential lookups.
pub struct SecretService {
    cache: Cache<String, Cached>,
    vault: Option<VaultClient>,
    development: bool,
    hit_sample_every: u64,
    min_reread_interval: std::time::Duration,
    hits: AtomicU64,
    events: Arc<dyn SecretEvents>,
    /// Where the metrics go: an app's own registry, else the process-global recorder.
    recorder: Option<Arc<dyn Recorder + Send + Sync>>,
}

impl std::fmt::Debug for SecretService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretService")
            .field("cached", &self.cache.entry_count())
            .field("vault", &self.vault)
            .field("development", &self.development)
            .field("hit_sample_every", &self.hit_sample_every)
            .finish_non_exhaustive()
    }
}

/// A value and when it was read from its provider.
#[derive(Clone)]
struct Cached {
    value: SecretString,
    read_at: Instant,
}

/// How one pointer fared in [`SecretService::check`].
#[derive(Debug)]
pub struct CheckResult {
    pub pointer: CredentialRef,
    pub result: Result<(), CredentialError>,
    pub latency: std::time::Duration,
}

impl SecretService {
    pub fn new(
        settings: &SecretSettings,
        events: Arc<dyn SecretEvents>,
    ) -> Result<Self, VaultSetupError> {
        let vault = settings
            .vault
            .clone()
            .map(|vault| {
                VaultClient::new(
                    vault,
                    Breaker::new(settings.breaker_failures, settings.breaker_pause),
                )
            })
            .transpose()?;
        if settings.development {
            tracing::warn!(
                "secret service in development mode: yaml:// pointers are read (never in production)"
            );
        }
        Ok(Self {
            cache: Cache::builder()
                .max_capacity(settings.cache_capacity)
                .time_to_live(settings.cache_ttl)
                .build(),
            vault,
            development: settings.development,
            hit_sample_every: settings.hit_sample_every.max(1),
            min_reread_interval: settings.min_reread_interval,
            hits: AtomicU64::new(0),
            events,
            recorder: None,
        })
    }

    /// Records the metrics into `recorder` (an app's registry, rendered on its `/metrics`).
    pub fn with_metrics(mut self, recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    fn measure(&self, record: impl FnOnce()) {
        match &self.recorder {
            Some(recorder) => metrics::with_local_recorder(recorder.as_ref(), record),
            None => record(),
        }
    }

    /// The breaker's state, when a vault is configured.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.vault.as_ref().map(VaultClient::breaker_state)
    }

    /// AppRole logins and token renewals so far.
    pub fn login_counts(&self) -> LoginCounts {
        self.vault
            .as_ref()
            .map(VaultClient::login_counts)
            .unwrap_or_default()
    }

    /// Resolves each pointer from its provider (not the cache): its outcome and latency.
    pub async fn check(&self, pointers: &[CredentialRef]) -> Vec<CheckResult> {
        let mut results = Vec::new();
        for pointer in pointers {
            let started = Instant::now();
            let result = self.fetch(pointer).await.map(drop);
            results.push(CheckResult {
                pointer: pointer.clone(),
                result,
                latency: started.elapsed(),
            });
        }
        results
    }

    /// Reads `pointer` from its provider, reports the outcome, records the metrics.
    async fn fetch(&self, pointer: &CredentialRef) -> Result<SecretString, CredentialError> {
        let provider = pointer.vault_type();
        let started = Instant::now();
        let result = match pointer {
            CredentialRef::Vault(vault_pointer) => match &self.vault {
                Some(vault) => vault.read(vault_pointer).await,
                None => Err(CredentialError::NotAllowed {
                    pointer: pointer.to_string(),
                    reason: "no vault is configured (set VAULT_ADDR / BAO_ADDR, or secrets.vault in the settings file)".to_owned(),
                }),
            },
            CredentialRef::Yaml(yaml_pointer) if self.development => yaml::read(yaml_pointer).await,
            CredentialRef::Yaml(_) => Err(CredentialError::NotAllowed {
                pointer: pointer.to_string(),
                reason: "yaml:// pointers are read in development mode only (civitas up, or --secrets-development)".to_owned(),
            }),
            other => LocalResolver::read(other)
                .await
                .unwrap_or_else(|| unreachable!("env, file and inline are local")),
        };
        let elapsed = started.elapsed().as_secs_f64();
        let breaker = self.breaker_state();
        let (outcome, reason) = match &result {
            Ok(_) => ("retrieved", ""),
            Err(error) => ("error", error.reason_code()),
        };
        self.measure(|| {
            metrics::histogram!("civitas_secret_provider_seconds", "provider" => provider)
                .record(elapsed);
            if let Some(state) = breaker {
                metrics::gauge!("civitas_secret_breaker_state").set(state.as_gauge());
            }
            metrics::counter!("civitas_secret_lookups_total", "provider" => provider, "outcome" => outcome, "reason" => reason)
                .increment(1);
        });
        match &result {
            Ok(_) => {
                self.report(pointer, SecretEventType::Retrieved, None, None);
            }
            Err(error) => {
                tracing::warn!(%error, "secret lookup failed");
                self.report(
                    pointer,
                    SecretEventType::Error,
                    Some(error.to_string()),
                    None,
                );
            }
        }
        result
    }

    fn report(
        &self,
        pointer: &CredentialRef,
        event_type: SecretEventType,
        error: Option<String>,
        sample_every: Option<u64>,
    ) {
        self.events.publish(SecretEvent {
            event_type,
            vault_type: pointer.vault_type(),
            credential_id: pointer.credential_id(),
            success: error.is_none(),
            error,
            cached: event_type == SecretEventType::CacheHit,
            sample_every,
            context: lookup_context(),
        });
    }

    fn hit(&self, pointer: &CredentialRef) {
        self.measure(|| {
            metrics::counter!("civitas_secret_lookups_total", "provider" => pointer.vault_type(), "outcome" => "hit", "reason" => "")
                .increment(1);
        });
        let n = self.hits.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(self.hit_sample_every) {
            self.report(
                pointer,
                SecretEventType::CacheHit,
                None,
                Some(self.hit_sample_every),
            );
        }
    }
}

impl CredentialResolver for SecretService {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<Resolved, CredentialError>> {
        Box::pin(async move {
            if let CredentialRef::Inline(_) = pointer {
                // A value handed over in code: nothing to fetch, cache or report.
                return LocalResolver.resolve(pointer).await;
            }
            // Concurrent misses of one pointer make one fetch; the others wait for it and
            // count as hits.
            let entry = self
                .cache
                .entry(pointer.to_string())
                .or_try_insert_with(async {
                    self.fetch(pointer).await.map(|value| Cached {
                        value,
                        read_at: Instant::now(),
                    })
                })
                .await
                .map_err(|error| (*error).clone())?;
            let cached = !entry.is_fresh();
            if cached {
                self.hit(pointer);
            }
            Ok(Resolved {
                value: entry.into_value().value,
                cached,
            })
        })
    }

    fn invalidate<'a>(&'a self, pointer: &'a CredentialRef) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let key = pointer.to_string();
            let stale = self
                .cache
                .get(&key)
                .await
                .is_some_and(|cached| cached.read_at.elapsed() >= self.min_reread_interval);
            if stale {
                self.cache.invalidate(&key).await;
                tracing::info!(pointer = %pointer, "cached secret dropped after a 401; it is read again");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::RecordedEvents;
    use civitas_http::{LookupContext, with_lookup_context};
    use secrecy::ExposeSecret;
    use std::time::Duration;

    fn service(events: Arc<RecordedEvents>, settings: SecretSettings) -> SecretService {
        SecretService::new(&settings, events).unwrap()
    }

    #[tokio::test]
    async fn a_second_lookup_is_a_cache_hit_and_both_are_reported_with_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let events = Arc::new(RecordedEvents::default());
        let service = service(events.clone(), SecretSettings::default());
        let context = LookupContext {
            correlation_id: Some("req-1".into()),
            traceparent: None,
        };
        let first = with_lookup_context(context.clone(), service.resolve(&pointer))
            .await
            .unwrap();
        let second = with_lookup_context(context.clone(), service.resolve(&pointer))
            .await
            .unwrap();
        assert_eq!(first.value.expose_secret(), "s3cret");
        assert!(!first.cached);
        assert!(second.cached);
        let events = events.take();
        let kinds: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(
            kinds,
            [SecretEventType::Retrieved, SecretEventType::CacheHit]
        );
        assert!(
            events
                .iter()
                .all(|e| e.context == context && e.vault_type == "file")
        );
        assert!(!format!("{events:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn an_invalidated_entry_is_read_again_and_a_rotated_value_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "old").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let settings = SecretSettings {
            min_reread_interval: Duration::ZERO,
            ..SecretSettings::default()
        };
        let service = service(Arc::default(), settings);
        service.resolve(&pointer).await.unwrap();
        std::fs::write(&path, "new").unwrap();
        let cached = service.resolve(&pointer).await.unwrap();
        assert_eq!(cached.value.expose_secret(), "old");
        service.invalidate(&pointer).await;
        let fresh = service.resolve(&pointer).await.unwrap();
        assert_eq!(fresh.value.expose_secret(), "new");
        assert!(!fresh.cached);
    }

    #[tokio::test]
    async fn a_value_just_read_is_not_dropped_by_a_401() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "v1").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let service = service(Arc::default(), SecretSettings::default());
        service.resolve(&pointer).await.unwrap();
        service.invalidate(&pointer).await;
        assert!(
            service.resolve(&pointer).await.unwrap().cached,
            "kept: read under 5 s ago"
        );
    }

    #[tokio::test]
    async fn hits_are_sampled_errors_never_and_errors_are_not_cached() {
        let events = Arc::new(RecordedEvents::default());
        let settings = SecretSettings {
            hit_sample_every: 3,
            ..SecretSettings::default()
        };
        let service = service(events.clone(), settings);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "v").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        for _ in 0..7 {
            service.resolve(&pointer).await.unwrap();
        }
        let hits: Vec<_> = events
            .take()
            .into_iter()
            .filter(|e| e.event_type == SecretEventType::CacheHit)
            .collect();
        assert_eq!(hits.len(), 2, "6 hits, one in 3 reported");
        assert!(hits.iter().all(|e| e.sample_every == Some(3) && e.cached));

        let missing = CredentialRef::Env("CIVITAS_TEST_SURELY_UNSET_4712".into());
        for _ in 0..2 {
            assert!(service.resolve(&missing).await.is_err());
        }
        let errors = events.take();
        assert_eq!(
            errors.len(),
            2,
            "every failed lookup asks again and reports"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.event_type == SecretEventType::Error && !e.success)
        );
    }

    #[tokio::test]
    async fn yaml_needs_development_mode_and_vault_pointers_a_vault() {
        let service = service(Arc::default(), SecretSettings::default());
        let yaml = CredentialRef::parse("yaml://secrets.yaml#k").unwrap();
        let error = service.resolve(&yaml).await.unwrap_err().to_string();
        assert!(error.contains("development mode"), "{error}");
        let vault = CredentialRef::parse("openbao+kv2://secret/kc#k").unwrap();
        let error = service.resolve(&vault).await.unwrap_err().to_string();
        assert!(error.contains("no vault is configured"), "{error}");
    }
}
