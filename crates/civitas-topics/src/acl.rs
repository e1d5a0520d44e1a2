//! The ACL matrix (docs/topics.md, "The ACL matrix"): each principal and what it may produce, consume and which
//! consumer groups it uses, by topic or prefix. Least privilege: nothing is granted that the
//! matrix does not name. Rendered as Kafka ACL bindings and `kafka-acls.sh` command lines here,
//! as Strimzi `KafkaUser` resources in [`crate::strimzi`]; [`AclMatrix::who`] answers who may
//! read and write a topic.

use std::fmt;

use serde::Deserialize;

use crate::error::{AclError, NameError};
use crate::name::TopicName;
use crate::rules::{NamingContext, check_prefix, is_dns_label};
use crate::yaml::Ordered;
use civitas_config::Locator;

/// The ACL matrix shipped with the product (`config/acls.yaml`).
pub const EMBEDDED_ACLS: &str = include_str!("../../../config/acls.yaml");
/// The file name errors in the embedded matrix are reported against.
pub const EMBEDDED_ACLS_FILE: &str = "config/acls.yaml";
/// The name of Kafka's single CLUSTER resource.
pub const KAFKA_CLUSTER_RESOURCE: &str = "kafka-cluster";

/// A resource pattern: one name, or every name with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// Exactly this name (Kafka `LITERAL`).
    Literal(String),
    /// Every name starting with this (Kafka `PREFIXED`), e.g. `crud.`.
    Prefix(String),
}

impl Pattern {
    /// True when `name` falls under this pattern.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == name,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// The name or prefix.
    pub fn name(&self) -> &str {
        match self {
            Pattern::Literal(s) | Pattern::Prefix(s) => s,
        }
    }

    /// Kafka's pattern type.
    pub fn pattern_type(&self) -> PatternType {
        match self {
            Pattern::Literal(_) => PatternType::Literal,
            Pattern::Prefix(_) => PatternType::Prefixed,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Literal(s) => f.write_str(s),
            Pattern::Prefix(s) => write!(f, "prefix {s}"),
        }
    }
}

/// One component that talks to Kafka under its own identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name, e.g. `orchestrator` (Kafka principal `User:orchestrator`).
    pub name: String,
    /// What the component is, for people.
    pub description: Option<String>,
    /// Topics it may write.
    pub produce: Vec<Pattern>,
    /// Topics it may read.
    pub consume: Vec<Pattern>,
    /// Consumer groups it may use.
    pub groups: Vec<Pattern>,
    /// Whether it gets `IDEMPOTENT_WRITE` on the cluster: declared, or true exactly when it
    /// produces.
    pub idempotent: bool,
}

impl Principal {
    /// `User:<name>`.
    pub fn kafka_principal(&self) -> String {
        format!("User:{}", self.name)
    }
}

/// Who may touch a topic, and through which grant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Who {
    /// Principals that may read, each with the grant that allows it.
    pub readers: Vec<Access>,
    /// Principals that may write, each with the grant that allows it.
    pub writers: Vec<Access>,
}

/// One principal's access to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The principal's name.
    pub principal: String,
    /// The matrix entry that grants it.
    pub via: Pattern,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.via {
            Pattern::Literal(_) => f.write_str(&self.principal),
            Pattern::Prefix(p) => write!(f, "{} (prefix {p})", self.principal),
        }
    }
}

/// Kafka ACL operations the matrix grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Consume a topic, or use a consumer group.
    Read,
    /// Produce to a topic.
    Write,
    /// Read a topic's metadata.
    Describe,
    /// Use the idempotent producer (a cluster-level grant; implied by WRITE since Kafka 3.0).
    IdempotentWrite,
}

impl Operation {
    /// `READ`, `WRITE`, `DESCRIBE`, `IDEMPOTENT_WRITE` (Kafka's enum names).
    pub fn kafka(self) -> &'static str {
        match self {
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Describe => "DESCRIBE",
            Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
        }
    }

    /// `Read`, `Write`, `Describe`, `IdempotentWrite` (kafka-acls.sh and Strimzi spelling).
    pub fn camel(self) -> &'static str {
        match self {
            Operation::Read => "Read",
            Operation::Write => "Write",
            Operation::Describe => "Describe",
            Operation::IdempotentWrite => "IdempotentWrite",
        }
    }
}

/// Kafka resource types the matrix grants on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (for `IDEMPOTENT_WRITE`).
    Cluster,
}

impl ResourceType {
    /// `TOPIC`, `GROUP`, `CLUSTER`.
    pub fn kafka(self) -> &'static str {
        match self {
            ResourceType::Topic => "TOPIC",
            ResourceType::Group => "GROUP",
            ResourceType::Cluster => "CLUSTER",
        }
    }
}

/// Kafka's resource pattern types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatternType {
    /// Exactly the name.
    Literal,
    /// Every name with the prefix.
    Prefixed,
}

impl PatternType {
    /// `LITERAL`, `PREFIXED`.
    pub fn kafka(self) -> &'static str {
        match self {
            PatternType::Literal => "LITERAL",
            PatternType::Prefixed => "PREFIXED",
        }
    }
}

/// One Kafka ACL binding (always ALLOW, any host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    /// `User:<name>`.
    pub principal: String,
    /// The operation allowed.
    pub operation: Operation,
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// Literal or prefixed.
    pub pattern_type: PatternType,
    /// The resource name (or prefix); `kafka-cluster` for the cluster.
    pub resource_name: String,
}

impl fmt::Display for AclBinding {
    /// `User:orchestrator ALLOW WRITE TOPIC LITERAL core.civitas.frost.project.create`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ALLOW {} {} {} {}",
            self.principal,
            self.operation.kafka(),
            self.resource_type.kafka(),
            self.pattern_type.kafka(),
            self.resource_name
        )
    }
}

/// The grants of one principal on one resource, with every operation on it (the unit of a
/// Strimzi ACL rule and of one `kafka-acls.sh` call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The kind of resource.
    pub resource_type: ResourceType,
    /// The resource (topic or group pattern); `None` for the cluster.
    pub pattern: Option<Pattern>,
    /// The operations allowed on it, in a stable order.
    pub operations: Vec<Operation>,
}

/// The matrix: every principal, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclMatrix {
    principals: Vec<Principal>,
}

impl AclMatrix {
    /// Loads a matrix file. Every topic must be a valid name under `ctx` and every prefix a
    /// valid prefix; errors name the file and line.
    pub fn from_yaml(src: &str, file: &str, ctx: &NamingContext) -> Result<AclMatrix, AclError> {
        let raw: RawMatrix = serde_norway::from_str(src).map_err(|e| AclError::Parse {
            file: file.to_owned(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        let loc = Locator::new(src);
        let mut principals = Vec::new();
        for (name, p) in raw.principals.0 {
            let line = loc.key(&["principals", &name]);
            let grant_err = |line: usize, message: String| AclError::InvalidGrant {
                file: file.to_owned(),
                line,
                principal: name.clone(),
                message,
            };
            if !is_dns_subdomain(&name) {
                return Err(grant_err(
                    line,
                    "a principal name is lowercase letters, digits, '-' and '.' (it becomes a Kubernetes KafkaUser name)".into(),
                ));
            }
            let p = p.unwrap_or_default();
            let topics = |list: Vec<RawPattern>, section: &str| -> Result<Vec<Pattern>, AclError> {
                list.into_iter()
                    .map(|raw| {
                        let pattern = raw.into_pattern();
                        let line = loc.item(&["principals", &name, section], pattern.name());
                        let checked: Result<(), NameError> = match &pattern {
                            Pattern::Literal(t) => TopicName::parse(t, ctx).map(|_| ()),
                            Pattern::Prefix(pre) => check_prefix(pre),
                        };
                        checked
                            .map(|()| pattern)
                            .map_err(|source| AclError::InvalidTopic {
                                file: file.to_owned(),
                                line,
                                principal: name.clone(),
                                source: Box::new(source),
                            })
                    })
                    .collect()
            };
            let produce = topics(p.produce, "produce")?;
            let consume = topics(p.consume, "consume")?;
            let mut groups = Vec::new();
            for g in p.groups {
                let g = g.into_pattern();
                if !is_group_name(g.name()) {
                    let line = loc.item(&["principals", &name, "groups"], g.name());
                    return Err(grant_err(
                        line,
                        format!(
                            "\"{}\" is not a consumer group name ([a-zA-Z0-9._-], 1 to 249 characters)",
                            g.name()
                        ),
                    ));
                }
                groups.push(g);
            }
            // A consumer without groups is allowed: reading by assignment (kcat -C) needs no
            // group grant.
            let idempotent = match p.idempotent {
                None => !produce.is_empty(),
                Some(true) if produce.is_empty() => {
                    return Err(grant_err(
                        loc.key(&["principals", &name, "idempotent"]),
                        "idempotent: true on a principal that produces nothing (least privilege)"
                            .into(),
                    ));
                }
                Some(flag) => flag,
            };
            principals.push(Principal {
                name: name.clone(),
                description: p.description,
                produce,
                consume,
                groups,
                idempotent,
            });
        }
        Ok(AclMatrix { principals })
    }

    /// The matrix shipped with the product.
    pub fn embedded() -> AclMatrix {
        Self::try_embedded().expect("the embedded ACL matrix is checked by the crate's tests")
    }

    /// The matrix shipped with the product, or why it does not load (a defect).
    pub fn try_embedded() -> Result<AclMatrix, AclError> {
        Self::from_yaml(EMBEDDED_ACLS, EMBEDDED_ACLS_FILE, &NamingContext::default())
            .map_err(|e| AclError::Embedded(Box::new(e)))
    }

    /// Every principal, in file order.
    pub fn principals(&self) -> &[Principal] {
        &self.principals
    }

    /// Which principals may read and which may write `topic`, honouring prefixes.
    pub fn who(&self, topic: &str) -> Who {
        let mut who = Who::default();
        for p in &self.principals {
            if let Some(via) = p.consume.iter().find(|g| g.matches(topic)) {
                who.readers.push(Access {
                    principal: p.name.clone(),
                    via: via.clone(),
                });
            }
            if let Some(via) = p.produce.iter().find(|g| g.matches(topic)) {
                who.writers.push(Access {
                    principal: p.name.clone(),
                    via: via.clone(),
                });
            }
        }
        who
    }

    /// The grants of one principal, resource by resource: produced topics (WRITE, DESCRIBE),
    /// consumed topics (READ, DESCRIBE), groups (READ), then the cluster (IDEMPOTENT_WRITE).
    pub fn grants(principal: &Principal) -> Vec<Grant> {
        let mut out: Vec<Grant> = Vec::new();
        let mut add = |rt: ResourceType, pattern: Option<Pattern>, ops: &[Operation]| match out
            .iter_mut()
            .find(|g| g.resource_type == rt && g.pattern == pattern)
        {
            Some(g) => {
                g.operations.extend(ops);
                g.operations.sort_unstable();
                g.operations.dedup();
            }
            None => out.push(Grant {
                resource_type: rt,
                pattern,
                operations: ops.to_vec(),
            }),
        };
        for t in &principal.produce {
            add(
                ResourceType::Topic,
                Some(t.clone()),
                &[Operation::Write, Operation::Describe],
            );
        }
        for t in &principal.consume {
            add(
                ResourceType::Topic,
                Some(t.clone()),
                &[Operation::Read, Operation::Describe],
            );
        }
        for g in &principal.groups {
            add(ResourceType::Group, Some(g.clone()), &[Operation::Read]);
        }
        if principal.idempotent {
            add(ResourceType::Cluster, None, &[Operation::IdempotentWrite]);
        }
        out
    }

    /// Every ACL binding the matrix implies, principal by principal, without duplicates.
    pub fn bindings(&self) -> Vec<AclBinding> {
        let mut out = Vec::new();
        for p in &self.principals {
            for g in Self::grants(p) {
                for op in &g.operations {
                    out.push(AclBinding {
                        principal: p.kafka_principal(),
                        operation: *op,
                        resource_type: g.resource_type,
                        pattern_type: g
                            .pattern
                            .as_ref()
                            .map_or(PatternType::Literal, Pattern::pattern_type),
                        resource_name: g
                            .pattern
                            .as_ref()
                            .map_or(KAFKA_CLUSTER_RESOURCE, Pattern::name)
                            .to_owned(),
                    });
                }
            }
        }
        out
    }
}

/// The bindings, one per line (`--format kafka`).
pub fn render_kafka_bindings(matrix: &AclMatrix) -> String {
    let mut s = String::new();
    for b in matrix.bindings() {
        s.push_str(&b.to_string());
        s.push('\n');
    }
    s
}

/// A POSIX shell script of `kafka-acls.sh --add` calls, one per principal and resource
/// (`--format kafka-acls`). `BOOTSTRAP` must be set; `COMMAND_CONFIG` optionally names an
/// admin client properties file (SASL/TLS).
pub fn render_kafka_acls_script(matrix: &AclMatrix) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # Kafka ACLs for civitas, generated by `civitas acls render --format kafka-acls`.\n\
         # BOOTSTRAP: bootstrap servers (host:port); COMMAND_CONFIG: optional admin client properties.\n\
         set -eu\n\
         : \"${BOOTSTRAP:?set BOOTSTRAP to the cluster's bootstrap servers}\"\n",
    );
    for p in &matrix.principals {
        s.push('\n');
        match &p.description {
            Some(d) => s.push_str(&format!("# {}: {}\n", p.name, d.trim())),
            None => s.push_str(&format!("# {}\n", p.name)),
        }
        for g in AclMatrix::grants(p) {
            let mut cmd = format!(
                "kafka-acls.sh --bootstrap-server \"$BOOTSTRAP\" ${{COMMAND_CONFIG:+--command-config \"$COMMAND_CONFIG\"}} --add --allow-principal {}",
                p.kafka_principal()
            );
            for op in &g.operations {
                cmd.push_str(&format!(" --operation {}", op.camel()));
            }
            match (&g.resource_type, &g.pattern) {
                (ResourceType::Cluster, _) | (_, None) => cmd.push_str(" --cluster"),
                (rt, Some(pattern)) => {
                    let flag = if *rt == ResourceType::Group {
                        "--group"
                    } else {
                        "--topic"
                    };
                    cmd.push_str(&format!(" {flag} {}", pattern.name()));
                    if pattern.pattern_type() == PatternType::Prefixed {
                        cmd.push_str(" --resource-pattern-type prefixed");
                    }
                }
            }
            s.push_str(&cmd);
            s.push('\n');
        }
    }
    s
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_group_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    principals: Ordered<Option<RawPrincipal>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    description: Option<String>,
    #[serde(default)]
    produce: Vec<RawPattern>,
    #[serde(default)]
    consume: Vec<RawPattern>,
    #[serde(default)]
    groups: Vec<RawPattern>,
    idempotent: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a topic name, or `prefix: <prefix>`")]
enum RawPattern {
    Literal(String),
    Prefix { prefix: String },
}

impl RawPattern {
    fn into_pattern(self) -> Pattern {
        match self {
            RawPattern::Literal(s) => Pattern::Literal(s),
            RawPattern::Prefix { prefix } => Pattern::Prefix(prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::rules::Rule;

    fn names(list: &[Access]) -> Vec<&str> {
        list.iter().map(|a| a.principal.as_str()).collect()
    }

    #[test]
    fn the_embedded_matrix_loads() {
        AclMatrix::try_embedded().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn the_saga_topics_have_exactly_the_seeds_publishers_and_subscribers() {
        let m = AclMatrix::embedded();
        // topic, publisher, subscriber (seed 003); troubleshooting reads everything read-only.
        let table = [
            (
                "core.civitas.dataset.create.requested",
                "portal-backend",
                "orchestrator",
            ),
            (
                "core.civitas.frost.project.create",
                "orchestrator",
                "frost-adapter",
            ),
            (
                "core.civitas.frost.project.delete",
                "orchestrator",
                "frost-adapter",
            ),
            (
                "core.civitas.frost.project.result",
                "frost-adapter",
                "orchestrator",
            ),
            (
                "core.civitas.apisix.route.create",
                "orchestrator",
                "apisix-adapter",
            ),
            (
                "core.civitas.apisix.route.delete",
                "orchestrator",
                "apisix-adapter",
            ),
            (
                "core.civitas.apisix.route.result",
                "apisix-adapter",
                "orchestrator",
            ),
            (
                "core.civitas.dataset.create.completed",
                "orchestrator",
                "portal-backend",
            ),
            (
                "core.civitas.dataset.create.failed",
                "orchestrator",
                "portal-backend",
            ),
        ];
        for (topic, publisher, subscriber) in table {
            let who = m.who(topic);
            assert_eq!(names(&who.writers), vec![publisher], "writers of {topic}");
            assert_eq!(
                names(&who.readers),
                vec![subscriber, "troubleshooting"],
                "readers of {topic}"
            );
        }
    }

    #[test]
    fn every_catalog_topic_has_a_writer_and_a_reader() {
        let m = AclMatrix::embedded();
        for t in Catalog::embedded().topics() {
            let who = m.who(&t.name.to_string());
            assert!(!who.writers.is_empty(), "nobody writes {}", t.name);
            assert!(!who.readers.is_empty(), "nobody reads {}", t.name);
        }
    }

    #[test]
    fn who_honours_prefixes() {
        let m = AclMatrix::embedded();
        let who = m.who("de.civitascore.idm.user.created");
        assert_eq!(names(&who.writers), vec!["crud-service"]);
        assert_eq!(
            who.writers[0].via,
            Pattern::Prefix("de.civitascore.".into())
        );
        assert_eq!(names(&who.readers), vec!["idm-adapter", "troubleshooting"]);
        let who = m.who("crud.operations");
        assert_eq!(names(&who.writers), vec!["crud-service"]);
        assert_eq!(names(&who.readers), vec!["troubleshooting"]);
        let nobody = m.who("de.musterstadt.umwelt.luftqualitaet.raw");
        assert_eq!(nobody, Who::default());
    }

    #[test]
    fn troubleshooting_is_read_only_and_non_producers_get_no_write_grants() {
        let m = AclMatrix::embedded();
        for p in m.principals() {
            let writes = m
                .bindings()
                .into_iter()
                .filter(|b| b.principal == p.kafka_principal())
                .any(|b| matches!(b.operation, Operation::Write | Operation::IdempotentWrite));
            assert_eq!(writes, !p.produce.is_empty(), "{}", p.name);
        }
        let t = m
            .principals()
            .iter()
            .find(|p| p.name == "troubleshooting")
            .unwrap();
        assert!(t.produce.is_empty());
        assert_eq!(
            t.consume,
            vec![
                Pattern::Prefix("crud.".into()),
                Pattern::Prefix("core.civitas.".into()),
                Pattern::Prefix("de.civitascore.".into()),
            ]
        );
    }

    #[test]
    fn invalid_topics_and_prefixes_are_rejected_with_their_line() {
        let src = "\
principals:
  reader:
    consume:
      - crud.operations
      - de.civitascore.idm.User.create
";
        let err = AclMatrix::from_yaml(src, "acls.yaml", &NamingContext::default()).unwrap_err();
        let AclError::InvalidTopic { line, source, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, 5);
        assert_eq!(source.rule, Rule::Lowercase);
        assert!(
            err.to_string()
                .starts_with("acls.yaml:5: principal reader:")
        );

        let src = "principals:\n  reader:\n    consume:\n      - prefix: crud\n";
        let err = AclMatrix::from_yaml(src, "acls.yaml", &NamingContext::default()).unwrap_err();
        let AclError::InvalidTopic { line, source, .. } = err else {
            panic!()
        };
        assert_eq!((line, source.rule), (4, Rule::PrefixBoundary));
    }

    #[test]
    fn idempotence_is_derived_and_cannot_be_granted_to_non_producers() {
        let src = "principals:\n  reader:\n    consume: [crud.errors]\n    idempotent: true\n";
        let err = AclMatrix::from_yaml(src, "acls.yaml", &NamingContext::default()).unwrap_err();
        assert!(
            matches!(err, AclError::InvalidGrant { line: 4, .. }),
            "{err}"
        );
        let src = "principals:\n  writer:\n    produce: [crud.errors]\n  quiet:\n    produce: [crud.metrics]\n    idempotent: false\n";
        let m = AclMatrix::from_yaml(src, "acls.yaml", &NamingContext::default()).unwrap();
        assert!(m.principals()[0].idempotent);
        assert!(!m.principals()[1].idempotent);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let src = "principals:\n  writer:\n    write: [crud.errors]\n";
        let err = AclMatrix::from_yaml(src, "acls.yaml", &NamingContext::default()).unwrap_err();
        assert!(matches!(err, AclError::Parse { line: 3, .. }), "{err}");
    }

    #[test]
    fn kafka_bindings_snapshot() {
        insta::assert_snapshot!(render_kafka_bindings(&AclMatrix::embedded()));
    }

    #[test]
    fn kafka_acls_script_snapshot() {
        insta::assert_snapshot!(render_kafka_acls_script(&AclMatrix::embedded()));
    }
}
