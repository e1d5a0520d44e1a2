//! Configuration events (seed 003) on the wire: a successful command whose object type maps
//! to a catalog entity is announced on `de.civitascore.<domain>.<entity>.<event>`.

use crate::common;

use std::time::Duration;

use common::TestApp;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn creating_and_locking_a_user_publishes_bare_payloads_with_cloudevents_headers() {
    let app = TestApp::spawn().await;
    let (created, locked) = (
        "de.civitascore.idm.user.created",
        "de.civitascore.idm.user.locked",
    );
    app.broker.create_topic(created, 1).unwrap();
    app.broker.create_topic(locked, 1).unwrap();

    let response = app
        .execute(json!({
            "system": "local", "object_type": "user", "action": "create",
            "params": {"username": "max", "Password": "s3cret", "email": "max@example.org",
                       "firstname": "Max", "lastname": "Mustermann"}
        }))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let correlation_id = response.body["correlation_id"].as_str().unwrap().to_owned();
    let lock = app
        .execute(
            json!({"system": "local", "object_type": "user", "action": "lock",
                        "object_id": "max", "params": {}}),
        )
        .await;
    assert_eq!(lock.status, 200, "{:?}", lock.body);

    let records = app.read_more(created, 1, WAIT).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let payload = &record.value;
    // The bare payload: no envelope, no secret at all (not even masked).
    assert!(payload.get("data").is_none() && payload.get("event_id").is_none());
    assert_eq!(payload["email"], "max@example.org");
    assert_eq!(payload["firstname"], "Max");
    let text = payload.to_string().to_lowercase();
    assert!(!text.contains("s3cret") && !text.contains("password") && !text.contains("masked"));
    // The entity id is the object id the CRUD API names the user by (the directory's
    // username), the same as `object_id` of its crud.operations event.
    assert_eq!(record.key.as_deref(), Some("max"));
    assert_eq!(record.header("ce_subject"), Some("max"));
    assert_eq!(record.header("ce_type"), Some(created));
    assert_eq!(record.header("ce_specversion"), Some("1.0"));
    assert_eq!(
        record.header("ce_correlationid"),
        Some(correlation_id.as_str())
    );
    assert!(record.header("traceparent").is_some());

    let locked_records = app.read_more(locked, 1, WAIT).await;
    assert_eq!(locked_records.len(), 1, "lock maps to its seed event");
    assert_eq!(locked_records[0].header("ce_type"), Some(locked));
}

#[tokio::test]
async fn a_failed_command_and_a_read_announce_nothing() {
    let app = TestApp::spawn().await;
    let created = "de.civitascore.idm.user.created";
    app.broker.create_topic(created, 1).unwrap();
    let body = json!({"system": "local", "object_type": "user", "action": "create",
                      "params": {"username": "max"}});
    assert_eq!(app.execute(body.clone()).await.status, 200);
    assert_eq!(app.execute(body).await.status, 409);
    let read = json!({"system": "local", "object_type": "user", "action": "read",
                      "object_id": "max", "params": {}});
    assert_eq!(app.execute(read).await.status, 200);
    assert_eq!(
        app.count(created, 1, Duration::from_secs(3)).await,
        1,
        "only the first create"
    );
}
