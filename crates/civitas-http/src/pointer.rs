//! Credential pointers: where a secret is kept, never the secret itself.
//!
//! | pointer | secret |
//! |---|---|
//! | `env:NAME` | the environment variable `NAME` |
//! | `file:PATH` | the file's content, one trailing newline removed |
//! | `openbao+kv2://MOUNT/PATH#KEY[?version=N]` | key `KEY` of a KV version 2 secret in OpenBao |
//! | `hashicorp+kv2://MOUNT/PATH#KEY[?version=N]` | the same in HashiCorp Vault (same API) |
//! | `yaml://PATH#KEY` | a key (`a.b` for nested mappings) of a local YAML file; development only |
//!
//! Parsing is strict and the error never repeats the text (it may be a secret written where a
//! pointer belongs): each refusal has a code ([`PointerErrorCode`]) and a reason.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::url_path::{UnsafeSegment, check_segment};

/// Longest pointer accepted, in bytes.
pub const MAX_POINTER_LEN: usize = 1024;

/// Where a secret is kept.
#[derive(Clone)]
pub enum CredentialRef {
    /// `env:NAME`.
    Env(String),
    /// `file:PATH`.
    File(String),
    /// `openbao+kv2://…` or `hashicorp+kv2://…`.
    Vault(VaultPointer),
    /// `yaml://PATH#KEY`.
    Yaml(YamlPointer),
    /// A secret handed over in code (a test, a value already resolved). Never read from a
    /// file: [`CredentialRef::parse`] does not produce it.
    Inline(SecretString),
}

/// The vault products that speak the KV version 2 HTTP API; the scheme names the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VaultProvider {
    OpenBao,
    HashiCorp,
}

impl VaultProvider {
    /// The name in events and metrics (`vault_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            VaultProvider::OpenBao => "openbao",
            VaultProvider::HashiCorp => "hashicorp",
        }
    }
}

/// A key of a KV version 2 secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultPointer {
    pub provider: VaultProvider,
    /// The secrets engine's mount, e.g. `secret`.
    pub mount: String,
    /// The secret's path below the mount, segments joined by `/`.
    pub path: String,
    pub key: String,
    /// A pinned version; `None` reads the latest.
    pub version: Option<u64>,
}

/// A key of a local YAML file of secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct YamlPointer {
    pub path: String,
    /// Dot-separated keys into nested mappings.
    pub key: String,
}

/// What is wrong with a pointer, as a stable code (in the message, for operators and docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerErrorCode {
    /// Not `env:`, `file:`, `openbao+kv2://`, `hashicorp+kv2://` or `yaml://`: most likely
    /// a literal secret.
    NotAPointer,
    /// A vault scheme with another engine than `kv2` (`openbao+kv1://`, `vault+pki://`).
    UnsupportedEngine,
    /// A `..` or `.` segment.
    IllegalSegment,
    /// An empty segment (`a//b`, a trailing `/`).
    EmptySegment,
    /// `%2F` or `%5C`: a slash that only appears after decoding.
    EncodedSlash,
    /// A control character or whitespace.
    IllegalCharacter,
    /// No `#KEY`, or an empty key.
    MissingKey,
    /// A mount but no path below it.
    MissingPath,
    /// `?version=` that is not a positive integer, or another query parameter.
    BadVersion,
    /// `env:` with a name that is not letters, digits and `_`, or `file:` with no path.
    BadName,
    /// Longer than [`MAX_POINTER_LEN`].
    TooLong,
}

impl PointerErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAPointer => "NOT_A_POINTER",
            Self::UnsupportedEngine => "UNSUPPORTED_ENGINE",
            Self::IllegalSegment => "ILLEGAL_SEGMENT",
            Self::EmptySegment => "EMPTY_SEGMENT",
            Self::EncodedSlash => "ENCODED_SLASH",
            Self::IllegalCharacter => "ILLEGAL_CHARACTER",
            Self::MissingKey => "MISSING_KEY",
            Self::MissingPath => "MISSING_PATH",
            Self::BadVersion => "BAD_VERSION",
            Self::BadName => "BAD_NAME",
            Self::TooLong => "TOO_LONG",
        }
    }
}

/// A refused pointer: a code and a reason, never the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", code.as_str())]
pub struct PointerError {
    pub code: PointerErrorCode,
    pub reason: &'static str,
}

fn refuse<T>(code: PointerErrorCode, reason: &'static str) -> Result<T, PointerError> {
    Err(PointerError { code, reason })
}

const SCHEMES: &str = "credentials must be pointers (env:NAME, file:PATH, openbao+kv2://MOUNT/PATH#KEY, hashicorp+kv2://…, yaml://PATH#KEY), never literal values";

impl CredentialRef {
    /// Parses a pointer. The error never repeats the text.
    pub fn parse(text: &str) -> Result<Self, PointerError> {
        use PointerErrorCode as C;
        if text.len() > MAX_POINTER_LEN {
            return refuse(C::TooLong, "a pointer is at most 1024 bytes");
        }
        if let Some(name) = text.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(CredentialRef::Env(name.to_owned()))
            } else {
                refuse(
                    C::BadName,
                    "env: must be followed by a variable name of letters, digits and _",
                )
            };
        }
        if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return refuse(C::BadName, "file: must be followed by a path");
            }
            check_characters(path)?;
            return Ok(CredentialRef::File(path.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("yaml://") {
            return parse_yaml(rest).map(CredentialRef::Yaml);
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            let provider = match scheme.split_once('+') {
                Some(("openbao", _)) => VaultProvider::OpenBao,
                Some(("hashicorp", _)) => VaultProvider::HashiCorp,
                _ => return refuse(C::NotAPointer, SCHEMES),
            };
            if !scheme.ends_with("+kv2") {
                return refuse(
                    C::UnsupportedEngine,
                    "only the KV version 2 engine is supported (openbao+kv2://, hashicorp+kv2://)",
                );
            }
            return parse_vault(provider, rest).map(CredentialRef::Vault);
        }
        refuse(C::NotAPointer, SCHEMES)
    }

    /// The provider's name in events and metrics (`vault_type`): `env`, `file`, `openbao`,
    /// `hashicorp`, `yaml`, `inline`.
    pub fn vault_type(&self) -> &'static str {
        match self {
            CredentialRef::Env(_) => "env",
            CredentialRef::File(_) => "file",
            CredentialRef::Vault(v) => v.provider.as_str(),
            CredentialRef::Yaml(_) => "yaml",
            CredentialRef::Inline(_) => "inline",
        }
    }

    /// The pointer without its version: the `credential_id` of events (seed 000: "included
    /// as-is"; it names where the secret is, never the secret).
    pub fn credential_id(&self) -> String {
        match self {
            CredentialRef::Vault(v) => VaultPointer {
                version: None,
                ..v.clone()
            }
            .to_string(),
            other => other.to_string(),
        }
    }
}

/// Control characters and whitespace have no place in a pointer.
fn check_characters(text: &str) -> Result<(), PointerError> {
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse(
            PointerErrorCode::IllegalCharacter,
            "a pointer holds no whitespace or control characters",
        );
    }
    Ok(())
}

/// Splits `PATH#KEY[?QUERY]`.
fn split_key(rest: &str) -> Result<(&str, &str, Option<&str>), PointerError> {
    let Some((path, fragment)) = rest.split_once('#') else {
        return refuse(
            PointerErrorCode::MissingKey,
            "the pointer names no key: add #KEY",
        );
    };
    let (key, query) = match fragment.split_once('?') {
        Some((key, query)) => (key, Some(query)),
        None => (fragment, None),
    };
    if key.is_empty() {
        return refuse(PointerErrorCode::MissingKey, "the key after # is empty");
    }
    Ok((path, key, query))
}

/// Checks every `/`-separated segment of `path`.
fn check_segments(path: &str) -> Result<Vec<&str>, PointerError> {
    use PointerErrorCode as C;
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        match check_segment(segment) {
            Ok(()) => {}
            Err(UnsafeSegment::Empty) => {
                return refuse(
                    C::EmptySegment,
                    "the path has an empty segment (// or a trailing /)",
                );
            }
            Err(UnsafeSegment::DotSegment) => {
                return refuse(C::IllegalSegment, "the path has a . or .. segment");
            }
            Err(UnsafeSegment::Separator) => {
                return refuse(C::EncodedSlash, "the path has a percent-encoded / or \\");
            }
        }
    }
    Ok(segments)
}

fn parse_vault(provider: VaultProvider, rest: &str) -> Result<VaultPointer, PointerError> {
    use PointerErrorCode as C;
    check_characters(rest)?;
    let (path, key, query) = split_key(rest)?;
    let segments = check_segments(path)?;
    if check_segment(key).is_err() {
        return refuse(
            C::IllegalSegment,
            "the key is empty, a dot segment or holds a slash",
        );
    }
    let Some((mount, below)) = segments.split_first() else {
        return refuse(C::MissingPath, "the pointer names no mount");
    };
    if below.is_empty() {
        return refuse(
            C::MissingPath,
            "the pointer names a mount but no secret path below it",
        );
    }
    let version = match query {
        None => None,
        Some(query) => match query.strip_prefix("version=").map(str::parse::<u64>) {
            Some(Ok(version)) if version > 0 => Some(version),
            _ => return refuse(C::BadVersion, "the only query is ?version=N with N ≥ 1"),
        },
    };
    Ok(VaultPointer {
        provider,
        mount: (*mount).to_owned(),
        path: below.join("/"),
        key: key.to_owned(),
        version,
    })
}

fn parse_yaml(rest: &str) -> Result<YamlPointer, PointerError> {
    check_characters(rest)?;
    let (path, key, query) = split_key(rest)?;
    if query.is_some() {
        return refuse(
            PointerErrorCode::BadVersion,
            "a yaml:// pointer takes no query",
        );
    }
    // An absolute path keeps its leading `/` (yaml:///run/secrets.yaml#k).
    let relative = path.strip_prefix('/').unwrap_or(path);
    if relative.is_empty() {
        return refuse(PointerErrorCode::MissingPath, "the pointer names no file");
    }
    check_segments(relative)?;
    if key.split('.').any(str::is_empty) {
        return refuse(
            PointerErrorCode::MissingKey,
            "the key has an empty part (a.b.c)",
        );
    }
    Ok(YamlPointer {
        path: path.to_owned(),
        key: key.to_owned(),
    })
}

impl fmt::Display for VaultPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+kv2://{}/{}#{}",
            self.provider.as_str(),
            self.mount,
            self.path,
            self.key
        )?;
        if let Some(version) = self.version {
            write!(f, "?version={version}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialRef::Env(name) => write!(f, "env:{name}"),
            CredentialRef::File(path) => write!(f, "file:{path}"),
            CredentialRef::Vault(v) => v.fmt(f),
            CredentialRef::Yaml(y) => write!(f, "yaml://{}#{}", y.path, y.key),
            CredentialRef::Inline(_) => f.write_str("(inline secret)"),
        }
    }
}

impl fmt::Debug for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialRef({self})")
    }
}

impl PartialEq for CredentialRef {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CredentialRef::Inline(a), CredentialRef::Inline(b)) => {
                a.expose_secret() == b.expose_secret()
            }
            (CredentialRef::Inline(_), _) | (_, CredentialRef::Inline(_)) => false,
            // Every other pointer is its canonical text.
            _ => self.to_string() == other.to_string(),
        }
    }
}

impl Eq for CredentialRef {}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        CredentialRef::parse(text).unwrap_err().code.as_str()
    }

    #[test]
    fn every_kind_of_pointer_is_parsed_and_printed_back() {
        for text in [
            "env:KC_SECRET",
            "file:/run/secrets/kc",
            "openbao+kv2://secret/keycloak#client_secret",
            "hashicorp+kv2://kv/teams/idm/keycloak#client_secret?version=3",
            "yaml://dev/secrets.yaml#keycloak.client_secret",
            "yaml:///etc/civitas/secrets.yaml#token",
        ] {
            let pointer = CredentialRef::parse(text).unwrap();
            assert_eq!(pointer.to_string(), text);
        }
        let CredentialRef::Vault(v) =
            CredentialRef::parse("openbao+kv2://secret/a/b#k?version=2").unwrap()
        else {
            panic!("a vault pointer");
        };
        assert_eq!(
            (
                v.provider,
                v.mount.as_str(),
                v.path.as_str(),
                v.key.as_str(),
                v.version
            ),
            (VaultProvider::OpenBao, "secret", "a/b", "k", Some(2))
        );
    }

    #[test]
    fn the_credential_id_drops_the_version_only() {
        let pointer = CredentialRef::parse("openbao+kv2://secret/kc#s?version=4").unwrap();
        assert_eq!(pointer.credential_id(), "openbao+kv2://secret/kc#s");
        assert_eq!(pointer.vault_type(), "openbao");
        assert_eq!(
            CredentialRef::parse("env:X").unwrap().credential_id(),
            "env:X"
        );
    }

    #[test]
    fn each_violation_has_its_code() {
        assert_eq!(code("hunter2"), "NOT_A_POINTER");
        assert_eq!(code("https://vault/secret#k"), "NOT_A_POINTER");
        assert_eq!(code("openbao+kv1://secret/kc#k"), "UNSUPPORTED_ENGINE");
        assert_eq!(code("hashicorp+pki://pki/x#k"), "UNSUPPORTED_ENGINE");
        assert_eq!(code("openbao+kv2://secret/../sys#k"), "ILLEGAL_SEGMENT");
        assert_eq!(code("openbao+kv2://secret/./kc#k"), "ILLEGAL_SEGMENT");
        assert_eq!(code("openbao+kv2://secret/%2e%2e/kc#k"), "ILLEGAL_SEGMENT");
        assert_eq!(code("openbao+kv2://secret//kc#k"), "EMPTY_SEGMENT");
        assert_eq!(code("openbao+kv2://secret/kc/#k"), "EMPTY_SEGMENT");
        assert_eq!(code("openbao+kv2://secret/a%2Fb#k"), "ENCODED_SLASH");
        assert_eq!(code("openbao+kv2://secret/a%5cb#k"), "ENCODED_SLASH");
        assert_eq!(code("openbao+kv2://secret/kc"), "MISSING_KEY");
        assert_eq!(code("openbao+kv2://secret/kc#"), "MISSING_KEY");
        assert_eq!(code("openbao+kv2://secret#k"), "MISSING_PATH");
        assert_eq!(code("openbao+kv2://secret/kc#k?version=0"), "BAD_VERSION");
        assert_eq!(code("openbao+kv2://secret/kc#k?version=x"), "BAD_VERSION");
        assert_eq!(code("openbao+kv2://secret/kc#k?ver=1"), "BAD_VERSION");
        assert_eq!(code("openbao+kv2://secret/k c#k"), "ILLEGAL_CHARACTER");
        assert_eq!(code("yaml://secrets.yaml#a..b"), "MISSING_KEY");
        assert_eq!(code("yaml://../secrets.yaml#a"), "ILLEGAL_SEGMENT");
        assert_eq!(code("env:A-B"), "BAD_NAME");
        assert_eq!(code("env:"), "BAD_NAME");
        assert_eq!(code(&format!("env:{}", "A".repeat(2000))), "TOO_LONG");
    }

    #[test]
    fn a_refused_pointer_is_never_repeated() {
        for text in [
            "hunter2",
            "openbao+kv2://secret/hunter2/../x#k",
            "openbao+kv2://secret/hunter2",
            "hunter2://x",
        ] {
            let message = CredentialRef::parse(text).unwrap_err().to_string();
            assert!(!message.contains("hunter2"), "{message}");
        }
        let yaml: Result<CredentialRef, _> = serde_norway::from_str("hunter2");
        let message = yaml.unwrap_err().to_string();
        assert!(message.contains("NOT_A_POINTER"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn the_debug_form_shows_the_pointer_only() {
        let inline = CredentialRef::Inline(SecretString::from("hunter2"));
        assert_eq!(format!("{inline:?}"), "CredentialRef((inline secret))");
        assert_eq!(
            format!("{:?}", CredentialRef::Env("X".into())),
            "CredentialRef(env:X)"
        );
    }
}
