//! Strimzi resources: a `KafkaTopic` per catalog topic and a `KafkaUser` per principal of the
//! ACL matrix, as multi-document YAML for `kubectl apply -f -`.
//!
//! `kafka.strimzi.io/v1` by default: Strimzi 1.0 and later serve nothing else. Operators on a
//! release older than 0.49 (before `v1` existed) choose `v1beta2`. The cluster and namespace
//! are checked as Kubernetes names before anything is rendered, and a topic whose name is
//! not a valid resource name (upper case, `_`) gets a valid one with a short hash, its real
//! name staying in `spec.topicName`, as Strimzi's own topic operator does.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::acl::{AclMatrix, Grant, PatternType, ResourceType};
use crate::catalog::Catalog;

/// The Strimzi API version rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrimziVersion {
    /// `kafka.strimzi.io/v1`: Strimzi 0.49 and later (the only one from 1.0 on).
    #[default]
    V1,
    /// `kafka.strimzi.io/v1beta2`: Strimzi before 1.0 (needed before 0.49).
    V1beta2,
}

impl StrimziVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            StrimziVersion::V1 => "kafka.strimzi.io/v1",
            StrimziVersion::V1beta2 => "kafka.strimzi.io/v1beta2",
        }
    }
}

/// Where the resources go: API version, Strimzi cluster and namespace, all checked.
#[derive(Debug, Clone)]
pub struct StrimziTarget {
    version: StrimziVersion,
    cluster: String,
    namespace: Option<String>,
}

/// A name Kubernetes would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?} is not a valid Kubernetes name: {reason}")]
pub struct InvalidName {
    pub what: &'static str,
    pub name: String,
    pub reason: &'static str,
}

impl StrimziTarget {
    /// Checks `cluster` (a Strimzi `Kafka` resource's name, also a label value) and
    /// `namespace` as DNS-1123 labels: 1 to 63 of `a-z`, `0-9` and `-`, starting and ending
    /// with a letter or digit.
    pub fn new(
        version: StrimziVersion,
        cluster: &str,
        namespace: Option<&str>,
    ) -> Result<Self, InvalidName> {
        dns_label("--cluster", cluster)?;
        if let Some(namespace) = namespace {
            dns_label("--namespace", namespace)?;
        }
        Ok(Self {
            version,
            cluster: cluster.to_owned(),
            namespace: namespace.map(str::to_owned),
        })
    }
}

fn dns_label(what: &'static str, name: &str) -> Result<(), InvalidName> {
    let invalid = |reason| {
        Err(InvalidName {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 63 {
        return invalid("it must have 1 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return invalid("only lower-case letters, digits and '-' are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return invalid("it must start and end with a letter or digit");
    }
    Ok(())
}

/// Whether `name` is a valid resource name (DNS-1123 subdomain): at most 253 of `a-z`,
/// `0-9`, `-` and `.`, each dot-separated part starting and ending with a letter or digit.
fn is_resource_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A valid resource name for `name`: itself when valid, else lower-cased with every other
/// character turned into `-`, plus a hash of the original (two topics that differ only in
/// case or `_` must not collide).
fn resource_name(name: &str) -> String {
    if is_resource_name(name) {
        return name.to_owned();
    }
    let mut cleaned: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.') => c,
            _ => '-',
        })
        .collect();
    cleaned = cleaned
        .split('.')
        .map(|part| part.trim_matches('-'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    cleaned.truncate(200);
    // FNV-1a: stable across releases and platforms (std's hasher is not).
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let cleaned = cleaned.trim_end_matches(['-', '.']);
    let cleaned = if cleaned.is_empty() { "topic" } else { cleaned };
    format!("{cleaned}-{:08x}", hash as u32)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicSpec {
    topic_name: String,
    partitions: u32,
    replicas: u16,
    config: BTreeMap<String, ConfigValue>,
}

/// Numeric configs render as numbers, the rest as strings.
#[derive(Serialize)]
#[serde(untagged)]
enum ConfigValue {
    Int(i64),
    Text(String),
}

#[derive(Serialize)]
struct UserSpec {
    authentication: Authentication,
    authorization: Authorization,
}

#[derive(Serialize)]
struct Authentication {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Authorization {
    #[serde(rename = "type")]
    kind: &'static str,
    acls: Vec<AclRule>,
}

#[derive(Serialize)]
struct AclRule {
    resource: AclResource,
    operations: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AclResource {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern_type: Option<&'static str>,
}

fn labels(cluster: &str, extra: Option<(&'static str, String)>) -> BTreeMap<&'static str, String> {
    let mut l = BTreeMap::new();
    l.insert("strimzi.io/cluster", cluster.to_owned());
    l.insert("app.kubernetes.io/managed-by", "civitas".to_owned());
    if let Some((k, v)) = extra {
        l.insert(k, v);
    }
    l
}

fn documents<T: Serialize>(header: &str, docs: &[T]) -> String {
    let mut out = format!("# {header}\n");
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(d).expect("plain structs always serialize"));
    }
    out
}

/// A `KafkaTopic` for every topic of the catalog, labelled for the target's Strimzi cluster,
/// in its namespace if given (otherwise the one `kubectl` uses).
pub fn render_strimzi_topics(catalog: &Catalog, target: &StrimziTarget) -> String {
    let docs: Vec<Resource<TopicSpec>> = catalog
        .topics()
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let config = t
                .settings
                .configs()
                .into_iter()
                .map(|(k, v)| {
                    let v = v
                        .parse::<i64>()
                        .map_or(ConfigValue::Text(v), ConfigValue::Int);
                    (k, v)
                })
                .collect();
            Resource {
                api_version: target.version.api_version(),
                kind: "KafkaTopic",
                metadata: Metadata {
                    name: resource_name(&name),
                    namespace: target.namespace.clone(),
                    labels: labels(
                        &target.cluster,
                        Some(("civitascore.de/topic-family", t.family().id().to_owned())),
                    ),
                },
                spec: TopicSpec {
                    topic_name: name,
                    partitions: t.settings.partitions,
                    replicas: t.settings.replicas,
                    config,
                },
            }
        })
        .collect();
    documents(
        "KafkaTopics for civitas, generated by `civitas topics render --format strimzi`.",
        &docs,
    )
}

/// A `KafkaUser` (SCRAM-SHA-512, simple authorization) for every principal of the matrix.
pub fn render_strimzi_users(matrix: &AclMatrix, target: &StrimziTarget) -> String {
    let docs: Vec<Resource<UserSpec>> = matrix
        .principals()
        .iter()
        .map(|p| Resource {
            api_version: target.version.api_version(),
            kind: "KafkaUser",
            metadata: Metadata {
                // The user's name is its principal (User:<name>): it must stay as it is.
                name: p.name.clone(),
                namespace: target.namespace.clone(),
                labels: labels(&target.cluster, None),
            },
            spec: UserSpec {
                authentication: Authentication {
                    kind: "scram-sha-512",
                },
                authorization: Authorization {
                    kind: "simple",
                    acls: AclMatrix::grants(p).iter().map(acl_rule).collect(),
                },
            },
        })
        .collect();
    documents(
        "KafkaUsers for civitas, generated by `civitas acls render --format strimzi`.",
        &docs,
    )
}

fn acl_rule(g: &Grant) -> AclRule {
    let kind = match g.resource_type {
        ResourceType::Topic => "topic",
        ResourceType::Group => "group",
        ResourceType::Cluster => "cluster",
    };
    AclRule {
        resource: AclResource {
            kind,
            name: g.pattern.as_ref().map(|p| p.name().to_owned()),
            pattern_type: g.pattern.as_ref().map(|p| match p.pattern_type() {
                PatternType::Literal => "literal",
                PatternType::Prefixed => "prefix",
            }),
        },
        operations: g.operations.iter().map(|o| o.camel()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> StrimziTarget {
        StrimziTarget::new(StrimziVersion::V1, "my-cluster", Some("kafka")).unwrap()
    }

    #[test]
    fn cluster_and_namespace_must_be_kubernetes_names() {
        for bad in ["Bad_NS", "", "-x", "x-", "a.b", &"x".repeat(64)] {
            let err = StrimziTarget::new(StrimziVersion::V1, "c", Some(bad)).unwrap_err();
            assert_eq!(err.what, "--namespace", "{bad}");
            let err = StrimziTarget::new(StrimziVersion::V1, bad, None).unwrap_err();
            assert_eq!(err.what, "--cluster", "{bad}");
        }
        assert!(StrimziTarget::new(StrimziVersion::V1beta2, "my-cluster", Some("kafka-1")).is_ok());
    }

    #[test]
    fn a_topic_name_kubernetes_refuses_gets_a_valid_distinct_resource_name() {
        assert_eq!(resource_name("crud.operations"), "crud.operations");
        let a = resource_name("Team_A.orders");
        let b = resource_name("team-a.orders");
        assert!(is_resource_name(&a), "{a}");
        assert_ne!(a, b);
        assert!(a.starts_with("team-a.orders-"), "{a}");
        assert!(is_resource_name(&resource_name("__consumer_offsets")));
        assert!(is_resource_name(&resource_name("___")));
        assert!(is_resource_name(&resource_name(&"X".repeat(300))));
    }

    #[test]
    fn strimzi_topics_snapshot() {
        insta::assert_snapshot!(render_strimzi_topics(&Catalog::embedded(), &target()));
    }

    #[test]
    fn strimzi_users_snapshot() {
        insta::assert_snapshot!(render_strimzi_users(&AclMatrix::embedded(), &target()));
    }

    #[test]
    fn every_document_parses_and_names_a_catalog_topic() {
        let catalog = Catalog::embedded();
        let target = StrimziTarget::new(StrimziVersion::V1, "c", None).unwrap();
        let out = render_strimzi_topics(&catalog, &target);
        let docs: Vec<serde_norway::Value> = out
            .split("\n---\n")
            .skip(1)
            .map(|d| serde_norway::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), catalog.topics().len());
        for (doc, spec) in docs.iter().zip(catalog.topics()) {
            assert_eq!(doc["kind"], "KafkaTopic");
            assert_eq!(doc["metadata"]["labels"]["strimzi.io/cluster"], "c");
            assert_eq!(
                doc["spec"]["topicName"].as_str(),
                Some(spec.name.to_string().as_str())
            );
            assert_eq!(
                doc["spec"]["partitions"].as_u64(),
                Some(u64::from(spec.settings.partitions))
            );
            assert!(doc["metadata"].get("namespace").is_none());
        }
    }
}
