//! Resolving credentials: the [`CredentialResolver`] turns a [`CredentialRef`] into a secret
//! when it is used, so a rotated secret is picked up without a restart. Values are
//! [`SecretString`]s: never logged, never put in an event.
//!
//! [`LocalResolver`] reads `env:` and `file:` pointers; the secret service (`civitas-secrets`)
//! resolves every kind, caches, and reports each lookup. A lookup caused by a request runs
//! inside [`with_lookup_context`], so the service can name the request in its events.

use std::future::Future;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

pub use crate::pointer::CredentialRef;

/// Why a pointer could not be resolved. Names the pointer, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {pointer} is not available: the environment variable is not set")]
    EnvNotSet { pointer: String },
    #[error("credential {pointer} is not available: {reason}")]
    FileUnreadable { pointer: String, reason: String },
    #[error("credential {pointer} is empty")]
    Empty { pointer: String },
    /// The secret, its version or its key does not exist.
    #[error("credential {pointer} is not available: {what} not found")]
    NotFound { pointer: String, what: String },
    /// The version was deleted (soft; it can be undeleted).
    #[error("credential {pointer} is not available: version {version} was deleted")]
    VersionDeleted { pointer: String, version: u64 },
    /// The version was destroyed for good.
    #[error("credential {pointer} is not available: version {version} was destroyed")]
    VersionDestroyed { pointer: String, version: u64 },
    /// The provider refused: the token or role may not read it.
    #[error("credential {pointer} is not available: permission denied by {provider}")]
    PermissionDenied { pointer: String, provider: String },
    /// No answer, a timeout, or a server error after the retries.
    #[error("credential {pointer} is not available: {provider} unreachable: {reason}")]
    Unreachable {
        pointer: String,
        provider: String,
        reason: String,
    },
    /// The circuit breaker is open after repeated failures: the provider is not asked.
    #[error(
        "credential {pointer} is not available: {provider} is failing; not asked again before {retry_in_ms} ms"
    )]
    CircuitOpen {
        pointer: String,
        provider: String,
        retry_in_ms: u64,
    },
    /// The pointer's kind cannot be used here (a vault without configuration, `yaml://`
    /// outside development mode).
    #[error("credential {pointer} is not available: {reason}")]
    NotAllowed { pointer: String, reason: String },
}

impl CredentialError {
    /// The reason in a word, for metrics and `secrets check`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            CredentialError::EnvNotSet { .. } | CredentialError::NotFound { .. } => "not_found",
            CredentialError::FileUnreadable { .. } => "unreadable",
            CredentialError::Empty { .. } => "empty",
            CredentialError::VersionDeleted { .. } => "version_deleted",
            CredentialError::VersionDestroyed { .. } => "version_destroyed",
            CredentialError::PermissionDenied { .. } => "permission_denied",
            CredentialError::Unreachable { .. } => "unreachable",
            CredentialError::CircuitOpen { .. } => "circuit_open",
            CredentialError::NotAllowed { .. } => "not_allowed",
        }
    }
}

/// A resolved secret, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub value: SecretString,
    pub cached: bool,
}

/// Turns pointers into secrets.
pub trait CredentialResolver: Send + Sync + std::fmt::Debug {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<Resolved, CredentialError>>;

    /// Forgets a cached value (an outside system refused it: it may have been rotated).
    fn invalidate<'a>(&'a self, _pointer: &'a CredentialRef) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Who caused a lookup: the request's correlation id and trace, or the saga's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupContext {
    pub correlation_id: Option<String>,
    /// W3C `traceparent` of the work that needed the secret.
    pub traceparent: Option<String>,
}

tokio::task_local! {
    static LOOKUP: LookupContext;
}

/// Runs `work` with `context` as the cause of every credential lookup inside it.
pub async fn with_lookup_context<F: Future>(context: LookupContext, work: F) -> F::Output {
    LOOKUP.scope(context, work).await
}

/// The cause of the lookup being made (empty outside [`with_lookup_context`]).
pub fn lookup_context() -> LookupContext {
    LOOKUP.try_with(Clone::clone).unwrap_or_default()
}

/// Resolves `env:` and `file:` pointers from this process's environment and file system;
/// the other kinds need the secret service.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalResolver;

impl LocalResolver {
    /// Reads an `env:`, `file:` or inline pointer; `None` for the kinds it does not know.
    pub async fn read(pointer: &CredentialRef) -> Option<Result<SecretString, CredentialError>> {
        let value = match pointer {
            CredentialRef::Env(name) => {
                std::env::var(name).map_err(|_| CredentialError::EnvNotSet {
                    pointer: pointer.to_string(),
                })
            }
            CredentialRef::File(path) => tokio::fs::read_to_string(path)
                .await
                .map(|mut text| {
                    if text.ends_with('\n') {
                        text.pop();
                        if text.ends_with('\r') {
                            text.pop();
                        }
                    }
                    text
                })
                .map_err(|e| CredentialError::FileUnreadable {
                    pointer: pointer.to_string(),
                    reason: e.to_string(),
                }),
            CredentialRef::Inline(secret) => Ok(secret.expose_secret().to_owned()),
            CredentialRef::Vault(_) | CredentialRef::Yaml(_) => return None,
        };
        Some(value.and_then(|value| non_empty(pointer, value)))
    }
}

/// Refuses an empty secret.
pub fn non_empty(pointer: &CredentialRef, value: String) -> Result<SecretString, CredentialError> {
    if value.is_empty() {
        return Err(CredentialError::Empty {
            pointer: pointer.to_string(),
        });
    }
    Ok(SecretString::from(value))
}

impl CredentialResolver for LocalResolver {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<Resolved, CredentialError>> {
        Box::pin(async move {
            match LocalResolver::read(pointer).await {
                Some(value) => value.map(|value| Resolved {
                    value,
                    cached: false,
                }),
                None => Err(CredentialError::NotAllowed {
                    pointer: pointer.to_string(),
                    reason: "this command resolves env: and file: pointers only".to_owned(),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_pointer_resolves_to_the_content_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let secret = LocalResolver.resolve(&pointer).await.unwrap();
        assert_eq!(secret.value.expose_secret(), "s3cret");
    }

    #[tokio::test]
    async fn a_missing_variable_names_the_pointer() {
        let pointer = CredentialRef::Env("CIVITAS_TEST_SURELY_UNSET_4711".into());
        let err = LocalResolver.resolve(&pointer).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential env:CIVITAS_TEST_SURELY_UNSET_4711 is not available: the environment variable is not set"
        );
    }

    #[tokio::test]
    async fn an_inline_secret_resolves_to_itself_but_an_empty_one_is_refused() {
        let inline = CredentialRef::Inline(SecretString::from("s3cret"));
        let secret = LocalResolver.resolve(&inline).await.unwrap();
        assert_eq!(secret.value.expose_secret(), "s3cret");
        let empty = CredentialRef::Inline(SecretString::from(""));
        assert!(LocalResolver.resolve(&empty).await.is_err());
    }
}
