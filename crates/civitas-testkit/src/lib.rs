//! Test helpers for civitas: an embedded broker per test, unique names, a plain rdkafka
//! consumer that reads what the code under test published, and the one per-backend harness
//! ([`each_backend!`], [`TestDatabase`]): SQLite always, PostgreSQL when the test server runs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use civitas_kafka::{ConsumedRecord, EmbeddedBroker, KafkaSettings};
use civitas_topics::CrudTopics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Starts an embedded broker with `brokers` brokers on random loopback ports.
pub async fn start_broker(brokers: i32) -> EmbeddedBroker {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("a literal socket address");
    EmbeddedBroker::start(any_port, brokers)
        .await
        .expect("the embedded broker starts")
}

/// Client settings for `broker`.
pub fn settings(broker: &EmbeddedBroker) -> KafkaSettings {
    broker.settings()
}

/// The CRUD topics under a unique prefix (`crud-<random>`), so tests never share topics.
pub fn crud_topics() -> CrudTopics {
    CrudTopics::with_prefix(&unique_name("crud")).expect("crud-<hex> is a valid CRUD prefix")
}

/// `prefix-<random>`: unique topic, group and prefix names per test.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Reads `topic` from the beginning with a plain rdkafka consumer until `count` records
/// arrived or `timeout` passed; returns what it got.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("test-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .set("log_level", "3")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition offset");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            records.push(ConsumedRecord::from_message(&message));
        }
    }
    records
}

/// A database a per-backend test runs on: a fresh SQLite file (removed when this is dropped)
/// or the test PostgreSQL server that `scripts/test.sh` starts.
#[derive(Debug)]
pub struct TestDatabase {
    /// The database URL to connect to.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh SQLite database in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self {
            url: format!("sqlite://{}/test.db", dir.path().display()),
            backend: "sqlite",
            _dir: Some(dir),
        }
    }

    /// The test PostgreSQL (`CIVITAS_TEST_POSTGRES_URL`, always set by `scripts/test.sh`,
    /// which CI runs); `None`, with a line that says so, when it is not set (a bare
    /// `cargo test`).
    pub fn postgres() -> Option<Self> {
        match civitas_store::test_postgres_url() {
            Some(url) => Some(Self {
                url,
                backend: "postgres",
                _dir: None,
            }),
            None => {
                eprintln!(
                    "skipped on PostgreSQL: CIVITAS_TEST_POSTGRES_URL is not set (scripts/test.sh starts a server)"
                );
                None
            }
        }
    }
}

/// Taken by every PostgreSQL test of [`each_backend!`]: they share one server, and some
/// clear tables they own.
pub static POSTGRES_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One `#[tokio::test]` per backend for each `async fn body(db: &TestDatabase)` named:
/// `on_sqlite::body` and `on_postgres::body` (the PostgreSQL ones one at a time).
///
/// ```ignore
/// async fn a_user_is_created(db: &TestDatabase) { /* … */ }
/// civitas_testkit::each_backend!(a_user_is_created);
/// ```
#[macro_export]
macro_rules! each_backend {
    ($($body:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $body() {
                    let db = $crate::TestDatabase::sqlite();
                    super::$body(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $body() {
                    let Some(db) = $crate::TestDatabase::postgres() else {
                        return;
                    };
                    let _turn = $crate::POSTGRES_TURN.lock().await;
                    super::$body(&db).await;
                }
            )*
        }
    };
}
