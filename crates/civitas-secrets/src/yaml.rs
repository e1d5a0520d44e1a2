//! `yaml://PATH#KEY`: a local YAML file of secrets, for development only. The file is read
//! on each lookup (the cache keeps the value for its TTL); `KEY` walks nested mappings by
//! its dot-separated parts.

use civitas_http::{CredentialError, CredentialRef, YamlPointer};
use secrecy::SecretString;
use serde_norway::Value;
use tokio::io::AsyncReadExt;

/// Largest secrets file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub async fn read(pointer: &YamlPointer) -> Result<SecretString, CredentialError> {
    let shown = CredentialRef::Yaml(pointer.clone());
    let unreadable = |reason: String| CredentialError::FileUnreadable {
        pointer: shown.to_string(),
        reason,
    };
    // Read at most one byte past the cap: a file that grows after a size check cannot slip by.
    let file = tokio::fs::File::open(&pointer.path)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "the file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8".to_owned()))?;
    // The parser's message may quote the file (its secrets): only its position is kept.
    let document: Value = serde_norway::from_str(&text).map_err(|e| {
        unreadable(match e.location() {
            Some(at) => format!("not YAML (line {}, column {})", at.line(), at.column()),
            None => "not YAML".to_owned(),
        })
    })?;
    let mut node = &document;
    for part in pointer.key.split('.') {
        node = node.get(part).ok_or_else(|| CredentialError::NotFound {
            pointer: shown.to_string(),
            what: format!("key {}", pointer.key),
        })?;
    }
    let value = match node {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => {
            return Err(CredentialError::NotAllowed {
                pointer: shown.to_string(),
                reason: "the key holds a list or a mapping, not a text".to_owned(),
            });
        }
    };
    civitas_http::credentials::non_empty(&shown, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn a_nested_key_is_read_and_a_missing_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, "keycloak:\n  client_secret: s3cret\nport: 5432\n").unwrap();
        let pointer = |key: &str| YamlPointer {
            path: path.display().to_string(),
            key: key.to_owned(),
        };
        let value = read(&pointer("keycloak.client_secret")).await.unwrap();
        assert_eq!(value.expose_secret(), "s3cret");
        assert_eq!(
            read(&pointer("port")).await.unwrap().expose_secret(),
            "5432"
        );
        let missing = read(&pointer("keycloak.nope")).await.unwrap_err();
        assert!(
            missing.to_string().contains("key keycloak.nope not found"),
            "{missing}"
        );
        let mapping = read(&pointer("keycloak")).await.unwrap_err();
        assert!(!mapping.to_string().contains("s3cret"), "{mapping}");
    }

    #[tokio::test]
    async fn a_broken_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        std::fs::write(&path, "token: [s3cret\n").unwrap();
        let pointer = YamlPointer {
            path: path.display().to_string(),
            key: "token".to_owned(),
        };
        let error = read(&pointer).await.unwrap_err().to_string();
        assert!(error.contains("not YAML"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[tokio::test]
    async fn a_file_over_the_cap_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.yaml");
        std::fs::write(&path, "k: ".to_owned() + &"x".repeat(2 * 1024 * 1024)).unwrap();
        let pointer = YamlPointer {
            path: path.display().to_string(),
            key: "k".to_owned(),
        };
        let error = read(&pointer).await.unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }
}
