//! Who sees which records on the console (docs/console.md, "Signing in").
//!
//! - Callers not authenticated (no `--auth-issuer`): everyone sees everything, as the API
//!   lets everyone run everything.
//! - Authenticated, no policy (`--authz`): every signed-in person sees everything, as every
//!   authenticated caller may run every command.
//! - With a policy: a record about an object (`data.system` and `data.object_type`, else its
//!   `ce_subject` `system/object_type/id`) is shown to whom the policy lets read that object
//!   type of that system ([`Policy::may_read`](civitas_auth::authz::Policy::may_read)); a record that
//!   names no system (validation errors, workflow, secret, metrics and saga records) and the
//!   sagas and metrics views only to platform-wide readers (a rule over every system).
//!
//! Workflow runs and approval tasks come from the workflow API, which applies its own rules.

use std::sync::Arc;

use civitas_kafka::ConsumedRecord;
use serde_json::Value;

use super::Console;
use civitas_auth::Caller;
use civitas_auth::authz::{Grants, Policy};

/// One caller's view of the records.
#[derive(Debug, Clone)]
pub struct Visibility {
    /// `None`: callers are not authenticated, or there is no policy: everyone sees all.
    policy: Option<Arc<Policy>>,
    grants: Option<Arc<Grants>>,
}

impl Visibility {
    pub fn of(console: &Console, caller: Option<&Caller>) -> Self {
        Self {
            policy: console.caller_auth.as_ref().and(console.policy.clone()),
            grants: caller.map(|c| c.0.grants.clone()),
        }
    }

    fn unrestricted(&self) -> bool {
        self.policy.is_none()
    }

    /// Whether the caller sees what names no system: sagas, metrics, records of no object.
    pub fn sees_platform(&self) -> bool {
        self.unrestricted()
            || self
                .policy
                .as_ref()
                .is_some_and(|p| p.may_read(self.grants.as_deref(), None, None))
    }

    /// Whether the caller sees `record`.
    pub fn sees(&self, record: &ConsumedRecord) -> bool {
        if self.unrestricted() {
            return true;
        }
        let Some(policy) = &self.policy else {
            return true;
        };
        let data = record.value.get("data");
        let field = |key: &str| data.and_then(|d| d.get(key)).and_then(Value::as_str);
        let (system, object_type) = match (field("system"), field("object_type")) {
            (Some(system), Some(object_type)) => (Some(system), Some(object_type)),
            _ => match record.header("ce_subject").map(|s| s.splitn(3, '/')) {
                Some(mut parts) => match (parts.next(), parts.next()) {
                    (Some(system), Some(object_type)) => (Some(system), Some(object_type)),
                    _ => (None, None),
                },
                None => (None, None),
            },
        };
        policy.may_read(self.grants.as_deref(), system, object_type)
    }
}
