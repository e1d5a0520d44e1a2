//! Authorization as data: a policy file of rules saying which callers (by the claims of their
//! token) may run which commands.
//!
//! ```yaml
//! rules:
//!   - name: directory-admins
//!     callers:                       # any one of these grants the rule
//!       roles: [civitas-admin]       # realm_access.roles (Keycloak) or roles (Entra ID)
//!       client_roles:                # resource_access.<client>.roles (Keycloak)
//!         civitas-crud: [writer]
//!       groups: [/admins]            # the groups claim
//!       scopes: [crud.write]         # scope (space-separated) or scp
//!       subjects: [8f1c…]            # sub (never a username a user may choose)
//!     systems: [local, kc]           # each of these four is optional; absent = any
//!     object_types: [user, group]
//!     actions: [create, lock]
//!     kinds: [create, update, delete]  # read, list, create, update, delete
//! ```
//!
//! A command is allowed when at least one rule matches both the caller and the command;
//! nothing else is (default deny). A refusal names the rules that would allow the command,
//! never the caller's claims.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use civitas_config::{ConfigError, yaml_error};
use civitas_events::Kind;

/// What a caller's token grants, read from its claims.
/// Serializable: a workflow run keeps its starter's grants for the commands it runs later.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Grants {
    /// `sub`: the one subject claim an issuer guarantees stable and unique (a username,
    /// `preferred_username`, can often be chosen by its user).
    pub subjects: BTreeSet<String>,
    /// `realm_access.roles` and `roles`.
    pub roles: BTreeSet<String>,
    /// `resource_access.<client>.roles`.
    pub client_roles: BTreeMap<String, BTreeSet<String>>,
    /// `groups`.
    pub groups: BTreeSet<String>,
    /// `scope` (space-separated) and `scp` (string or list).
    pub scopes: BTreeSet<String>,
}

/// Most values read from one claim: a token is the caller's own input.
const MAX_CLAIM_VALUES: usize = 1_000;

impl Grants {
    /// The grants in a verified token's claims.
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let mut grants = Grants::default();
        grants
            .subjects
            .extend(claims.get("sub").and_then(Value::as_str).map(str::to_owned));
        grants.roles.extend(strings(
            claims.get("realm_access").and_then(|a| a.get("roles")),
        ));
        grants.roles.extend(strings(claims.get("roles")));
        if let Some(Value::Object(clients)) = claims.get("resource_access") {
            for (client, access) in clients.iter().take(MAX_CLAIM_VALUES) {
                let roles: BTreeSet<String> = strings(access.get("roles")).collect();
                if !roles.is_empty() {
                    grants.client_roles.insert(client.clone(), roles);
                }
            }
        }
        grants.groups.extend(strings(claims.get("groups")));
        grants.scopes.extend(strings(claims.get("scope")));
        grants.scopes.extend(strings(claims.get("scp")));
        grants
    }
}

/// The strings of a claim: a list of strings, or one space-separated string.
fn strings(claim: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    let (list, text) = match claim {
        Some(Value::Array(items)) => (Some(items), None),
        Some(Value::String(text)) => (None, Some(text)),
        _ => (None, None),
    };
    list.into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .chain(text.into_iter().flat_map(|t| t.split_whitespace()))
        .take(MAX_CLAIM_VALUES)
        .map(str::to_owned)
}

/// Which callers a rule is for: any one listed grant suffices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callers {
    #[serde(default)]
    pub roles: BTreeSet<String>,
    #[serde(default)]
    pub client_roles: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub scopes: BTreeSet<String>,
    #[serde(default)]
    pub subjects: BTreeSet<String>,
}

impl Callers {
    fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.client_roles.values().all(BTreeSet::is_empty)
            && self.groups.is_empty()
            && self.scopes.is_empty()
            && self.subjects.is_empty()
    }

    fn admit(&self, grants: &Grants) -> bool {
        !self.roles.is_disjoint(&grants.roles)
            || !self.groups.is_disjoint(&grants.groups)
            || !self.scopes.is_disjoint(&grants.scopes)
            || !self.subjects.is_disjoint(&grants.subjects)
            || self.client_roles.iter().any(|(client, roles)| {
                grants
                    .client_roles
                    .get(client)
                    .is_some_and(|held| !roles.is_disjoint(held))
            })
    }
}

/// One rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub callers: Callers,
    #[serde(default)]
    pub systems: Option<BTreeSet<String>>,
    #[serde(default)]
    pub object_types: Option<BTreeSet<String>>,
    #[serde(default)]
    pub actions: Option<BTreeSet<String>>,
    #[serde(default)]
    pub kinds: Option<BTreeSet<Kind>>,
}

/// The command a caller wants to run.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub system: &'a str,
    pub object_type: &'a str,
    pub action: &'a str,
    pub kind: Kind,
}

impl Rule {
    fn covers(&self, target: &Target<'_>) -> bool {
        let within = |set: &Option<BTreeSet<String>>, value: &str| {
            set.as_ref().is_none_or(|set| set.contains(value))
        };
        within(&self.systems, target.system)
            && within(&self.object_types, target.object_type)
            && within(&self.actions, target.action)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&target.kind))
    }
}

/// The whole policy file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub rules: Vec<Rule>,
}

/// Why a command was refused: the rules that would allow it (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Denied {
    pub target: String,
    pub would_allow: Vec<String>,
}

impl Denied {
    fn message(&self) -> String {
        if self.would_allow.is_empty() {
            format!(
                "not allowed: no rule of the authorization policy allows {}",
                self.target
            )
        } else {
            format!(
                "not allowed: {} needs a grant of rule {}",
                self.target,
                self.would_allow
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        }
    }
}

impl Policy {
    /// Reads and checks a policy file: YAML errors with their line, and every rule must
    /// have a unique name and at least one caller grant.
    pub fn load(path: &Path) -> Result<Self, Vec<ConfigError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::new(&file, ".", format!("cannot read: {e}"))])?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a policy (see [`load`](Self::load)).
    pub fn parse(file: &str, text: &str) -> Result<Self, Vec<ConfigError>> {
        let policy: Policy =
            serde_norway::from_str(text).map_err(|e| vec![yaml_error(file, &e)])?;
        let mut errors = Vec::new();
        let mut names = BTreeSet::new();
        for (index, rule) in policy.rules.iter().enumerate() {
            let key = |field: &str| format!("rules[{index}].{field}");
            if rule.name.trim().is_empty() {
                errors.push(ConfigError::new(file, key("name"), "must not be empty"));
            } else if !names.insert(rule.name.as_str()) {
                errors.push(ConfigError::new(
                    file,
                    key("name"),
                    format!("`{}` names two rules", rule.name),
                ));
            }
            if rule.callers.is_empty() {
                errors.push(ConfigError::new(
                    file,
                    key("callers"),
                    "lists no roles, client_roles, groups, scopes or subjects: the rule would admit nobody",
                ));
            }
            for (field, set) in [
                ("systems", &rule.systems),
                ("object_types", &rule.object_types),
                ("actions", &rule.actions),
            ] {
                if set.as_ref().is_some_and(BTreeSet::is_empty) {
                    errors.push(ConfigError::new(
                        file,
                        key(field),
                        "is empty: leave it out to mean any",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }

    /// Checks the systems the rules name against the configured ones.
    pub fn check_systems<'a>(
        &self,
        file: &str,
        systems: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            for system in rule.systems.iter().flatten() {
                if !systems.clone().into_iter().any(|s| s == system) {
                    errors.push(ConfigError::new(
                        file,
                        format!("rules[{index}].systems"),
                        format!("`{system}` is not a configured system"),
                    ));
                }
            }
        }
        errors
    }

    /// Whether `grants` may read what happens to `object_type` objects of `system` (the
    /// console's rule for events): some rule admits the caller, covers the system and the
    /// object type, and allows reading (kinds absent, or `read` or `list` among them).
    /// `None` for either: a rule must cover every system (or object type) — a platform-wide
    /// reader — since the record cannot be attributed.
    pub fn may_read(
        &self,
        grants: Option<&Grants>,
        system: Option<&str>,
        object_type: Option<&str>,
    ) -> bool {
        let Some(grants) = grants else {
            return false;
        };
        let covers = |set: &Option<BTreeSet<String>>, value: Option<&str>| match (set, value) {
            (None, _) => true,
            (Some(set), Some(value)) => set.contains(value),
            (Some(_), None) => false,
        };
        self.rules.iter().any(|rule| {
            rule.callers.admit(grants)
                && covers(&rule.systems, system)
                && covers(&rule.object_types, object_type)
                && rule
                    .kinds
                    .as_ref()
                    .is_none_or(|k| k.contains(&Kind::Read) || k.contains(&Kind::List))
        })
    }

    /// Whether `grants` may run `target`.
    pub fn check(&self, grants: Option<&Grants>, target: &Target<'_>) -> Result<(), Denied> {
        let covering = self.rules.iter().filter(|rule| rule.covers(target));
        let mut would_allow = Vec::new();
        for rule in covering {
            if grants.is_some_and(|g| rule.callers.admit(g)) {
                return Ok(());
            }
            would_allow.push(rule.name.clone());
        }
        Err(Denied {
            target: format!(
                "{}/{}/{} ({})",
                target.system, target.object_type, target.action, target.kind
            ),
            would_allow,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: &str = "rules:
  - name: readers
    callers: {roles: [viewer], scopes: [crud.read]}
    kinds: [read, list]
  - name: kc-admins
    callers: {client_roles: {civitas-crud: [admin]}, groups: [/admins]}
    systems: [kc]
    object_types: [user]
";

    #[test]
    fn reading_events_needs_a_rule_that_admits_the_caller_covers_the_object_and_may_read() {
        let policy = Policy::parse("p.yaml", POLICY).unwrap();
        let viewer = grants(json!({"realm_access": {"roles": ["viewer"]}}));
        let kc_admin = grants(json!({"groups": ["/admins"]}));
        let nobody = grants(json!({"sub": "x"}));
        // `readers` covers every system and may read: a platform-wide reader.
        assert!(policy.may_read(Some(&viewer), Some("local"), Some("user")));
        assert!(policy.may_read(Some(&viewer), None, None));
        // `kc-admins` covers kc users only (any kind).
        assert!(policy.may_read(Some(&kc_admin), Some("kc"), Some("user")));
        assert!(!policy.may_read(Some(&kc_admin), Some("kc"), Some("group")));
        assert!(!policy.may_read(Some(&kc_admin), Some("local"), Some("user")));
        assert!(!policy.may_read(Some(&kc_admin), None, None));
        assert!(!policy.may_read(Some(&nobody), Some("kc"), Some("user")));
        assert!(!policy.may_read(None, Some("kc"), Some("user")));
        let writers = Policy::parse(
            "p.yaml",
            "rules:\n  - name: w\n    callers: {roles: [w]}\n    kinds: [create]\n",
        )
        .unwrap();
        let writer = grants(json!({"roles": ["w"]}));
        assert!(!writers.may_read(Some(&writer), Some("kc"), Some("user")));
    }

    fn target(action: &'static str, kind: Kind) -> Target<'static> {
        Target {
            system: "kc",
            object_type: "user",
            action,
            kind,
        }
    }

    fn grants(claims: Value) -> Grants {
        Grants::from_claims(claims.as_object().unwrap())
    }

    #[test]
    fn a_realm_role_a_client_role_a_scope_and_a_group_each_grant_their_rule() {
        let policy = Policy::parse("p.yaml", POLICY).unwrap();
        let reader = grants(json!({"sub": "a", "realm_access": {"roles": ["viewer"]}}));
        assert!(
            policy
                .check(Some(&reader), &target("read", Kind::Read))
                .is_ok()
        );
        assert!(
            policy
                .check(Some(&reader), &target("delete", Kind::Delete))
                .is_err()
        );
        let scoped = grants(json!({"sub": "b", "scope": "openid crud.read"}));
        assert!(
            policy
                .check(Some(&scoped), &target("list", Kind::List))
                .is_ok()
        );
        let admin =
            grants(json!({"sub": "c", "resource_access": {"civitas-crud": {"roles": ["admin"]}}}));
        assert!(
            policy
                .check(Some(&admin), &target("delete", Kind::Delete))
                .is_ok()
        );
        let member = grants(json!({"sub": "d", "groups": ["/admins"]}));
        assert!(
            policy
                .check(Some(&member), &target("delete", Kind::Delete))
                .is_ok()
        );
    }

    #[test]
    fn a_refusal_names_the_rules_that_would_allow_not_the_claims() {
        let policy = Policy::parse("p.yaml", POLICY).unwrap();
        let nobody = grants(json!({"sub": "x", "realm_access": {"roles": ["secret-role"]}}));
        let denied = policy
            .check(Some(&nobody), &target("delete", Kind::Delete))
            .unwrap_err();
        assert_eq!(denied.would_allow, ["kc-admins"]);
        assert!(!denied.to_string().contains("secret-role"));
        let other = Target {
            system: "local",
            ..target("delete", Kind::Delete)
        };
        let denied = policy.check(Some(&nobody), &other).unwrap_err();
        assert!(denied.to_string().contains("no rule"), "{denied}");
        assert!(policy.check(None, &target("read", Kind::Read)).is_err());
    }

    #[test]
    fn policy_errors_name_the_file_the_key_and_the_line() {
        let errors = Policy::parse("p.yaml", "rules:\n  - name: r\n    callers: {rolez: [x]}\n")
            .unwrap_err();
        assert_eq!(errors[0].file, "p.yaml");
        assert!(errors[0].to_string().contains("line 3"), "{errors:?}");
        let errors = Policy::parse("p.yaml", "rules:\n  - name: r\n    callers: {}\n").unwrap_err();
        assert_eq!(errors[0].key, "rules[0].callers");
        let errors = Policy::parse(
            "p.yaml",
            "rules:\n  - {name: r, callers: {roles: [a]}, kinds: [erase]}\n",
        )
        .unwrap_err();
        assert!(errors[0].to_string().contains("erase"), "{errors:?}");
    }
}
