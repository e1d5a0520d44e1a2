//! The rendered Strimzi resources against the CRDs the Strimzi operator publishes
//! (`tests/strimzi-crds/`, copied from the Strimzi operator's released CRDs: Strimzi 1.2, which serves
//! only `v1`, and 0.51, which serves `v1` and `v1beta2`). Each document is validated with
//! the `openAPIV3Schema` of its version; the `x-kubernetes-*` keywords are annotations.

use civitas_topics::{
    AclMatrix, Catalog, StrimziTarget, StrimziVersion, render_strimzi_topics, render_strimzi_users,
};
use serde_json::Value;

/// The schema of `version` in the CRD file `file`, or `None` when it does not serve it.
fn schema(file: &str, version: &str) -> Option<Value> {
    let path = format!("{}/tests/strimzi-crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = serde_norway::from_str(&text).unwrap();
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version && v["served"] == true)
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .skip(1)
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect()
}

/// Every error of every document, as `kind name: error`.
fn invalid(docs: &[Value], schema: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    docs.iter()
        .flat_map(|doc| {
            validator.iter_errors(doc).map(move |e| {
                format!(
                    "{} {}: {e} at {}",
                    doc["kind"],
                    doc["metadata"]["name"],
                    e.instance_path()
                )
            })
        })
        .collect()
}

fn rendered(version: StrimziVersion) -> (Vec<Value>, Vec<Value>) {
    let target = StrimziTarget::new(version, "my-cluster", Some("kafka")).unwrap();
    (
        documents(&render_strimzi_topics(&Catalog::embedded(), &target)),
        documents(&render_strimzi_users(&AclMatrix::embedded(), &target)),
    )
}

#[test]
fn v1_resources_are_valid_for_strimzi_1_2_and_0_51() {
    let (topics, users) = rendered(StrimziVersion::V1);
    assert!(!topics.is_empty() && !users.is_empty());
    for doc in topics.iter().chain(&users) {
        assert_eq!(doc["apiVersion"], "kafka.strimzi.io/v1");
    }
    for release in ["1.2", "0.51"] {
        let topic_schema = schema(&format!("kafkatopic-crd-strimzi-{release}.yaml"), "v1").unwrap();
        let user_schema = schema(&format!("kafkauser-crd-strimzi-{release}.yaml"), "v1").unwrap();
        assert_eq!(
            invalid(&topics, &topic_schema),
            Vec::<String>::new(),
            "{release}"
        );
        assert_eq!(
            invalid(&users, &user_schema),
            Vec::<String>::new(),
            "{release}"
        );
    }
}

#[test]
fn v1beta2_resources_are_valid_for_0_51_and_not_served_by_1_2() {
    let (topics, users) = rendered(StrimziVersion::V1beta2);
    let topic_schema = schema("kafkatopic-crd-strimzi-0.51.yaml", "v1beta2").unwrap();
    let user_schema = schema("kafkauser-crd-strimzi-0.51.yaml", "v1beta2").unwrap();
    assert_eq!(invalid(&topics, &topic_schema), Vec::<String>::new());
    assert_eq!(invalid(&users, &user_schema), Vec::<String>::new());
    assert!(schema("kafkauser-crd-strimzi-1.2.yaml", "v1beta2").is_none());
    assert!(schema("kafkatopic-crd-strimzi-1.2.yaml", "v1beta2").is_none());
}

#[test]
fn the_schemas_catch_a_broken_resource() {
    // A check that cannot fail proves nothing: a user without authentication type is refused.
    let (_, mut users) = rendered(StrimziVersion::V1);
    users[0]["spec"]["authentication"] = serde_json::json!({"type": 42});
    let user_schema = schema("kafkauser-crd-strimzi-1.2.yaml", "v1").unwrap();
    assert!(!invalid(&users[..1], &user_schema).is_empty());
}
