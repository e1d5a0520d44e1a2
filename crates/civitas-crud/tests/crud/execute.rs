//! Black-box tests of `POST /execute`: the app on port 0 with its own embedded broker and
//! SQLite database; every test checks the HTTP answer *and* the events read back from Kafka.

use crate::common;

use std::time::Duration;

use common::{TestApp, systems_dir};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MASK: &str = "****MASKED****";

fn create_max() -> Value {
    json!({
        "system": "local", "object_type": "user", "action": "create",
        "params": {"username": "max", "Password": "s3cret", "email": "max@example.org"}
    })
}

#[tokio::test]
async fn a_create_succeeds_and_publishes_one_masked_operation_event() {
    let app = TestApp::spawn().await;
    let response = app.execute(create_max()).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["result"]["username"], "max");
    assert_eq!(response.body["result"]["email"], "max@example.org");
    assert!(response.body["result"].get("password").is_none());
    assert!(response.body["result"].get("password_hash").is_none());
    let correlation_id = response.body["correlation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        response.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );
    let event_id = response.body["event_id"].as_str().unwrap().to_owned();

    let events = app.operations(1).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    let v = &event.value;
    assert_eq!(v["event_id"], event_id.as_str());
    assert_eq!(v["event_type"], "create");
    assert_eq!(v["correlation_id"], correlation_id.as_str());
    assert_eq!(v["service"], "crud-service");
    assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(v["span_id"].as_str().unwrap().len(), 16);
    let data = &v["data"];
    assert_eq!(data["operation"], "create");
    assert_eq!(data["system"], "local");
    assert_eq!(data["object_type"], "user");
    assert_eq!(data["object_id"], "max");
    assert_eq!(data["success"], true);
    assert_eq!(data["params"]["Password"], MASK);
    assert_eq!(data["params"]["email"], "max@example.org");
    assert_eq!(data["result"]["username"], "max");
    assert!(data.get("error").is_none());
    assert!(!event.value.to_string().contains("s3cret"));
    assert!(!event.value.to_string().contains("argon2"));
    assert_eq!(event.key.as_deref(), Some("local/user/max"));
    assert_eq!(event.header("ce_id"), Some(event_id.as_str()));
    assert_eq!(
        event.header("ce_type"),
        Some(format!("{}.create", app.topics.operations).as_str())
    );
    assert_eq!(
        event.header("ce_correlationid"),
        Some(correlation_id.as_str())
    );
    assert_eq!(
        app.count(&app.topics.operations, 1, Duration::from_secs(3))
            .await,
        1,
        "exactly one event per request"
    );
}

#[tokio::test]
async fn a_second_identical_create_is_a_conflict_with_a_failure_event() {
    let app = TestApp::spawn().await;
    assert_eq!(app.execute(create_max()).await.status, 200);
    let response = app.execute(create_max()).await;
    assert_eq!(response.status, 409);
    assert_eq!(
        response.body["detail"],
        "user 'max' already exists in system 'local'"
    );
    assert_eq!(
        response.body["correlation_id"],
        response.header("x-correlation-id").unwrap()
    );

    let events = app.operations(2).await;
    let failed = &events[1].value;
    assert_eq!(failed["event_type"], "create");
    assert_eq!(failed["data"]["success"], false);
    assert_eq!(
        failed["data"]["error"],
        "user 'max' already exists in system 'local'"
    );
    assert_eq!(failed["data"]["params"]["Password"], MASK);
    assert!(failed["data"].get("result").is_none());
}

#[tokio::test]
async fn a_body_without_system_is_422_with_a_validation_error_event() {
    let app = TestApp::spawn().await;
    let response = app
        .execute(json!({
            "object_type": "user", "action": "create", "object_id": "max",
            "params": {"username": "max", "password": "s3cret"}
        }))
        .await;
    assert_eq!(response.status, 422);
    let detail = &response.body["detail"][0];
    assert_eq!(detail["type"], "missing");
    assert_eq!(detail["loc"], json!(["body", "system"]));
    assert_eq!(detail["msg"], "Field required");
    assert_eq!(detail["input"]["params"]["password"], MASK);

    let errors = app.errors(1).await;
    assert_eq!(errors.len(), 1);
    let v = &errors[0].value;
    assert_eq!(v["event_type"], "validation_error");
    assert_eq!(
        v["correlation_id"],
        response.header("x-correlation-id").unwrap()
    );
    let data = &v["data"];
    assert_eq!(data["path"], "/execute");
    assert_eq!(data["system"], Value::Null);
    assert_eq!(data["object_type"], "user");
    assert_eq!(data["action"], "create");
    assert_eq!(data["object_id"], "max");
    assert_eq!(data["errors"][0]["type"], "missing");
    assert_eq!(data["errors"][0]["loc"], json!(["body", "system"]));
    assert_eq!(data["errors"][0]["input"]["params"]["password"], MASK);
    assert!(!v.to_string().contains("s3cret"));
    // A validation error is not an operation: the next request's event is the first one.
    assert_eq!(app.execute(create_max()).await.status, 200);
    let operations = app
        .read_more(&app.topics.operations, 2, Duration::from_secs(3))
        .await;
    assert_eq!(operations.len(), 1);
    assert_eq!(operations[0].value["data"]["operation"], "create");
}

#[tokio::test]
async fn malformed_json_is_422_json_invalid_with_an_event() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            b"{\"system\": \"local\",",
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(response.status, 422);
    assert_eq!(response.body["detail"][0]["type"], "json_invalid");
    assert_eq!(response.body["detail"][0]["msg"], "JSON decode error");
    let errors = app.errors(1).await;
    assert_eq!(errors[0].value["data"]["errors"][0]["type"], "json_invalid");
}

#[tokio::test]
async fn wrong_types_are_all_reported_in_one_422() {
    let app = TestApp::spawn().await;
    let response = app
        .execute(json!({"system": 7, "object_type": "user", "action": ["x"], "params": "p"}))
        .await;
    assert_eq!(response.status, 422);
    let kinds: Vec<&str> = response.body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["string_type", "string_type", "dict_type"]);
    let errors = app.errors(1).await;
    assert_eq!(
        errors[0].value["data"]["errors"].as_array().unwrap().len(),
        3
    );
    assert_eq!(errors[0].value["data"]["object_type"], "user");
}

#[tokio::test]
async fn an_unknown_system_object_type_or_action_is_404_naming_the_choices_with_an_event() {
    let app = TestApp::spawn().await;
    let unknown_system = app
        .execute(json!({"system": "nope", "object_type": "user", "action": "read", "params": {}, "object_id": "x"}))
        .await;
    assert_eq!(unknown_system.status, 404);
    assert_eq!(
        unknown_system.body["detail"],
        "Unknown system 'nope'. Valid systems: local"
    );

    let unknown_object = app
        .execute(json!({"system": "local", "object_type": "robot", "action": "read", "params": {}}))
        .await;
    assert_eq!(unknown_object.status, 404);
    assert_eq!(
        unknown_object.body["detail"],
        "Unknown object type 'robot' for system 'local' (type directory). Valid object types: group, user"
    );

    let unknown_action = app
        .execute(
            json!({"system": "local", "object_type": "user", "action": "frobnicate", "params": {}}),
        )
        .await;
    assert_eq!(unknown_action.status, 404);
    let detail = unknown_action.body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Unknown action 'frobnicate' for local/user. Valid actions: "),
        "{detail}"
    );
    assert!(detail.contains("change_password"), "{detail}");

    let events = app.operations(3).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e.value["event_type"].as_str().unwrap())
        .collect();
    // The kind of an unknown command: the action name when it is a kind, else "unknown".
    assert_eq!(types, ["read", "read", "unknown"]);
    assert!(events.iter().all(|e| e.value["data"]["success"] == false));
    assert_eq!(
        events[0].value["data"]["error"],
        "Unknown system 'nope'. Valid systems: local"
    );
}

#[tokio::test]
async fn missing_params_are_400_naming_them_with_an_event_of_the_commands_kind() {
    let app = TestApp::spawn().await;
    let response = app
        .execute(json!({"system": "local", "object_type": "user", "action": "change_password", "params": {"new_password": "n"}}))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.body["detail"],
        "Missing required params for local/user/change_password: object_id, old_password"
    );
    let events = app.operations(1).await;
    assert_eq!(events[0].value["event_type"], "update");
    assert_eq!(events[0].value["data"]["operation"], "change_password");
    assert_eq!(events[0].value["data"]["params"]["new_password"], MASK);
}

#[tokio::test]
async fn nested_secrets_are_masked_in_params_and_results_of_the_event_but_not_in_the_response() {
    let app = TestApp::spawn().await;
    let response = app
        .execute(json!({
            "system": "local", "object_type": "user", "action": "create",
            "params": {
                "username": "svc",
                "attributes": {
                    "integration": {"client_secret": "cs-123", "endpoint": "https://x"},
                    "keys": [{"api_key": "ak-456", "label": "main"}]
                }
            }
        }))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    // The caller gets what it stored.
    assert_eq!(
        response.body["result"]["attributes"]["integration"]["client_secret"],
        "cs-123"
    );

    let event = &app.operations(1).await[0].value;
    let params = &event["data"]["params"]["attributes"];
    assert_eq!(params["integration"]["client_secret"], MASK);
    assert_eq!(params["integration"]["endpoint"], "https://x");
    assert_eq!(params["keys"][0]["api_key"], MASK);
    assert_eq!(params["keys"][0]["label"], "main");
    let result = &event["data"]["result"]["attributes"];
    assert_eq!(result["integration"]["client_secret"], MASK);
    assert_eq!(result["keys"][0]["api_key"], MASK);
    let text = event.to_string();
    assert!(
        !text.contains("cs-123") && !text.contains("ak-456"),
        "{text}"
    );
}

#[tokio::test]
async fn the_callers_correlation_id_is_returned_and_put_on_the_event() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&create_max()).unwrap();
    let response = app
        .post(
            &body,
            &[
                ("content-type", "application/json"),
                ("X-Correlation-ID", "req-4711"),
            ],
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-correlation-id"), Some("req-4711"));
    assert_eq!(response.body["correlation_id"], "req-4711");
    let event = &app.operations(1).await[0];
    assert_eq!(event.value["correlation_id"], "req-4711");
    assert_eq!(event.header("ce_correlationid"), Some("req-4711"));
}

#[tokio::test]
async fn a_traceparent_supplies_the_trace_id_and_the_service_span_is_its_child() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&create_max()).unwrap();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .post(
            &body,
            &[
                ("content-type", "application/json"),
                ("traceparent", traceparent),
            ],
        )
        .await;
    assert_eq!(response.status, 200);
    let event = &app.operations(1).await[0];
    assert_eq!(event.value["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let span = event.value["span_id"].as_str().unwrap();
    assert_eq!(span.len(), 16);
    assert_ne!(span, "00f067aa0ba902b7");
    let header = event.header("traceparent").unwrap();
    assert!(
        header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{header}"
    );
}

#[tokio::test]
async fn without_a_traceparent_each_request_gets_its_own_trace() {
    let app = TestApp::spawn().await;
    app.execute(create_max()).await;
    app.execute(create_max()).await;
    let events = app.operations(2).await;
    assert_ne!(events[0].value["trace_id"], events[1].value["trace_id"]);
}

#[tokio::test]
async fn the_service_name_is_configurable() {
    let app = TestApp::spawn_with(|s| s.service_name = "crud-east".into()).await;
    app.execute(create_max()).await;
    let event = &app.operations(1).await[0];
    assert_eq!(event.value["service"], "crud-east");
    assert_eq!(event.header("ce_source"), Some("/civitas/crud-east"));
}

#[tokio::test]
async fn an_upstream_failure_is_502_with_the_seed_shape_and_a_failure_event() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/u-1"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": "unknown_error"})))
        .expect(1)
        .mount(&upstream)
        .await;
    let dir = systems_dir(
        "kc.yaml",
        &format!(
            "name: kc\ntype: keycloak\nbase_url: {}\nsettings: {{realm: city}}\nretry: {{attempts: 1}}\n",
            upstream.uri()
        ),
    );
    let dir_path = dir.path().to_owned();
    let app = TestApp::spawn_with(|s| s.systems_dir = Some(dir_path)).await;
    let response = app
        .execute(json!({"system": "kc", "object_type": "user", "action": "read", "params": {}, "object_id": "u-1"}))
        .await;
    assert_eq!(response.status, 502);
    assert_eq!(response.body["error"], "HTTP Error 500");
    assert_eq!(
        response.body["upstream"]["url"],
        format!("{}/admin/realms/city/users/u-1", upstream.uri())
    );
    assert_eq!(
        response.body["upstream"]["detail"],
        json!({"error": "unknown_error"})
    );
    let event = &app.operations(1).await[0].value;
    assert_eq!(event["event_type"], "read");
    assert_eq!(event["data"]["success"], false);
    assert_eq!(event["data"]["object_id"], "u-1");
    let error = event["data"]["error"].as_str().unwrap();
    assert!(error.starts_with("HTTP Error 500 from "), "{error}");
}

#[tokio::test]
async fn the_whole_user_lifecycle_leaves_one_event_per_request() {
    let app = TestApp::spawn().await;
    let call = |action: &str, params: Value| json!({"system": "local", "object_type": "user", "action": action, "params": params, "object_id": "max"});
    assert_eq!(app.execute(create_max()).await.status, 200);
    assert_eq!(
        app.execute(call("lock", json!({}))).await.body["result"]["locked"],
        true
    );
    assert_eq!(
        app.execute(call("unlock", json!({}))).await.body["result"]["locked"],
        false
    );
    let wrong = app
        .execute(call(
            "change_password",
            json!({"old_password": "nope", "new_password": "n3w"}),
        ))
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.body["detail"],
        "old_password does not match the current password"
    );
    let right = app
        .execute(call(
            "change_password",
            json!({"old_password": "s3cret", "new_password": "n3w"}),
        ))
        .await;
    assert_eq!(right.status, 200, "{:?}", right.body);
    assert_eq!(
        app.execute(call("reset_password", json!({"new_password": "r3set"})))
            .await
            .status,
        200
    );
    assert_eq!(app.execute(call("delete", json!({}))).await.status, 200);
    let gone = app.execute(call("read", json!({}))).await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.body["detail"],
        "user 'max' not found in system 'local'"
    );

    let events = app.operations(8).await;
    let seen: Vec<(String, String, bool)> = events
        .iter()
        .map(|e| {
            (
                e.value["event_type"].as_str().unwrap().to_owned(),
                e.value["data"]["operation"].as_str().unwrap().to_owned(),
                e.value["data"]["success"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("create", "create", true),
        ("update", "lock", true),
        ("update", "unlock", true),
        ("update", "change_password", false),
        ("update", "change_password", true),
        ("update", "reset_password", true),
        ("delete", "delete", true),
        ("read", "read", false),
    ];
    let expected: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect();
    assert_eq!(seen, expected);
    let all = serde_json::to_string(&events.iter().map(|e| &e.value).collect::<Vec<_>>()).unwrap();
    for secret in ["s3cret", "n3w", "r3set", "$argon2"] {
        assert!(!all.contains(secret), "{secret} leaked into an event");
    }
}

#[tokio::test]
async fn after_a_flush_every_event_is_built_and_the_metrics_say_so() {
    let app = TestApp::spawn().await;
    assert_eq!(app.execute(create_max()).await.status, 200);
    for _ in 0..3 {
        let read = json!({"system": "local", "object_type": "user", "action": "read", "params": {}, "object_id": "max"});
        assert_eq!(app.execute(read).await.status, 200);
    }
    let publisher = app.publisher.clone();
    tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("everything delivered");
    let stats = app.publisher.stats();
    assert_eq!((stats.deferred, stats.in_flight), (0, 0));
    // The create also announced its configuration event.
    assert_eq!((stats.sent, stats.delivered), (5, 5));
    let metrics = app
        .client
        .get(format!("{}/metrics", app.running.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "civitas_publisher_sent_total 5",
        "civitas_publisher_delivered_total 5",
        "civitas_publisher_deferred 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn an_invalid_body_larger_than_a_record_may_be_still_gives_its_event_truncated() {
    const MAX: usize = 100_000;
    let app = TestApp::spawn_with_kafka_options(&[("message.max.bytes", "100000")], |_| {}).await;
    let blob = "x".repeat(400_000);
    let body = json!({"system": 1, "params": {"blob": blob}});
    let response = app.execute(body).await;
    assert_eq!(response.status, 422, "{:?}", response.body);

    let events = app.errors(1).await;
    assert_eq!(events.len(), 1, "the crud.errors event must arrive");
    let event = &events[0];
    let text = event.value.to_string();
    assert!(text.len() < MAX, "{} bytes", text.len());
    assert!(text.contains("…[truncated "), "no marker");
    let errors = event.value["data"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{errors:?}");
    // The body is kept once: later issues point at the first copy.
    let copies = errors.iter().filter(|e| e["input"].is_object()).count();
    assert_eq!(copies, 1, "{errors:?}");

    let health = app.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        health.body["events"]["delivery"]["publisher"]["retry_queue"],
        0
    );
    assert_eq!(health.body["status"], "ok", "{:?}", health.body);
}

#[tokio::test]
async fn key_material_and_secret_shaped_values_are_masked_on_every_topic() {
    const PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    let app = TestApp::spawn().await;
    app.broker
        .create_topic("de.civitascore.idm.user.created", 1)
        .unwrap();
    let response = app
        .execute(json!({
            "system": "local", "object_type": "user", "action": "create",
            "params": {"username": "pem", "attributes": {
                "client_key": PEM,
                "note": format!("copied from {PEM}"),
                "token_note": "Authorization: Bearer abcdefgh12345678",
            }}
        }))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let events = app.operations(1).await;
    let text = events[0].value.to_string();
    assert!(!text.contains("MIIEvQ"), "{text}");
    assert!(!text.contains("abcdefgh12345678"), "{text}");
    assert_eq!(
        events[0].value["data"]["params"]["attributes"]["client_key"],
        MASK
    );
    let announced = app
        .read_more(
            "de.civitascore.idm.user.created",
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(announced.len(), 1);
    let text = announced[0].value.to_string();
    assert!(!text.contains("MIIEvQ"), "{text}");
    assert!(!text.contains("abcdefgh12345678"), "{text}");
}

#[tokio::test]
async fn a_client_trickling_its_headers_or_body_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|s| {
        s.header_read_timeout = Duration::from_millis(300);
        s.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = app.running.addr;

    // Headers never finished: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /execute HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was not closed");

    // A body that never arrives: 408.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// The body timeout (30 s here) is longer than the shutdown deadline: only the deadline can
/// end the wait.
#[tokio::test]
async fn a_client_holding_a_request_open_cannot_hold_shutdown_past_its_deadline() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(|s| s.body_read_timeout = Duration::from_secs(30)).await;
    let mut holder = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .unwrap();
    holder
        .write_all(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let stopped = app.running.stop_within(Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stopped.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    drop(holder);
}
