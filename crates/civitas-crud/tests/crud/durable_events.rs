//! Acknowledged means durable, through the HTTP API: the built-in directory's change and its
//! events commit in one transaction (no user without its event, no event without its user),
//! an answer waits until the request's events are stored, and a full backlog refuses
//! commands with 503.

use std::time::Duration;

use civitas_crud::{App, CrudSettings, Running};
use civitas_kafka::EmbeddedBroker;
use civitas_kafka::outbox::{Outbox, OutboxSettings};
use civitas_testkit::{crud_topics, read_topic, settings, start_broker};
use serde_json::{Value, json};
use sqlx::AnyPool;

struct Service {
    running: Running,
    outbox: Outbox,
    pool: AnyPool,
    broker: EmbeddedBroker,
    topic: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn service(outbox_settings: OutboxSettings) -> Service {
    let broker = start_broker(1).await;
    let topics = crud_topics();
    for topic in topics.all() {
        broker.create_topic(topic, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let crud = CrudSettings {
        database_url: format!("sqlite://{}/crud.db", dir.path().display()),
        topics: topics.clone(),
        metrics_interval: None,
        ..CrudSettings::default()
    };
    let pool = civitas_store::connect(&crud.database_url).await.unwrap();
    let outbox = Outbox::start(pool.clone(), &settings(&broker), outbox_settings)
        .await
        .unwrap();
    let app = App::build(&crud, Some(outbox.clone().into()))
        .await
        .unwrap();
    let running = Running::start(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Service {
        running,
        outbox,
        pool,
        broker,
        topic: topics.operations.clone(),
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Service {
    async fn execute(&self, body: Value) -> (u16, Value) {
        let answer = self
            .client
            .post(format!("{}/execute", self.running.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// Undelivered rows whose payload contains `text`.
    async fn stored(&self, text: &str) -> i64 {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM kafka_outbox")
            .fetch_all(&self.pool)
            .await
            .unwrap();
        rows.iter()
            .filter(|p| String::from_utf8_lossy(p).contains(text))
            .count() as i64
    }
}

fn create(username: &str) -> Value {
    json!({"system": "local", "object_type": "user", "action": "create",
           "params": {"username": username, "password": "s3cret-canary-pw"}})
}

#[tokio::test]
async fn a_directory_change_and_its_events_commit_together_and_are_published_once() {
    let service = service(OutboxSettings::default()).await;
    // The broker is away: whatever is acknowledged must wait in the table.
    service.broker.broker_down(1).unwrap();
    let (status, body) = service.execute(create("tx-max")).await;
    assert_eq!(status, 200, "{body}");
    let event_id = body["event_id"].as_str().unwrap().to_owned();
    assert_eq!(
        service.stored(&event_id).await,
        1,
        "the operation event is stored"
    );
    assert_eq!(
        service.stored("\"tx-max\"").await,
        2,
        "the operation event and the configuration event, nothing else"
    );

    // A change whose events cannot be stored does not happen: the transaction rolls back.
    sqlx::query(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON kafka_outbox \
         BEGIN SELECT RAISE(ABORT, 'the outbox refuses'); END",
    )
    .execute(&service.pool)
    .await
    .unwrap();
    let (status, _) = service.execute(create("tx-erika")).await;
    assert_ne!(status, 200, "no user without its event");
    sqlx::query("DROP TRIGGER refuse_events")
        .execute(&service.pool)
        .await
        .unwrap();
    let users: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_users WHERE username = 'tx-erika'")
            .fetch_one(&service.pool)
            .await
            .unwrap();
    assert_eq!(users, 0, "the refused create left no user");

    // Back online: the create's event arrives exactly once (the executor did not publish
    // it a second time), masked.
    service.broker.broker_up(1).unwrap();
    let bootstrap = service.broker.bootstrap_servers().to_owned();
    let topic = service.topic.clone();
    let records = tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, &topic, 1, 10, Duration::from_secs(20))
    })
    .await
    .unwrap();
    let copies: Vec<&Value> = records
        .iter()
        .map(|r| &r.value)
        .filter(|v| v["event_id"] == event_id.as_str())
        .collect();
    assert_eq!(copies.len(), 1, "{records:?}");
    assert_eq!(copies[0]["data"]["params"]["password"], "****MASKED****");
    assert!(
        !records
            .iter()
            .any(|r| r.value.to_string().contains("s3cret-canary-pw"))
    );
    service.outbox.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_full_backlog_refuses_commands_with_503_and_retry_after() {
    let service = service(OutboxSettings {
        max_events: 2,
        ..OutboxSettings::default()
    })
    .await;
    service.broker.broker_down(1).unwrap();
    let (status, body) = service.execute(create("full-1")).await;
    assert_eq!(status, 200, "{body}");
    let answer = service
        .client
        .post(format!("{}/execute", service.running.url()))
        .json(&create("full-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("backlog is full"),
        "{body}"
    );
    let users: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_users WHERE username = 'full-2'")
            .fetch_one(&service.pool)
            .await
            .unwrap();
    assert_eq!(users, 0, "nothing ran");
    let health = service
        .client
        .get(format!("{}/health/ready", service.running.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 503, "not ready while full");
    service.outbox.shutdown(Duration::ZERO).await;
}
