//! Errors of this crate: a rejected name ([`NameError`]), a catalog that does not load
//! ([`CatalogError`]) and an ACL matrix that does not load ([`AclError`]).

use std::fmt;

use crate::lint::Violation;
use crate::rules::Rule;

/// One segment of a dotted name: its 0-based index and its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// 0-based position among the dot-separated segments.
    pub index: usize,
    /// The segment as written.
    pub text: String,
}

impl Segment {
    /// A segment at `index` with `text`.
    pub fn new(index: usize, text: &str) -> Self {
        Segment {
            index,
            text: text.to_owned(),
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} \"{}\"", self.index, self.text)
    }
}

/// A name that broke a naming rule: which name, which rule, which segment, and a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NameError {
    /// The whole name as given.
    pub name: String,
    /// The rule it broke.
    pub rule: Rule,
    /// The offending segment, when one segment is to blame.
    pub segment: Option<Segment>,
    /// A suggestion, e.g. `did you mean "created"?`.
    pub hint: Option<String>,
}

impl NameError {
    pub(crate) fn new(name: &str, rule: Rule) -> Self {
        NameError {
            name: name.to_owned(),
            rule,
            segment: None,
            hint: None,
        }
    }

    pub(crate) fn at(mut self, segment: Segment) -> Self {
        self.segment = Some(segment);
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The rule's message, the segment and the hint, without the name: used where the name
    /// is printed elsewhere.
    pub fn detail(&self) -> String {
        let mut s = self.rule.message().to_owned();
        if let Some(seg) = &self.segment {
            s.push_str(&format!(" ({seg})"));
        }
        if let Some(hint) = &self.hint {
            s.push_str(&format!("; {hint}"));
        }
        s
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\": {}: {}",
            self.name,
            self.rule.id(),
            self.detail()
        )
    }
}

/// A catalog file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file broke one or more rules; every violation carries file and line.
    #[error("{file}: {} violation(s); first: {}", violations.len(), violations.first().map(ToString::to_string).unwrap_or_default())]
    Invalid {
        /// The file as the caller named it.
        file: String,
        /// Every violation found, in file order.
        violations: Vec<Violation>,
    },
    /// The shipped catalog itself is broken (a defect caught by the crate's tests).
    #[error("the embedded catalog is invalid: {0}")]
    Embedded(Box<CatalogError>),
}

/// An ACL matrix that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// The file is not YAML or not shaped like an ACL matrix.
    #[error("{file}:{line}: acl.syntax: {message}")]
    Parse {
        /// The file as the caller named it.
        file: String,
        /// 1-based line, or 0 when unknown.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A topic or prefix in the matrix breaks the naming rules.
    #[error("{file}:{line}: principal {principal}: {source}")]
    InvalidTopic {
        /// The file as the caller named it.
        file: String,
        /// 1-based line of the offending entry.
        line: usize,
        /// The principal whose entry it is.
        principal: String,
        /// What is wrong with the name.
        #[source]
        source: Box<NameError>,
    },
    /// A grant the matrix cannot express, e.g. an idempotent-write flag on a principal that
    /// produces nothing, or an invalid consumer-group name.
    #[error("{file}:{line}: principal {principal}: {message}")]
    InvalidGrant {
        /// The file as the caller named it.
        file: String,
        /// 1-based line of the offending entry.
        line: usize,
        /// The principal whose entry it is.
        principal: String,
        /// What is wrong.
        message: String,
    },
    /// The shipped matrix itself is broken (a defect caught by the crate's tests).
    #[error("the embedded ACL matrix is invalid: {0}")]
    Embedded(Box<AclError>),
}
