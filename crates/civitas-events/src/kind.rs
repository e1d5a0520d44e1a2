//! The five kinds of command: seed 000's `event_type` on `crud.operations`, what a system
//! type's command is and what an authorization rule names.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The five kinds of command (seed 000's `event_type` on `crud.operations`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Create,
    Read,
    Update,
    Delete,
    List,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Create,
        Kind::Read,
        Kind::Update,
        Kind::Delete,
        Kind::List,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Read => "read",
            Kind::Update => "update",
            Kind::Delete => "delete",
            Kind::List => "list",
        }
    }

    /// The kind whose name is `name`, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
