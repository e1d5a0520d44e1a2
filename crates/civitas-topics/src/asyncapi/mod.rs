//! The AsyncAPI 3.0 document of the catalog (`civitas topics asyncapi`), so other teams can
//! generate clients: one channel per catalog topic, its message (CloudEvents headers, key,
//! JSON Schema of the value generated from the wire types of `civitas-events`), and the
//! operations the ACL matrix allows.
//!
//! Decisions (also in `docs/topics.md`):
//! - The document describes the **platform as a whole**: every principal of the ACL matrix
//!   (civitas' own components and the teams around it). A topic someone may write gets a
//!   `send` operation, a topic someone may read a `receive` operation; each operation is tagged
//!   with the principals that hold the grant. A topic no principal touches has a channel and
//!   no operation.
//! - Schemas follow JSON Schema draft 7 (AsyncAPI's default schema format is a superset of
//!   it) and describe what civitas' readers **accept** (serde's deserialize contract): a
//!   field with a default is optional, so everything civitas writes validates, and so does a
//!   message from a producer that leaves defaults out.
//! - schemars puts shared definitions under `components/schemas` directly (its definitions
//!   path), so every `$ref` points into this document; the generic envelope gets one schema
//!   per `data` type (`Envelope_for_OperationData`, …).
//! - Configuration events carry a bare JSON object (seed 003: "no generic wrapper"); payload
//!   topics and saga topics without a Rust type carry any JSON object.

use std::collections::BTreeMap;

use civitas_events::saga::{
    ApisixRouteCreate, ApisixRouteDelete, DatasetCreateCompleted, DatasetCreateFailed,
    DatasetCreateRequested, DeadLetter, FrostProjectCreate, FrostProjectDelete,
    InterventionRequired, StepResult,
};
use civitas_events::{
    Envelope, MetricsData, OperationData, SecretData, ValidationErrorData, WorkflowData,
};
use indexmap::IndexMap;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::ReplaceBoolSchemas;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::acl::{AclMatrix, Who};
use crate::catalog::{Catalog, TopicSettings, TopicSpec};
use crate::name::{CrudKind, FlowStage, SagaKind, TopicName};

/// The AsyncAPI version the document follows.
pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The version of the Kafka bindings used in the document.
pub const KAFKA_BINDING_VERSION: &str = "0.5.0";
/// The bootstrap server the `kafka` server variable defaults to (the embedded broker).
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

const SCHEMAS: &str = "#/components/schemas/";
const HEADERS_SCHEMA: &str = "CloudEventsHeaders";
const CORRELATION_ID: &str = "CloudEventsCorrelationId";

/// A generated AsyncAPI document, kept in the order it is written (YAML and JSON alike).
#[derive(Debug, Clone)]
pub struct AsyncApiDocument {
    root: Node,
}

impl AsyncApiDocument {
    /// The document as YAML. Every string value is double-quoted (JSON's escaping is valid
    /// YAML): a YAML 1.1 loader (PyYAML, SnakeYAML) would otherwise read an example timestamp
    /// as a date, or `on` as a boolean, and the YAML and JSON documents would differ.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        yaml::node(&mut out, &self.root, 0);
        out
    }

    /// The document as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&self.root).expect("a JSON-shaped tree always serializes");
        text.push('\n');
        text
    }

    /// The document as a JSON value (object keys sorted).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(&self.root).expect("a JSON-shaped tree always serializes")
    }
}

/// The AsyncAPI document of every topic `catalog` yields, with operations from `matrix`.
pub fn asyncapi(catalog: &Catalog, matrix: &AclMatrix) -> AsyncApiDocument {
    let ctx = catalog.naming();
    let topics = catalog.topics();
    let mut schemas = Schemas::new();
    let mut channels = Obj::new();
    let mut operations = Obj::new();
    for spec in &topics {
        let topic = spec.name.to_string();
        let message = message(spec, &mut schemas);
        let who = matrix.who(&topic);
        let channel_ref = format!("#/channels/{}", pointer_token(&topic));
        let message_ref = format!("{channel_ref}/messages/{}", pointer_token(&message.name));
        channels.push(&topic, channel(spec, &topic, &message, &who));
        for (action, access) in [("send", &who.writers), ("receive", &who.readers)] {
            if access.is_empty() {
                continue;
            }
            let principals: Vec<String> = access.iter().map(|a| a.principal.clone()).collect();
            let grants: Vec<String> = access.iter().map(ToString::to_string).collect();
            let verb = if action == "send" { "write" } else { "read" };
            operations.push(
                format!("{topic}.{action}"),
                Obj::new()
                    .with("action", action)
                    .with("channel", json!({ "$ref": channel_ref }))
                    .with(
                        "summary",
                        format!("{} may {verb} {topic}", principals.join(", ")),
                    )
                    .with(
                        "description",
                        format!("Granted by the ACL matrix to: {}.", grants.join(", ")),
                    )
                    .with("messages", json!([{ "$ref": message_ref }]))
                    .with(
                        "tags",
                        Value::Array(principals.iter().map(|p| json!({ "name": p })).collect()),
                    ),
            );
        }
    }

    let description = format!(
        "Every Kafka topic of the civitas topic catalog, with its message: CloudEvents 1.0 \
         headers (binary content mode), the record key, and the JSON Schema of the value, \
         generated from civitas' Rust wire types. Operations list who may write (send) and read \
         (receive) each topic, from the ACL matrix.\n\n\
         Naming of this installation: CRUD prefix `{}`, platform prefix `{}`, saga prefix \
         `{}`, payload namespace `{}`.\n\n\
         Generated by `civitas topics asyncapi`; regenerate rather than edit.",
        ctx.crud_prefix(),
        ctx.platform_prefix(),
        ctx.saga_prefix(),
        ctx.payload_namespace(),
    );
    let root = Obj::new()
        .with("asyncapi", ASYNCAPI_VERSION)
        .with(
            "info",
            Obj::new()
                .with("title", "civitas event core")
                .with("version", env!("CARGO_PKG_VERSION"))
                .with("description", description)
                .with("license", json!({ "name": "Apache-2.0" })),
        )
        .with("defaultContentType", "application/json")
        .with(
            "servers",
            Obj::new().with(
                "kafka",
                Obj::new()
                    .with("host", "{bootstrap}")
                    .with("protocol", "kafka")
                    .with(
                        "description",
                        "The Kafka cluster: the embedded broker of `civitas up`, or the cluster \
                         named by KAFKA_BOOTSTRAP_SERVERS.",
                    )
                    .with(
                        "variables",
                        json!({ "bootstrap": {
                            "default": DEFAULT_BOOTSTRAP,
                            "description": "A bootstrap server, host:port."
                        }}),
                    ),
            ),
        )
        .with("channels", channels)
        .with("operations", operations)
        .with(
            "components",
            Obj::new().with("schemas", schemas.finish()).with(
                "correlationIds",
                json!({ CORRELATION_ID: {
                    "description": "The request or saga the event belongs to (ce_correlationid); \
                                    `civitas trace` follows it across topics.",
                    "location": "$message.header#/ce_correlationid"
                }}),
            ),
        );
    AsyncApiDocument {
        root: Node::Obj(root),
    }
}

/// The message of one topic, before it is written into its channel.
struct Message {
    name: String,
    body: Obj,
}

fn channel(spec: &TopicSpec, topic: &str, message: &Message, who: &Who) -> Obj {
    let s = &spec.settings;
    let list = |access: &[crate::acl::Access]| {
        if access.is_empty() {
            "nobody".to_owned()
        } else {
            access
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let description = format!(
        "{}. {} partition(s), replication {}, retention {}, cleanup {}. Written by {}; read by {}.",
        spec.family().title(),
        s.partitions,
        s.replicas,
        s.retention_human(),
        s.cleanup_policy,
        list(&who.writers),
        list(&who.readers),
    );
    Obj::new()
        .with("address", topic)
        .with("title", topic)
        .with("description", description)
        .with(
            "messages",
            Obj::new().with(&message.name, message.body.clone()),
        )
        .with("tags", json!([{ "name": spec.family().id() }]))
        .with(
            "bindings",
            json!({ "kafka": {
                "partitions": s.partitions,
                "replicas": s.replicas,
                "topicConfiguration": topic_configuration(s),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }}),
        )
}

/// The catalog's topic configs in the binding's shape: `cleanup.policy` as a list, numbers as
/// numbers.
fn topic_configuration(s: &TopicSettings) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in s.configs() {
        let v = if key == "cleanup.policy" {
            Value::Array(
                value
                    .split(',')
                    .map(|p| Value::String(p.trim().to_owned()))
                    .collect(),
            )
        } else if let Ok(n) = value.parse::<i64>() {
            Value::from(n)
        } else {
            Value::String(value)
        };
        out.insert(key, v);
    }
    Value::Object(out)
}

/// What the key, `ce_type` and `ce_subject` of a topic's records are.
struct Keys {
    key: &'static str,
    ce_type: Value,
    subject: &'static str,
}

fn message(spec: &TopicSpec, schemas: &mut Schemas) -> Message {
    let topic = spec.name.to_string();
    let exact_type = |what: &str| {
        json!({
            "type": "string",
            "const": topic,
            "description": format!("The topic name: {what}.")
        })
    };
    let (name, title, payload, keys, examples) = match &spec.name {
        TopicName::Crud(t) => {
            let (name, title, payload, key) = match t.kind() {
                CrudKind::Operations => (
                    "CrudOperation",
                    "A command the CRUD service ran, success or failure",
                    schemas.rust::<Envelope<OperationData>>("Envelope_for_OperationData"),
                    "`system/object_type/object_id`, so one object's events stay in order",
                ),
                CrudKind::Errors => (
                    "CrudValidationError",
                    "A request the CRUD service rejected as invalid",
                    schemas
                        .rust::<Envelope<ValidationErrorData>>("Envelope_for_ValidationErrorData"),
                    "The request's correlation id",
                ),
                CrudKind::Workflows => (
                    "CrudWorkflow",
                    "A workflow started, completed, failed or is waiting",
                    schemas.rust::<Envelope<WorkflowData>>("Envelope_for_WorkflowData"),
                    "The correlation id (the workflow's id)",
                ),
                CrudKind::Secrets => (
                    "CrudSecret",
                    "A secret was fetched, served from cache, or could not be fetched (never its value)",
                    schemas.rust::<Envelope<SecretData>>("Envelope_for_SecretData"),
                    "The credential id",
                ),
                CrudKind::SecretsAudit => (
                    "CrudSecretAudit",
                    "The audit copy of every secret event (same event id as on the secrets topic)",
                    schemas.rust::<Envelope<SecretData>>("Envelope_for_SecretData"),
                    "The credential id",
                ),
                CrudKind::Metrics => (
                    "CrudMetrics",
                    "A periodic snapshot of the CRUD service's figures",
                    schemas.rust::<Envelope<MetricsData>>("Envelope_for_MetricsData"),
                    "The snapshot's scope",
                ),
            };
            // The secrets audit copy keeps the CloudEvents type of the functional topic.
            let type_topic = if t.kind() == CrudKind::SecretsAudit {
                format!("{}.{}", t.prefix(), CrudKind::Secrets.suffix())
            } else {
                topic.clone()
            };
            let keys = Keys {
                key,
                ce_type: json!({
                    "type": "string",
                    "pattern": format!("^{}\\..+$", type_topic.replace('.', "\\.")),
                    "description": format!("`{type_topic}.<event_type>`, e.g. `{type_topic}.{}`.", example_event_type(t.kind()))
                }),
                subject: "The record key",
            };
            (name.to_owned(), title.to_owned(), payload, keys, None)
        }
        TopicName::ConfigEvent(t) => {
            let payload = schemas.hand(
                "ConfigurationEventPayload",
                json!({
                    "type": "object",
                    "description": "The bare JSON payload of a configuration event (seed 003): only the \
                                    data of the change, no wrapper, secrets removed; the topic and the \
                                    CloudEvents headers give the context.",
                    "additionalProperties": true
                }),
            );
            let examples = (t.domain() == "idm"
                && t.entity() == "user"
                && matches!(t.event(), "created" | "updated"))
            .then(|| {
                json!([{
                    "name": "seed003",
                    "summary": "The example of seed 003",
                    "headers": {
                        "ce_specversion": "1.0",
                        "ce_id": "0193a5b2-7c1e-7d2a-9f00-5e3c2b1a0d4f",
                        "ce_source": "/civitas/crud-service",
                        "ce_type": topic,
                        "ce_time": "2026-11-22T12:00:00.000000Z",
                        "ce_subject": "max.mustermann",
                        "ce_correlationid": "req-7f3a",
                        "content-type": "application/json"
                    },
                    "payload": {
                        "firstname": "Max",
                        "lastname": "Mustermann",
                        "email": "max.mustermann@civitas-stg.de"
                    }
                }])
            });
            (
                pascal(&[t.domain(), t.entity(), t.event()]),
                format!(
                    "Configuration event: {} {} {}",
                    t.domain(),
                    t.entity(),
                    t.event()
                ),
                payload,
                Keys {
                    key: "The entity's id",
                    ce_type: exact_type("a configuration event's type is its topic"),
                    subject: "The entity's id (also the record key)",
                },
                examples,
            )
        }
        TopicName::Saga(t) => {
            let (payload, title) = saga_payload(t.kind(), schemas);
            let parts: Vec<&str> = topic.split('.').skip(2).collect();
            (
                pascal(&parts),
                title,
                payload,
                Keys {
                    key: "The dataset id (one saga per dataset; its records stay in order)",
                    ce_type: exact_type("a saga message's type is its topic"),
                    subject: "The dataset id (also the record key)",
                },
                None,
            )
        }
        TopicName::Payload(t) => {
            let payload = schemas.hand(
                "PayloadData",
                json!({
                    "type": "object",
                    "description": "Payload data (seed 003; planned): domain-specific JSON whose schema \
                                    the bundle defines.",
                    "additionalProperties": true
                }),
            );
            (
                pascal(&[t.bundle(), t.context(), t.message_type()]),
                format!(
                    "Payload data: {} {} ({})",
                    t.bundle(),
                    t.context(),
                    t.message_type()
                ),
                payload,
                Keys {
                    key: "Chosen by the producer (e.g. the sensor or datastream id)",
                    ce_type: exact_type("a payload record's type is its topic"),
                    subject: "What the record is about, e.g. the sensor id",
                },
                None,
            )
        }
    };
    let headers = json!({
        "allOf": [
            { "$ref": format!("{SCHEMAS}{HEADERS_SCHEMA}") },
            {
                "type": "object",
                "properties": {
                    "ce_type": keys.ce_type,
                    "ce_subject": { "type": "string", "description": keys.subject }
                }
            }
        ]
    });
    let mut body = Obj::new()
        .with("name", name.as_str())
        .with("title", title)
        .with("contentType", "application/json")
        .with("headers", headers)
        .with("payload", payload)
        .with(
            "correlationId",
            json!({ "$ref": format!("#/components/correlationIds/{CORRELATION_ID}") }),
        )
        .with(
            "bindings",
            json!({ "kafka": {
                "key": { "type": "string", "description": keys.key },
                "bindingVersion": KAFKA_BINDING_VERSION
            }}),
        );
    if let Some(examples) = examples {
        body.push("examples", examples);
    }
    Message { name, body }
}

fn example_event_type(kind: CrudKind) -> &'static str {
    match kind {
        CrudKind::Operations => "create",
        CrudKind::Errors => "validation_error",
        CrudKind::Workflows => "started",
        CrudKind::Secrets | CrudKind::SecretsAudit => "secret_retrieved",
        CrudKind::Metrics => "metrics",
    }
}

/// The schema of a saga topic's value, and a title.
fn saga_payload(kind: &SagaKind, schemas: &mut Schemas) -> (Value, String) {
    match kind {
        SagaKind::Command {
            system,
            entity,
            verb,
        } => {
            let title = format!("Command to the {system} adapter: {verb} {entity}");
            let schema = match (system.as_str(), entity.as_str(), verb.as_str()) {
                ("frost", "project", "create") => {
                    schemas.rust::<FrostProjectCreate>("FrostProjectCreate")
                }
                ("frost", "project", "delete") => {
                    schemas.rust::<FrostProjectDelete>("FrostProjectDelete")
                }
                ("apisix", "route", "create") => {
                    schemas.rust::<ApisixRouteCreate>("ApisixRouteCreate")
                }
                ("apisix", "route", "delete") => {
                    schemas.rust::<ApisixRouteDelete>("ApisixRouteDelete")
                }
                _ => generic_saga_message(schemas),
            };
            (schema, title)
        }
        SagaKind::Result { system, entity } => (
            schemas.rust::<StepResult>("StepResult"),
            format!("The {system} adapter's answer to a {entity} command"),
        ),
        SagaKind::DeadLetter { system, entity } => (
            schemas.rust::<DeadLetter>("DeadLetter"),
            format!("Records of {system} {entity} that could not be processed"),
        ),
        SagaKind::Flow { flow, verb, stage } => {
            let schema = match (flow.as_str(), verb.as_str(), stage) {
                ("dataset", "create", FlowStage::Requested) => {
                    schemas.rust::<DatasetCreateRequested>("DatasetCreateRequested")
                }
                ("dataset", "create", FlowStage::Completed) => {
                    schemas.rust::<DatasetCreateCompleted>("DatasetCreateCompleted")
                }
                ("dataset", "create", FlowStage::Failed) => {
                    schemas.rust::<DatasetCreateFailed>("DatasetCreateFailed")
                }
                ("dataset", "create", FlowStage::Escalated) => {
                    schemas.rust::<InterventionRequired>("InterventionRequired")
                }
                _ => generic_saga_message(schemas),
            };
            (schema, format!("Saga {flow} {verb}: {}", stage.as_str()))
        }
    }
}

fn generic_saga_message(schemas: &mut Schemas) -> Value {
    schemas.hand(
        "SagaMessage",
        json!({
            "type": "object",
            "description": "A saga message without a civitas type: camelCase JSON; commands and \
                            results carry messageId, sagaId and stepId.",
            "properties": {
                "messageId": { "type": "string" },
                "sagaId": { "type": "string" },
                "stepId": { "type": "string" }
            },
            "additionalProperties": true
        }),
    )
}

/// `["password", "changed"]` → `PasswordChanged`; dots inside a part split it too.
fn pascal(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split(['.', '-']))
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A JSON pointer token (RFC 6901): `~` → `~0`, `/` → `~1`.
fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The schemas of the document: generated from Rust types (schemars, definitions straight
/// under `components/schemas`) and written by hand.
struct Schemas {
    generator: SchemaGenerator,
    /// schemars' name → ours (schemars names every instance of a generic type after its base
    /// name, `Envelope`, `Envelope2`, …).
    renames: BTreeMap<String, String>,
    /// Schemas written here, and Rust types schemars inlines.
    own: BTreeMap<String, Value>,
}

impl Schemas {
    fn new() -> Self {
        let mut no_bool_schemas = ReplaceBoolSchemas::default();
        no_bool_schemas.skip_additional_properties = true;
        let settings = SchemaSettings::draft07()
            .with(|s| {
                s.definitions_path = "/components/schemas".into();
                s.meta_schema = None;
            })
            .with_transform(no_bool_schemas);
        let mut own = BTreeMap::new();
        own.insert(HEADERS_SCHEMA.to_owned(), cloudevents_headers());
        Self {
            generator: settings.into_generator(),
            renames: BTreeMap::new(),
            own,
        }
    }

    /// A `$ref` to the schema of `T`, kept under `name`.
    fn rust<T: JsonSchema>(&mut self, name: &str) -> Value {
        let mut schema = self.generator.subschema_for::<T>().to_value();
        let generated = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(SCHEMAS))
            .map(str::to_owned);
        match generated {
            Some(generated) if generated != name => {
                self.renames.insert(generated, name.to_owned());
            }
            Some(_) => {}
            None => {
                // schemars inlined it: keep it under its name all the same.
                if let Some(obj) = schema.as_object_mut() {
                    obj.remove("$schema");
                }
                self.own.insert(name.to_owned(), schema);
            }
        }
        schema_ref(name)
    }

    /// A `$ref` to a hand-written schema, kept under `name`.
    fn hand(&mut self, name: &str, schema: Value) -> Value {
        self.own.entry(name.to_owned()).or_insert(schema);
        schema_ref(name)
    }

    /// Every schema by name, references renamed.
    fn finish(mut self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, mut schema) in self.generator.take_definitions(true) {
            rename_refs(&mut schema, &self.renames);
            let name = self.renames.get(&name).cloned().unwrap_or(name);
            out.insert(name, schema);
        }
        for (name, schema) in self.own {
            out.insert(name, schema);
        }
        Value::Object(out)
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{SCHEMAS}{}", pointer_token(name)) })
}

fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix(SCHEMAS))
                    && let Some(new) = renames.get(name)
                {
                    *v = Value::String(format!("{SCHEMAS}{}", pointer_token(new)));
                } else {
                    rename_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// The CloudEvents binary-mode headers every civitas record carries (docs/architecture.md, "Wire contracts").
fn cloudevents_headers() -> Value {
    let traceparent = json!({
        "type": "string",
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C trace context of the producer's span."
    });
    json!({
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode, one header each, \
                        values UTF-8. Readers also accept `ce-` for `ce_`.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": { "type": "string", "const": "1.0" },
            "ce_id": {
                "type": "string",
                "minLength": 1,
                "description": "Unique per event: the envelope's event_id, a saga message's messageId."
            },
            "ce_source": {
                "type": "string",
                "format": "uri-reference",
                "description": "The producing component, e.g. /civitas/crud-service."
            },
            "ce_type": { "type": "string", "minLength": 1 },
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 in UTC with Z, microseconds."
            },
            "ce_subject": { "type": "string", "minLength": 1 },
            "ce_correlationid": {
                "type": "string",
                "description": "The request or saga the event belongs to."
            },
            "ce_traceparent": traceparent,
            "traceparent": traceparent,
            "content-type": { "type": "string", "const": "application/json" }
        },
        "additionalProperties": { "type": "string" }
    })
}

/// A JSON-shaped tree whose objects keep their insertion order (serde_json sorts its maps,
/// and its `preserve_order` would change every event's key order): an `IndexMap` per object,
/// a key set twice keeps its first place and its last value.
#[derive(Debug, Clone)]
enum Node {
    Json(Value),
    Obj(Obj),
}

#[derive(Debug, Clone, Default)]
struct Obj(IndexMap<String, Node>);

impl Obj {
    fn new() -> Self {
        Self::default()
    }

    fn with(mut self, key: impl Into<String>, value: impl Into<Node>) -> Self {
        self.push(key, value);
        self
    }

    fn push(&mut self, key: impl Into<String>, value: impl Into<Node>) {
        self.0.insert(key.into(), value.into());
    }
}

impl From<Obj> for Node {
    fn from(o: Obj) -> Self {
        Node::Obj(o)
    }
}

impl From<Value> for Node {
    fn from(v: Value) -> Self {
        Node::Json(v)
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::Json(Value::String(s.to_owned()))
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::Json(Value::String(s))
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Json(v) => v.serialize(serializer),
            Node::Obj(o) => o.serialize(serializer),
        }
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A YAML writer for the document's tree: block style, keys plain when no YAML version
/// could read them as anything but a string, every string value double-quoted.
mod yaml;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_so_yaml_1_1_reads_them_as_strings() {
        let doc = AsyncApiDocument {
            root: Node::Obj(
                Obj::new()
                    .with("timestamp", "2026-11-22T12:01:00.000000Z")
                    .with("on", "yes")
                    .with(
                        "200",
                        json!({"n": 1, "list": ["a", {"b": null}], "empty": []}),
                    ),
            ),
        };
        assert_eq!(
            doc.to_yaml(),
            "timestamp: \"2026-11-22T12:01:00.000000Z\"\n\"on\": \"yes\"\n\"200\":\n  empty: []\n  list:\n    - \"a\"\n    -\n      b: null\n  \"n\": 1\n"
        );
        let parsed: Value = serde_norway::from_str(&doc.to_yaml()).unwrap();
        assert_eq!(parsed, doc.to_value());
    }

    #[test]
    fn names_become_pascal_case() {
        assert_eq!(
            pascal(&["idm", "user", "password.changed"]),
            "IdmUserPasswordChanged"
        );
        assert_eq!(
            pascal(&["frost", "project", "create"]),
            "FrostProjectCreate"
        );
    }

    #[test]
    fn refs_to_renamed_schemas_are_rewritten_everywhere() {
        let mut v = json!({"a": {"$ref": "#/components/schemas/Envelope2"},
                           "b": [{"$ref": "#/components/schemas/Other"}]});
        let renames = BTreeMap::from([("Envelope2".to_owned(), "Envelope_for_X".to_owned())]);
        rename_refs(&mut v, &renames);
        assert_eq!(
            v,
            json!({"a": {"$ref": "#/components/schemas/Envelope_for_X"},
                   "b": [{"$ref": "#/components/schemas/Other"}]})
        );
    }

    #[test]
    fn objects_keep_their_order_in_yaml_and_json() {
        let doc = AsyncApiDocument {
            root: Node::Obj(Obj::new().with("z", "1").with("a", "2")),
        };
        assert_eq!(doc.to_yaml(), "z: \"1\"\na: \"2\"\n");
        assert!(doc.to_json().find("\"z\"") < doc.to_json().find("\"a\""));
    }
}
