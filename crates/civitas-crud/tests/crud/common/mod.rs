//! Helpers shared by the black-box tests: the app on port 0 with its own embedded broker,
//! topics and SQLite database; requests; reading the events back.
#![allow(dead_code)]

pub mod issuer;
pub mod openapi_check;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use civitas_command::config::{Catalog, parse_system};
use civitas_command::credentials::{CredentialError, CredentialRef, CredentialResolver, Resolved};
use civitas_command::events::Events;
use civitas_crud::{App, CrudSettings, Running};
use civitas_kafka::{ConsumedRecord, EmbeddedBroker, KafkaSettings, Publisher};
use civitas_topics::CrudTopics;
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;

pub const ANY_PORT: &str = "127.0.0.1:0";

/// One app with its broker and database.
pub struct TestApp {
    pub running: Running,
    pub broker: EmbeddedBroker,
    pub kafka: KafkaSettings,
    pub publisher: Publisher,
    pub topics: CrudTopics,
    pub client: reqwest::Client,
    _dir: TempDir,
}

/// A response, read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// An app whose settings `configure` may change (systems dir, service name, …).
    pub async fn spawn_with(configure: impl FnOnce(&mut CrudSettings)) -> Self {
        Self::spawn_with_kafka_options(&[], configure).await
    }

    /// Like [`spawn_with`](Self::spawn_with), with librdkafka options for the publisher
    /// (as `--kafka-option` gives them).
    pub async fn spawn_with_kafka_options(
        options: &[(&str, &str)],
        configure: impl FnOnce(&mut CrudSettings),
    ) -> Self {
        let broker = civitas_testkit::start_broker(1).await;
        let kafka = civitas_testkit::settings(&broker).with_client_options(options.iter().copied());
        let topics = civitas_testkit::crud_topics();
        for topic in topics.all() {
            broker.create_topic(topic, 1).expect("topic created");
        }
        let publisher = Publisher::connect(&kafka).expect("publisher");
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = topics
            .operations
            .strip_suffix(".operations")
            .expect("crud topics end in .operations");
        let mut settings = CrudSettings {
            database_url: format!("sqlite://{}/crud.db", dir.path().display()),
            topics: topics.clone(),
            console: Some(civitas_console::ConsoleSettings {
                kafka: kafka.clone(),
                naming: civitas_topics::NamingContext::new()
                    .with_crud_prefix(prefix)
                    .expect("a test prefix is a valid crud prefix"),
                sagas: None,
                sign_in: None,
            }),
            ..CrudSettings::default()
        };
        configure(&mut settings);
        let app = App::build(&settings, Some(publisher.clone().into()))
            .await
            .expect("the app builds");
        let running = Running::start(app, ANY_PORT.parse().unwrap())
            .await
            .expect("the app listens");
        Self {
            running,
            broker,
            kafka,
            publisher,
            topics,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The same broker, topics and database behind another running app (a restarted
    /// instance); the old one stops.
    pub async fn serving(mut self, running: Running) -> Self {
        let old = std::mem::replace(&mut self.running, running);
        let _ = old.stop_within(Duration::from_secs(5)).await;
        self
    }

    pub async fn execute(&self, body: Value) -> TestResponse {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.post(&bytes, &[("content-type", "application/json")])
            .await
    }

    pub async fn post(&self, body: &[u8], headers: &[(&str, &str)]) -> TestResponse {
        let mut request = self
            .client
            .post(format!("{}/execute", self.running.url()))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(
            "post",
            request.send().await.expect("the request is answered"),
        )
        .await
    }

    /// `GET path`, read.
    pub async fn get(&self, path: &str) -> TestResponse {
        let request = self.client.get(format!("{}{path}", self.running.url()));
        read(
            "get",
            request.send().await.expect("the request is answered"),
        )
        .await
    }

    /// The first `count` records of `<prefix>.operations`.
    pub async fn operations(&self, count: usize) -> Vec<ConsumedRecord> {
        self.read(
            self.topics.operations.clone(),
            count,
            Duration::from_secs(15),
        )
        .await
    }

    /// The first `count` records of `<prefix>.errors`.
    pub async fn errors(&self, count: usize) -> Vec<ConsumedRecord> {
        self.read(self.topics.errors.clone(), count, Duration::from_secs(15))
            .await
    }

    /// How many records `topic` holds, waiting `wait` for more than `expected` to show up.
    pub async fn count(&self, topic: &str, expected: usize, wait: Duration) -> usize {
        self.read(topic.to_owned(), expected + 1, wait).await.len()
    }

    /// Up to `count` records of `topic`, waiting at most `wait`.
    pub async fn read_more(
        &self,
        topic: &str,
        count: usize,
        wait: Duration,
    ) -> Vec<ConsumedRecord> {
        self.read(topic.to_owned(), count, wait).await
    }

    async fn read(&self, topic: String, count: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let bootstrap = self.kafka.bootstrap_servers.clone();
        tokio::task::spawn_blocking(move || {
            civitas_testkit::read_topic(&bootstrap, &topic, 1, count, timeout)
        })
        .await
        .unwrap()
    }
}

/// Reads a response to `method` (`get`, `post`); an error response must be documented.
pub async fn read(method: &str, response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let path = response.url().path().to_owned();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if status >= 400 {
        openapi_check::assert_documented(method, &path, status, &body);
    }
    TestResponse {
        status,
        headers,
        body,
    }
}

/// Secrets from a map: tests must not depend on process-wide environment variables.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver(pub BTreeMap<String, String>);

impl StaticResolver {
    pub fn with(pointer: &str, secret: &str) -> Self {
        let mut map = BTreeMap::new();
        map.insert(pointer.to_owned(), secret.to_owned());
        Self(map)
    }
}

impl CredentialResolver for StaticResolver {
    fn resolve<'a>(
        &'a self,
        pointer: &'a CredentialRef,
    ) -> BoxFuture<'a, Result<Resolved, CredentialError>> {
        Box::pin(async move {
            self.0
                .get(&pointer.to_string())
                .map(|s| Resolved {
                    value: SecretString::from(s.clone()),
                    cached: false,
                })
                .ok_or(CredentialError::EnvNotSet {
                    pointer: pointer.to_string(),
                })
        })
    }
}

/// An app without broker or database whose only system is `system_yaml` (an http system),
/// for router-level tests with `oneshot`.
pub fn http_app(system_yaml: &str, resolver: StaticResolver) -> App {
    let mut catalog = Catalog::builtin().expect("shipped types load");
    let system = parse_system("test.yaml", system_yaml).expect("the test system parses");
    catalog
        .add_system("test.yaml", system)
        .expect("the test system fits its type");
    let settings = CrudSettings {
        local_directory: false,
        ..CrudSettings::default()
    };
    App::from_parts(
        &settings,
        &catalog,
        None,
        Events::Disabled,
        Arc::new(resolver),
    )
    .expect("the app builds")
}

/// An app with the built-in directory on a fresh SQLite database and no broker.
pub async fn directory_app() -> (App, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = CrudSettings {
        database_url: format!("sqlite://{}/crud.db", dir.path().display()),
        ..CrudSettings::default()
    };
    let app = App::build(&settings, None).await.expect("the app builds");
    (app, dir)
}

/// Runs one request through the router without a socket.
pub async fn oneshot(app: &App, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            axum::body::Body::from(serde_json::to_vec(&json).unwrap())
        }
        None => axum::body::Body::empty(),
    };
    let response = app
        .router()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if status >= 400 {
        let path = uri.split('?').next().unwrap_or(uri);
        openapi_check::assert_documented(&method.to_ascii_lowercase(), path, status, &body);
    }
    (status, body)
}

/// A systems directory holding one file.
pub fn systems_dir(file: &str, yaml: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), yaml).unwrap();
    dir
}

pub fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

pub fn path_of(dir: &TempDir) -> &Path {
    dir.path()
}
