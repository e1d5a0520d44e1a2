//! Credentials: system files hold *pointers* to secrets, never the secrets themselves.
//!
//! A pointer is `env:NAME` (an environment variable) or `file:PATH` (a file's content, one
//! trailing newline removed). It is resolved each time it is used, so a rotated secret is
//! picked up without a restart. Values are [`SecretString`]s: never logged, never put in an
//! event. A later vault integration plugs in behind [`CredentialResolver`].

use std::fmt;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a secret is kept.
#[derive(Clone)]
pub enum CredentialRef {
    /// `env:NAME`.
    Env(String),
    /// `file:PATH`.
    File(String),
    /// A secret handed over in code, e.g. from a command-line flag or its environment
    /// variable. Never read from a file: [`CredentialRef::parse`] does not produce it.
    Inline(SecretString),
}

impl PartialEq for CredentialRef {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CredentialRef::Env(a), CredentialRef::Env(b))
            | (CredentialRef::File(a), CredentialRef::File(b)) => a == b,
            (CredentialRef::Inline(a), CredentialRef::Inline(b)) => {
                a.expose_secret() == b.expose_secret()
            }
            _ => false,
        }
    }
}

impl Eq for CredentialRef {}

impl CredentialRef {
    /// Parses `env:NAME` or `file:PATH`. The error never repeats the text, which may be a
    /// secret written where a pointer belongs.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(CredentialRef::Env(name.to_owned()))
            } else {
                Err("env: must be followed by a variable name of letters, digits and _")
            };
        }
        if let Some(path) = text.strip_prefix("file:") {
            return if path.is_empty() {
                Err("file: must be followed by a path")
            } else {
                Ok(CredentialRef::File(path.to_owned()))
            };
        }
        Err("credentials must be pointers (env:NAME or file:PATH), never literal values")
    }
}

impl fmt::Display for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialRef::Env(name) => write!(f, "env:{name}"),
            CredentialRef::File(path) => write!(f, "file:{path}"),
            CredentialRef::Inline(_) => f.write_str("(inline secret)"),
        }
    }
}

impl fmt::Debug for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialRef({self})")
    }
}

impl<'de> Deserialize<'de> for CredentialRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CredentialRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for CredentialRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a pointer could not be resolved. Names the pointer, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {pointer} is not available: the environment variable is not set")]
    EnvNotSet { pointer: String },
    #[error("credential {pointer} is not available: {reason}")]
    FileUnreadable { pointer: String, reason: String },
    #[error("credential {pointer} is empty")]
    Empty { pointer: String },
}

/// Turns pointers into secrets.
pub trait CredentialResolver: Send + Sync + fmt::Debug {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<SecretString, CredentialError>>;
}

/// Resolves `env:` and `file:` pointers from this process's environment and file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalResolver;

impl CredentialResolver for LocalResolver {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<SecretString, CredentialError>> {
        Box::pin(async move {
            let value = match pointer {
                CredentialRef::Env(name) => {
                    std::env::var(name).map_err(|_| CredentialError::EnvNotSet {
                        pointer: pointer.to_string(),
                    })?
                }
                CredentialRef::File(path) => {
                    let mut text = tokio::fs::read_to_string(path).await.map_err(|e| {
                        CredentialError::FileUnreadable {
                            pointer: pointer.to_string(),
                            reason: e.to_string(),
                        }
                    })?;
                    if text.ends_with('\n') {
                        text.pop();
                        if text.ends_with('\r') {
                            text.pop();
                        }
                    }
                    text
                }
                CredentialRef::Inline(secret) => secret.expose_secret().to_owned(),
            };
            if value.is_empty() {
                return Err(CredentialError::Empty {
                    pointer: pointer.to_string(),
                });
            }
            Ok(SecretString::from(value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_pointers_are_parsed() {
        assert_eq!(
            CredentialRef::parse("env:KC_SECRET"),
            Ok(CredentialRef::Env("KC_SECRET".into()))
        );
        assert_eq!(
            CredentialRef::parse("file:/run/secrets/kc"),
            Ok(CredentialRef::File("/run/secrets/kc".into()))
        );
    }

    #[test]
    fn a_literal_secret_is_refused_without_repeating_it() {
        let err = CredentialRef::parse("hunter2").unwrap_err();
        assert!(err.contains("never literal values"));
        assert!(!err.contains("hunter2"));
        let yaml: Result<CredentialRef, _> = serde_norway::from_str("hunter2");
        let message = yaml.unwrap_err().to_string();
        assert!(message.contains("pointers"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn an_env_pointer_with_a_bad_name_is_refused() {
        assert!(CredentialRef::parse("env:").is_err());
        assert!(CredentialRef::parse("env:A-B").is_err());
    }

    #[tokio::test]
    async fn a_file_pointer_resolves_to_the_content_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let pointer = CredentialRef::File(path.display().to_string());
        let secret = LocalResolver.resolve(&pointer).await.unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
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

    #[test]
    fn the_debug_form_shows_the_pointer_only() {
        assert_eq!(
            format!("{:?}", CredentialRef::Env("X".into())),
            "CredentialRef(env:X)"
        );
        let inline = CredentialRef::Inline(SecretString::from("hunter2"));
        assert_eq!(format!("{inline:?}"), "CredentialRef((inline secret))");
    }

    #[tokio::test]
    async fn an_inline_secret_resolves_to_itself_but_an_empty_one_is_refused() {
        let inline = CredentialRef::Inline(SecretString::from("s3cret"));
        let secret = LocalResolver.resolve(&inline).await.unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
        let empty = CredentialRef::Inline(SecretString::from(""));
        assert!(LocalResolver.resolve(&empty).await.is_err());
    }
}
