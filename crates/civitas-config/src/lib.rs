//! Reading an operator's configuration files (system types, systems, the authorization
//! policy, workflows): the one error type every loader reports with — which file, which key,
//! why — so that a start-up refuses a bad configuration with every problem named at once.
//!
//! - [`ConfigError`]: one problem in one file; [`ConfigErrors`]: all of them.
//! - [`yaml_error`]: a YAML parser's error as a [`ConfigError`] at its key path.
//! - [`locate`]: the line of a key, a list item or a value in YAML source.
//! - [`duration`]: the one duration grammar (`500ms` … `1w`).

use std::fmt;

pub mod duration;
pub mod locate;

pub use locate::Locator;

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    /// The file, as given (`builtin:keycloak.yaml` for an embedded one).
    pub file: String,
    /// Dotted key path, e.g. `objects.user.commands.create.endpoint` (`.` for the document).
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Every problem found; the service refuses to start on any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration error(s):", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A YAML parse error of `file` as a [`ConfigError`]: at the key path serde_norway names
/// (`path.to.key: reason at line L column C`), else at the document.
pub fn yaml_error(file: &str, error: &serde_norway::Error) -> ConfigError {
    let text = error.to_string();
    match text.split_once(": ") {
        Some((path, reason)) if !path.contains(' ') && !path.is_empty() => {
            ConfigError::new(file, path, reason)
        }
        _ => ConfigError::new(file, ".", text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_error_at_a_key_is_reported_at_that_key() {
        let error = serde_norway::from_str::<std::collections::BTreeMap<String, u32>>("a: x")
            .expect_err("x is not a number");
        let error = yaml_error("f.yaml", &error);
        assert_eq!(error.file, "f.yaml");
        assert_eq!(error.key, "a");
    }

    #[test]
    fn a_yaml_syntax_error_is_reported_at_the_document() {
        let error =
            serde_norway::from_str::<serde_norway::Value>("a: [").expect_err("an unclosed list");
        assert_eq!(yaml_error("f.yaml", &error).key, ".");
    }

    #[test]
    fn all_errors_are_listed_one_a_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("a.yaml", "x", "bad"),
            ConfigError::new("b.yaml", ".", "worse"),
        ]);
        assert_eq!(
            errors.to_string(),
            "2 configuration error(s):\n  - a.yaml: x: bad\n  - b.yaml: .: worse"
        );
    }
}
