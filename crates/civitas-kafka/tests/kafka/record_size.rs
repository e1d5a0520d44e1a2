//! Property: whatever a caller or an outside system puts into an event — params, a result,
//! an error, of any size up to several MB — the record we build fits the producer's
//! `message.max.bytes`, and no secret-shaped value (PEM key, JWT, bearer token) or value of
//! a sensitive key survives in it.

use chrono::Utc;
use civitas_events::{Masker, OperationData};
use civitas_kafka::{CrudEvents, EventContext, KafkaSettings, Publisher};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIcanaryPEM\n-----END PRIVATE KEY-----";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJKV1QifQ.c2lnY2FuYXJ5";
const BEARER: &str = "Bearer canaryBEARERtoken123";
const KEYED: &str = "canaryKEYEDsecret";

fn events() -> CrudEvents {
    // No broker is needed to build records: the client connects lazily.
    let publisher = Publisher::connect(&KafkaSettings::new("127.0.0.1:1")).unwrap();
    CrudEvents::new(
        publisher,
        civitas_topics::CrudTopics::default(),
        "crud-service",
        Masker::default(),
    )
}

/// A JSON value with `filler` bytes of plain text spread over `parts` strings, and the
/// canaries under innocent and sensitive keys.
fn value(filler: usize, parts: usize, seed: u8) -> Value {
    let mut map = Map::new();
    let each = filler / parts.max(1);
    for n in 0..parts {
        let c = char::from(b'a' + (seed.wrapping_add(n as u8) % 26));
        map.insert(
            format!("field{n}"),
            Value::String(c.to_string().repeat(each)),
        );
    }
    map.insert("note".into(), json!(format!("see {PEM} and {JWT}")));
    map.insert("header".into(), json!(BEARER));
    map.insert("client_secret".into(), json!(KEYED));
    map.insert(
        "nested".into(),
        json!([{"password": KEYED, "list": [JWT, PEM]}]),
    );
    Value::Object(map)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_event_fits_the_limit_and_carries_no_secret(
        params_bytes in 0usize..3_000_000,
        result_bytes in 0usize..3_000_000,
        error_bytes in 0usize..500_000,
        parts in 1usize..200,
        seed in any::<u8>(),
        max in prop_oneof![Just(1_000_000usize), 50_000usize..2_000_000],
    ) {
        let data = OperationData {
            operation: "update".into(),
            system: "kc".into(),
            object_type: "user".into(),
            object_id: Some("x".repeat(params_bytes % 5_000)),
            params: value(params_bytes, parts, seed),
            result: Some(value(result_bytes, parts, seed.wrapping_add(7))),
            error: Some(format!("{} {BEARER} {}", "e".repeat(error_bytes), PEM)),
            success: false,
            timestamp: Utc::now(),
        };
        let (record, _) = events()
            .operation_record("update", &EventContext::correlated("c"), data)
            .unwrap();
        let record = record.fit(max).expect("a JSON record can always be fitted");
        prop_assert!(record.size() <= max, "{} > {max}", record.size());
        let text = String::from_utf8_lossy(&record.payload);
        for canary in ["MIIcanaryPEM", "Y2FuYXJ5", "eyJjYW5hcnkiOiJKV1QifQ", "canaryBEARERtoken123", KEYED] {
            prop_assert!(!text.contains(canary), "{canary} survived");
        }
        let back: Value = serde_json::from_slice(&record.payload).expect("still JSON");
        prop_assert!(back["event_id"].is_string(), "the envelope survives");
        prop_assert!(back["data"].is_object());
    }
}

/// A caller's body may be nested 128 deep (serde_json's limit when it was read); the event
/// around it adds levels, and reading it back to fit it must not fail (found in review).
#[test]
fn a_deeply_nested_oversized_event_is_fitted_not_rejected() {
    let mut params = json!("x".repeat(200_000));
    for _ in 0..127 {
        params = json!({ "a": params, "pad": "p".repeat(2_000) });
    }
    let data = OperationData {
        operation: "update".into(),
        system: "kc".into(),
        object_type: "user".into(),
        object_id: Some("u".into()),
        params,
        result: None,
        error: None,
        success: false,
        timestamp: Utc::now(),
    };
    let (record, _) = events()
        .operation_record("update", &EventContext::correlated("c"), data)
        .unwrap();
    let record = record.fit(100_000).expect("fitted");
    assert!(record.size() <= 100_000);
}
