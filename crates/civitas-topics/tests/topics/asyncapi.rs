//! The AsyncAPI document of the catalog: parses as YAML and JSON, is AsyncAPI 3.0.0, names every
//! catalog topic as a channel, and is self-contained (every `$ref` resolves inside it).

use civitas_topics::{AclMatrix, Catalog, asyncapi};
use serde_json::Value;

fn document(catalog: &Catalog) -> (Value, Value) {
    let doc = asyncapi(catalog, &AclMatrix::embedded());
    let from_yaml: Value = serde_norway::from_str(&doc.to_yaml()).expect("the YAML parses");
    let from_json: Value = serde_json::from_str(&doc.to_json()).expect("the JSON parses");
    (from_yaml, from_json)
}

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn channel<'a>(doc: &'a Value, topic: &str) -> &'a Value {
    doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["address"] == topic)
        .unwrap_or_else(|| panic!("no channel for {topic}"))
}

/// The single message of a channel.
fn message<'a>(doc: &'a Value, topic: &str) -> &'a Value {
    let messages = channel(doc, topic)["messages"].as_object().unwrap();
    assert_eq!(messages.len(), 1, "{topic}");
    messages.values().next().unwrap()
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference} points outside the document"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

#[test]
fn the_document_parses_as_yaml_and_json_alike_and_is_asyncapi_3() {
    let (yaml, json) = document(&Catalog::embedded());
    assert_eq!(yaml, json);
    assert_eq!(json["asyncapi"], "3.0.0");
    assert_eq!(json["info"]["title"], "civitas event core");
    assert_eq!(json["servers"]["kafka"]["protocol"], "kafka");
    assert_eq!(json["servers"]["kafka"]["host"], "{bootstrap}");
    assert_eq!(
        json["servers"]["kafka"]["variables"]["bootstrap"]["default"],
        "127.0.0.1:9092"
    );
}

#[test]
fn every_catalog_topic_is_a_channel_address_and_nothing_else_is() {
    let catalog = Catalog::embedded();
    let (_, doc) = document(&catalog);
    let mut addresses: Vec<&str> = doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    addresses.sort_unstable();
    let mut topics: Vec<String> = catalog
        .topics()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    topics.sort_unstable();
    assert_eq!(addresses, topics);
    for topic in [
        "crud.operations",
        "de.civitascore.idm.user.created",
        "de.civitascore.idm.user.password.reset",
        "de.civitascore.data.pipeline.deleted",
        "core.civitas.frost.project.create",
        "core.civitas.dataset.create.failed",
    ] {
        assert!(addresses.contains(&topic), "{topic}");
    }
}

#[test]
fn every_ref_resolves_inside_the_document() {
    let (_, doc) = document(&Catalog::embedded());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "only {} refs", all.len());
    for r in all {
        resolve(&doc, r);
    }
    let text = doc.to_string();
    assert!(!text.contains("$defs"), "schemars' $defs leaked");
    assert!(
        !text.contains("#/definitions"),
        "draft-7 definitions leaked"
    );
    assert!(!text.contains("\"$schema\""), "a nested $schema");
}

#[test]
fn component_names_are_legal_asyncapi_keys() {
    let (_, doc) = document(&Catalog::embedded());
    let legal = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    for section in ["schemas", "correlationIds"] {
        for key in doc["components"][section].as_object().unwrap().keys() {
            assert!(legal(key), "components.{section}.{key}");
        }
    }
    for section in ["channels", "operations"] {
        for key in doc[section].as_object().unwrap().keys() {
            assert!(legal(key), "{section}.{key}");
        }
    }
}

#[test]
fn crud_topics_carry_the_seed_envelope_with_their_data_shape() {
    let (_, doc) = document(&Catalog::embedded());
    let payload = resolve(
        &doc,
        message(&doc, "crud.operations")["payload"]["$ref"]
            .as_str()
            .unwrap(),
    );
    for field in [
        "event_id",
        "event_type",
        "timestamp",
        "correlation_id",
        "service",
        "trace_id",
        "span_id",
        "user_context",
        "data",
    ] {
        assert!(
            payload["properties"].get(field).is_some(),
            "envelope lacks {field}"
        );
    }
    let data = resolve(
        &doc,
        payload["properties"]["data"]["$ref"].as_str().unwrap(),
    );
    assert!(data["properties"].get("object_type").is_some());
    assert!(data["properties"].get("success").is_some());

    let errors = message(&doc, "crud.errors")["payload"]["$ref"]
        .as_str()
        .unwrap();
    assert_eq!(
        errors,
        "#/components/schemas/Envelope_for_ValidationErrorData"
    );
    let audit = message(&doc, "crud.secrets.audit");
    assert_eq!(
        audit["payload"]["$ref"],
        "#/components/schemas/Envelope_for_SecretData"
    );
    assert_eq!(
        audit["bindings"]["kafka"]["key"]["description"],
        "The credential id"
    );
}

#[test]
fn saga_topics_carry_the_saga_message_types() {
    let (_, doc) = document(&Catalog::embedded());
    for (topic, schema, field) in [
        (
            "core.civitas.dataset.create.requested",
            "DatasetCreateRequested",
            "datasetId",
        ),
        (
            "core.civitas.frost.project.create",
            "FrostProjectCreate",
            "sagaId",
        ),
        (
            "core.civitas.apisix.route.delete",
            "ApisixRouteDelete",
            "routeIds",
        ),
        ("core.civitas.frost.project.result", "StepResult", "status"),
        (
            "core.civitas.dataset.create.failed",
            "DatasetCreateFailed",
            "staleResources",
        ),
        (
            "core.civitas.frost.project.deadletter",
            "DeadLetter",
            "reason",
        ),
        (
            "core.civitas.dataset.create.escalated",
            "InterventionRequired",
            "staleResources",
        ),
    ] {
        let r = message(&doc, topic)["payload"]["$ref"].as_str().unwrap();
        assert_eq!(r, format!("#/components/schemas/{schema}"), "{topic}");
        assert!(
            resolve(&doc, r)["properties"].get(field).is_some(),
            "{schema} lacks {field}"
        );
    }
}

#[test]
fn configuration_events_are_bare_objects_with_the_seed_example_on_user_created() {
    let (_, doc) = document(&Catalog::embedded());
    let created = message(&doc, "de.civitascore.idm.user.created");
    assert_eq!(created["name"], "IdmUserCreated");
    let payload = resolve(&doc, created["payload"]["$ref"].as_str().unwrap());
    assert_eq!(payload["type"], "object");
    assert!(payload.get("properties").is_none(), "no wrapper fields");
    let example = &created["examples"][0];
    assert_eq!(example["payload"]["firstname"], "Max");
    assert_eq!(example["payload"]["email"], "max.mustermann@civitas-stg.de");
    assert_eq!(
        example["headers"]["ce_type"],
        "de.civitascore.idm.user.created"
    );
    let ce_type = &created["headers"]["allOf"][1]["properties"]["ce_type"];
    assert_eq!(ce_type["const"], "de.civitascore.idm.user.created");
    assert!(
        message(&doc, "de.civitascore.api.route.deleted")
            .get("examples")
            .is_none()
    );
}

#[test]
fn headers_are_the_cloudevents_binary_mode_headers() {
    let (_, doc) = document(&Catalog::embedded());
    let headers = message(&doc, "core.civitas.frost.project.create")["headers"]["allOf"][0]["$ref"]
        .as_str()
        .unwrap();
    let schema = resolve(&doc, headers);
    for h in [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_correlationid",
        "ce_traceparent",
        "content-type",
    ] {
        assert!(schema["properties"].get(h).is_some(), "{h}");
    }
    assert_eq!(schema["properties"]["ce_specversion"]["const"], "1.0");
}

#[test]
fn kafka_bindings_carry_the_catalog_settings() {
    let (_, doc) = document(&Catalog::embedded());
    let dlq = &channel(&doc, "core.civitas.apisix.route.deadletter")["bindings"]["kafka"];
    assert_eq!(dlq["partitions"], 1);
    assert_eq!(dlq["replicas"], 3);
    assert_eq!(
        dlq["topicConfiguration"]["retention.ms"],
        30_i64 * 24 * 3600 * 1000
    );
    assert_eq!(
        dlq["topicConfiguration"]["cleanup.policy"],
        serde_json::json!(["delete"])
    );
    assert_eq!(dlq["bindingVersion"], "0.5.0");
    let key = &message(&doc, "crud.operations")["bindings"]["kafka"]["key"];
    assert_eq!(key["type"], "string");
}

#[test]
fn operations_follow_the_acl_matrix() {
    let (_, doc) = document(&Catalog::embedded());
    let ops = doc["operations"].as_object().unwrap();
    let send = &ops["core.civitas.dataset.create.requested.send"];
    assert_eq!(send["action"], "send");
    assert_eq!(
        send["tags"],
        serde_json::json!([{ "name": "portal-backend" }])
    );
    let receive = &ops["core.civitas.frost.project.create.receive"];
    assert_eq!(receive["action"], "receive");
    let readers: Vec<&str> = receive["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(readers.contains(&"frost-adapter"), "{readers:?}");
    assert_eq!(
        resolve(&doc, receive["channel"]["$ref"].as_str().unwrap())["address"],
        "core.civitas.frost.project.create"
    );
    // An operation's messages are its channel's messages.
    let msg = receive["messages"][0]["$ref"].as_str().unwrap();
    assert!(msg.starts_with("#/channels/core.civitas.frost.project.create/messages/"));
    assert!(ops.contains_key("de.civitascore.idm.user.created.send"));
}

#[test]
fn an_extension_topic_gets_a_channel_with_a_generic_schema() {
    let mut catalog = Catalog::embedded();
    let ext = Catalog::from_yaml(
        "naming:\n  customer_domain: de.musterstadt\n\
         config_events:\n  parking:\n    space: [occupied]\n\
         saga:\n  core.civitas.ckan.dataset.create:\n\
         payload:\n  umwelt:\n    luftqualitaet: [raw]\n",
        "ext.yaml",
    )
    .unwrap();
    catalog.merge(ext);
    let (_, doc) = document(&catalog);
    assert_eq!(
        message(&doc, "de.civitascore.parking.space.occupied")["payload"]["$ref"],
        "#/components/schemas/ConfigurationEventPayload"
    );
    assert_eq!(
        message(&doc, "core.civitas.ckan.dataset.create")["payload"]["$ref"],
        "#/components/schemas/SagaMessage"
    );
    assert_eq!(
        message(&doc, "de.musterstadt.umwelt.luftqualitaet.raw")["payload"]["$ref"],
        "#/components/schemas/PayloadData"
    );
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        resolve(&doc, r);
    }
}
