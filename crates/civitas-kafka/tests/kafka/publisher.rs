//! The publisher against an embedded broker, read back with a plain rdkafka consumer.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use civitas_events::{Masker, OperationData, SecretData};
use civitas_kafka::{CrudEvents, EventContext, Publisher, Record};
use civitas_testkit::{read_topic, settings, start_broker, unique_name};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn failed_update() -> OperationData {
    OperationData {
        operation: "update".into(),
        system: "entraid_contractors".into(),
        object_type: "user".into(),
        object_id: Some("E123456".into()),
        params: json!({
            "Password": "s3cret",
            "Email": "john@example.com",
            "profile": {"identities": [{"refresh_token": "r1", "kind": "oidc"}]},
        }),
        result: None,
        error: Some("Validation failed: missing field 'LastName'".into()),
        success: false,
        timestamp: Utc::now(),
    }
}

#[tokio::test]
async fn an_operation_event_arrives_with_envelope_key_headers_and_masked_params() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let publisher = Publisher::connect(&settings).unwrap();
    let events = CrudEvents::new(
        publisher.clone(),
        civitas_testkit::crud_topics(),
        "crud-service",
        Masker::default(),
    );
    let topic = events.topics().operations.clone();
    broker.create_topic(&topic, 3).unwrap();

    let ctx = EventContext::correlated("b1e-42");
    let before = Utc::now();
    let event_id = events.operation("update", &ctx, failed_update());
    let after = Utc::now();
    publisher.flush(WAIT).unwrap();

    let records = tokio::task::spawn_blocking(move || {
        read_topic(broker.bootstrap_servers(), &topic, 3, 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        record.key.as_deref(),
        Some("entraid_contractors/user/E123456")
    );
    let v = &record.value;
    assert_eq!(v["event_id"], event_id);
    assert_eq!(v["event_type"], "update");
    assert_eq!(v["correlation_id"], "b1e-42");
    assert_eq!(v["service"], "crud-service");
    assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(v["span_id"].as_str().unwrap().len(), 16);
    assert_eq!(v["data"]["success"], false);
    assert_eq!(v["data"]["params"]["Password"], "****MASKED****");
    assert_eq!(v["data"]["params"]["Email"], "john@example.com");
    assert_eq!(
        v["data"]["params"]["profile"]["identities"][0]["refresh_token"],
        "****MASKED****"
    );
    assert!(v["data"].get("result").is_none());
    assert!(!String::from_utf8_lossy(&serde_json::to_vec(v).unwrap()).contains("s3cret"));

    assert_eq!(record.header("ce_specversion"), Some("1.0"));
    assert_eq!(record.header("ce_id"), Some(event_id.as_str()));
    assert_eq!(record.header("ce_source"), Some("/civitas/crud-service"));
    assert_eq!(
        record.header("ce_type"),
        Some(format!("{}.update", records[0].topic).as_str())
    );
    assert_eq!(
        record.header("ce_subject"),
        Some("entraid_contractors/user/E123456")
    );
    assert_eq!(record.header("ce_correlationid"), Some("b1e-42"));
    assert_eq!(record.header("content-type"), Some("application/json"));
    let traceparent = record
        .header("traceparent")
        .expect("a W3C traceparent header");
    assert!(traceparent.contains(v["trace_id"].as_str().unwrap()));
    assert!(record.header("ce_time").unwrap().ends_with('Z'));
    // The event happened when the request made it, not when the builder thread built it.
    let timestamp: chrono::DateTime<Utc> = v["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        before - chrono::Duration::microseconds(1) <= timestamp && timestamp <= after,
        "{before} <= {timestamp} <= {after}"
    );
}

#[tokio::test]
async fn a_secret_event_goes_to_the_functional_and_the_audit_topic_with_one_event_id() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let publisher = Publisher::connect(&settings).unwrap();
    let events = CrudEvents::new(
        publisher.clone(),
        civitas_testkit::crud_topics(),
        "crud-service",
        Masker::default(),
    );
    let (secrets, audit) = (
        events.topics().secrets.clone(),
        events.topics().secrets_audit.clone(),
    );
    broker.create_topic(&secrets, 1).unwrap();
    broker.create_topic(&audit, 1).unwrap();

    let data = SecretData {
        vault_type: "hashicorp".into(),
        credential_id: "kc/admin".into(),
        success: false,
        error: Some("Vault strategy not found".into()),
        cached: false,
        sampled: None,
        sample_every: None,
        timestamp: Utc::now(),
    };
    let id = events
        .secret("secret_error", &EventContext::correlated("c-1"), data)
        .unwrap();
    publisher.flush(WAIT).unwrap();

    let bootstrap = broker.bootstrap_servers().to_owned();
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            read_topic(&bootstrap, &secrets, 1, 1, WAIT),
            read_topic(&bootstrap, &audit, 1, 1, WAIT),
        )
    })
    .await
    .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(b.len(), 1);
    assert_eq!(a[0].value["event_id"], id);
    assert_eq!(a[0].value, b[0].value);
    assert_eq!(a[0].value["data"]["credential_id"], "kc/admin");
    assert_eq!(a[0].key.as_deref(), Some("kc/admin"));
}

#[tokio::test]
async fn every_record_of_a_burst_arrives_after_the_broker_was_down_for_seconds() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("burst");
    broker.create_topic(&topic, 3).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.burst");

    let total = 3_000usize;
    for i in 0..total {
        if i == 1_000 {
            broker.broker_down(1).unwrap();
        }
        if i == 2_000 {
            // Publishing goes on while the broker is away; nothing may block or get lost.
            tokio::time::sleep(Duration::from_secs(3)).await;
            broker.broker_up(1).unwrap();
        }
        let record = Record::json(
            &topic,
            Some(format!("k{}", i % 7)),
            &event.attributes(),
            &json!({"n": i}),
        )
        .unwrap();
        publisher.send(record);
    }
    let flusher = publisher.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    let stats = publisher.stats();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.delivered as usize, total, "{stats:?}");

    let bootstrap = broker.bootstrap_servers().to_owned();
    let records =
        tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, 3, total, WAIT))
            .await
            .unwrap();
    let seen: HashSet<u64> = records
        .iter()
        .map(|r| r.value["n"].as_u64().unwrap())
        .collect();
    assert_eq!(seen.len(), total, "every record arrives exactly once");
    assert_eq!(records.len(), total, "no duplicates (idempotent producer)");
}

#[tokio::test]
async fn records_refused_by_a_full_queue_are_kept_and_delivered_later() {
    let broker = start_broker(1).await;
    let mut settings = settings(&broker);
    // A producer queue of 10 records forces the retry queue into play.
    settings
        .client_options
        .insert("queue.buffering.max.messages".into(), "10".into());
    let topic = unique_name("tiny");
    broker.create_topic(&topic, 1).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.tiny");
    for i in 0..500 {
        publisher.send(Record::json(&topic, None, &event.attributes(), &json!({"n": i})).unwrap());
    }
    assert!(
        publisher.stats().retry_queue > 0,
        "the tiny queue overflowed into the retry queue"
    );
    let flusher = publisher.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap();
    let stats = publisher.stats();
    assert_eq!(stats.delivered, 500, "{stats:?}");
    assert_eq!(stats.retry_queue, 0);
    assert!(stats.retried > 0);
}

#[tokio::test]
async fn deferred_records_arrive_in_call_order_and_a_failed_build_is_counted_not_fatal() {
    let broker = start_broker(1).await;
    let settings = settings(&broker);
    let topic = unique_name("deferred");
    broker.create_topic(&topic, 1).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.deferred");
    for i in 0..200u64 {
        let (topic, event) = (topic.clone(), event.clone());
        publisher.send_later(move || {
            if i == 50 {
                panic!("a build that panics");
            }
            Record::json(
                &topic,
                Some("k".into()),
                &event.attributes(),
                &json!({"n": i}),
            )
        });
    }
    let flusher = publisher.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    let stats = publisher.stats();
    assert_eq!(
        (stats.sent, stats.delivered, stats.dropped, stats.deferred),
        (199, 199, 1, 0)
    );

    let bootstrap = broker.bootstrap_servers().to_owned();
    let records = tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, 1, 199, WAIT))
        .await
        .unwrap();
    let order: Vec<u64> = records
        .iter()
        .map(|r| r.value["n"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..200).filter(|n| *n != 50).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn a_record_larger_than_message_max_bytes_is_truncated_and_one_that_cannot_be_is_rejected_not_retried()
 {
    let broker = start_broker(1).await;
    let mut settings = settings(&broker);
    settings
        .client_options
        .insert("message.max.bytes".into(), "20000".into());
    let topic = unique_name("big");
    broker.create_topic(&topic, 1).unwrap();
    let publisher = Publisher::connect(&settings).unwrap();
    let event = civitas_events::CloudEvent::new("/civitas/test", "test.big");
    let big = json!({"id": "first", "blob": "x".repeat(100_000)});
    publisher
        .send(Record::json(&topic, Some("k".repeat(5_000)), &event.attributes(), &big).unwrap());
    // Not JSON, so it cannot be shortened: rejected for good, and it must not block the next.
    publisher.send(Record::new(&topic, None, [], vec![b'y'; 100_000]));
    publisher
        .send(Record::json(&topic, None, &event.attributes(), &json!({"id": "last"})).unwrap());
    let flusher = publisher.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    let stats = publisher.stats();
    assert_eq!(stats.delivered, 2, "{stats:?}");
    assert_eq!(stats.truncated, 1, "{stats:?}");
    assert_eq!(stats.rejected_too_large, 1, "{stats:?}");
    assert_eq!(stats.retry_queue, 0, "{stats:?}");
    assert!(stats.last_loss_secs_ago.is_some());
    let records = read_topic(&settings.bootstrap_servers, &topic, 1, 2, WAIT);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].value["id"], "first");
    let blob = records[0].value["blob"].as_str().unwrap();
    assert!(blob.contains("…[truncated "), "{blob:.80}");
    assert!(records[0].key.as_ref().unwrap().len() < 2_000);
    assert_eq!(records[1].value["id"], "last");
}
