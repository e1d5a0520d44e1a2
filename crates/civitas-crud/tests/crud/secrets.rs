//! The secret service inside the CRUD service, end to end: a system's credential pointer is
//! looked up through the cache, every lookup is an event on `crud.secrets` and
//! `crud.secrets.audit` with the request's correlation id, a 401 to a cached (rotated) secret
//! heals itself, an unavailable secret is a 503 naming the pointer — and the canary value
//! never appears on any topic, in any log line or in any response.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, systems_dir};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARY_OLD: &str = "CANARY-old-5b1f0d";
const CANARY_NEW: &str = "CANARY-new-93c7aa";

/// Every log line of this test binary, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn upstream_accepting(token: &str) -> MockServer {
    let upstream = MockServer::start().await;
    accept(&upstream, token).await;
    upstream
}

async fn accept(upstream: &MockServer, token: &str) {
    upstream.reset().await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/u-1"))
        .and(header("Authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u-1"})))
        .mount(upstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid token"})))
        .mount(upstream)
        .await;
}

fn read_user(system: &str) -> Value {
    json!({"system": system, "object_type": "user", "action": "read", "object_id": "u-1", "params": {}})
}

#[tokio::test]
async fn lookups_are_cached_reported_healed_after_rotation_and_the_value_never_travels() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("kc-token");
    std::fs::write(&token_file, CANARY_OLD).unwrap();
    let upstream = upstream_accepting(CANARY_OLD).await;
    let dir = systems_dir(
        "kc.yaml",
        &format!(
            "name: kc\ntype: keycloak\nbase_url: {}\nsettings: {{realm: city}}\nretry: {{attempts: 1}}\n\
             auth: {{kind: bearer, token: 'file:{}'}}\n",
            upstream.uri(),
            token_file.display()
        ),
    );
    std::fs::write(
        dir.path().join("broken.yaml"),
        format!(
            "name: broken\ntype: keycloak\nbase_url: {}\nsettings: {{realm: city}}\n\
             auth: {{kind: bearer, token: 'env:CIVITAS_TEST_SURELY_UNSET_4713'}}\n",
            upstream.uri()
        ),
    )
    .unwrap();
    let dir_path = dir.path().to_owned();
    let app = TestApp::spawn_with(|s| {
        s.systems_dir = Some(dir_path);
        // The rotation below comes right after the first read.
        s.secrets.min_reread_interval = Duration::ZERO;
    })
    .await;
    let mut responses = Vec::new();
    let mut call = async |system: &str, correlation: &str| {
        let body = serde_json::to_vec(&read_user(system)).unwrap();
        let response = app
            .post(
                &body,
                &[
                    ("content-type", "application/json"),
                    ("x-correlation-id", correlation),
                ],
            )
            .await;
        responses.push(response.body.to_string());
        response
    };

    // 1. A retrieval, then a cache hit.
    assert_eq!(call("kc", "req-1").await.status, 200);
    assert_eq!(call("kc", "req-2").await.status, 200);
    // 2. The secret rotates: the cached old value gets a 401, is dropped, the new one is read.
    std::fs::write(&token_file, CANARY_NEW).unwrap();
    accept(&upstream, CANARY_NEW).await;
    let healed = call("kc", "req-3").await;
    assert_eq!(healed.status, 200, "{:?}", healed.body);
    // 3. A pointer that does not resolve: 503 naming it.
    let unavailable = call("broken", "req-4").await;
    assert_eq!(unavailable.status, 503);
    let detail = unavailable.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("env:CIVITAS_TEST_SURELY_UNSET_4713"),
        "{detail}"
    );

    let topics = &app.topics;
    let events = app
        .read_more(&topics.secrets, 5, Duration::from_secs(15))
        .await;
    let audit = app
        .read_more(&topics.secrets_audit, 5, Duration::from_secs(15))
        .await;
    let summary: Vec<(String, String, bool)> = events
        .iter()
        .map(|r| {
            (
                r.value["event_type"].as_str().unwrap().to_owned(),
                r.value["correlation_id"].as_str().unwrap_or("").to_owned(),
                r.value["data"]["cached"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, bool)> = [
        ("secret_retrieved", "req-1", false),
        ("secret_cache_hit", "req-2", true),
        ("secret_cache_hit", "req-3", true),
        ("secret_retrieved", "req-3", false),
        ("secret_error", "req-4", false),
    ]
    .iter()
    .map(|(t, c, cached)| ((*t).to_owned(), (*c).to_owned(), *cached))
    .collect();
    assert_eq!(summary, expected);
    let ids = |records: &[civitas_kafka::ConsumedRecord]| -> Vec<Value> {
        records
            .iter()
            .map(|r| r.value["event_id"].clone())
            .collect()
    };
    assert_eq!(
        ids(&events),
        ids(&audit),
        "the audit copy has the same events"
    );
    let error = &events[4].value["data"];
    assert_eq!(error["success"], false);
    assert_eq!(error["vault_type"], "env");
    assert!(error["error"].as_str().unwrap().contains("not set"));

    // The canary: on no topic (values, keys, headers), in no log line, in no response.
    let metrics = app.get("/metrics").await.body.as_str().unwrap().to_owned();
    for series in [
        r#"civitas_secret_lookups_total{provider="file",outcome="hit",reason=""} 2"#,
        r#"civitas_secret_lookups_total{provider="file",outcome="retrieved",reason=""} 2"#,
        r#"civitas_secret_lookups_total{provider="env",outcome="error",reason="not_found"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} not in {metrics}");
    }
    responses.push(metrics);
    responses.push(app.get("/health").await.body.to_string());
    for topic in topics.all() {
        for record in app.read_more(topic, 1000, Duration::from_millis(500)).await {
            let text = format!("{:?} {:?} {}", record.key, record.headers, record.value);
            assert!(!text.contains("CANARY"), "{topic}: {text}");
        }
    }
    for response in &responses {
        assert!(!response.contains("CANARY"), "{response}");
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("cached secret dropped after a 401"),
        "the log tells the healing"
    );
    assert!(!logged.contains("CANARY"), "a log line holds the secret");
}
