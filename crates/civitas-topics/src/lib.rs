//! Topic governance for civitas, pure (no I/O): the names of every topic, the catalog that
//! says which topics exist, the naming rules and their linter, the provisioning diff, and the
//! ACL model with its renderers. Callers read files and hand over `&str` plus a file name for
//! messages.
//!
//! Modules:
//! - [`rules`]: the naming rules ([`Rule`], stable ids such as `platform.past-tense`), the
//!   installation's [`NamingContext`] (crud prefix, platform prefix, customer domain).
//! - [`name`]: the four topic families as types ([`CrudTopic`], [`ConfigEventTopic`],
//!   [`SagaTopic`], [`PayloadTopic`]) and [`TopicName::parse`].
//! - [`catalog`]: the YAML catalog ([`Catalog`], [`TopicSpec`], [`TopicSettings`]), shipped as
//!   `config/catalog.yaml` and extensible by the operator.
//! - [`lint`](mod@lint): every violation of a catalog or a list of names, with file and line.
//! - [`plan`](mod@plan): the pure diff between catalog and cluster ([`plan()`], [`Plan`]).
//! - [`product`]: the topics and consumer groups civitas's own components use ([`CrudTopics`],
//!   [`SagaTopics`], [`groups`]), built from the typed names.
//! - [`strimzi`]: `KafkaTopic` and `KafkaUser` resources.
//! - [`acl`]: the ACL matrix ([`AclMatrix`], [`AclMatrix::who`]), Kafka bindings and
//!   `kafka-acls.sh` lines.
//! - [`asyncapi`](mod@asyncapi): the AsyncAPI 3.0 document of the catalog, with message schemas
//!   generated from the wire types of `civitas-events`.
//! - [`error`]: [`NameError`], [`CatalogError`], [`AclError`].

pub mod acl;
pub mod asyncapi;
pub mod catalog;
pub mod error;
pub mod lint;
pub mod name;
pub mod plan;
pub mod product;
pub mod rules;
pub mod strimzi;
mod yaml;

pub use acl::{
    Access, AclBinding, AclMatrix, Grant, Operation, Pattern, PatternType, Principal, ResourceType,
    Who, render_kafka_acls_script, render_kafka_bindings,
};
pub use asyncapi::{AsyncApiDocument, asyncapi};
pub use catalog::{Catalog, CleanupPolicy, TopicSettings, TopicSpec};
pub use error::{AclError, CatalogError, NameError, Segment};
pub use lint::{FileShape, Violation, file_shape, lint, lint_names};
pub use name::{
    ConfigEventTopic, CrudKind, CrudTopic, Family, FlowStage, PayloadTopic, SagaKind, SagaTopic,
    TopicName,
};
pub use plan::{Action, ConfigChange, ExistingTopic, Plan, check_brokers, override_replicas, plan};
pub use product::{CrudTopics, SagaTopics, groups};
pub use rules::{NamingContext, Rule, check_prefix};
pub use strimzi::{
    InvalidName, StrimziTarget, StrimziVersion, render_strimzi_topics, render_strimzi_users,
};
