//! End to end over the embedded broker: orchestrator and adapters as `civitas up` runs
//! them, a SQLite store, requests published the way the portal does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use civitas_events::saga::{DatasetApi, DatasetCreateRequested};
use civitas_kafka::{ConsumedRecord, EmbeddedBroker, KafkaSettings, Publisher, Record};
use civitas_saga::adapter::RetryPolicy;
use civitas_saga::adapter::apisix::ApisixConfig;
use civitas_saga::machine::{Saga, StepStatus};
use civitas_saga::request::request_record;
use civitas_saga::service::{self, Component, Running, SagaConfig};
use civitas_saga::{OrchestratorConfig, SagaStatus, SagaStore};
use civitas_testkit::unique_name;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PARTITIONS: i32 = 3;
const PATIENCE: Duration = Duration::from_secs(30);

struct Harness {
    broker: EmbeddedBroker,
    settings: KafkaSettings,
    config: SagaConfig,
    store: SagaStore,
    _dir: tempfile::TempDir,
    running: Option<Running>,
    requester: Publisher,
}

fn config(step_timeout: Duration) -> SagaConfig {
    let mut config = SagaConfig {
        step_timeout,
        orchestrator: OrchestratorConfig {
            timer_interval: Duration::from_millis(50),
            ..OrchestratorConfig::default()
        },
        ..SagaConfig::default()
    };
    let fast = RetryPolicy {
        attempts: 3,
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    config.frost.retry = fast.clone();
    config.apisix.retry = fast;
    config
}

impl Harness {
    async fn start(config: SagaConfig, components: &[Component]) -> Self {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let broker = EmbeddedBroker::start(any, 1).await.unwrap();
        for topic in config.topics.all() {
            broker.create_topic(topic, PARTITIONS).unwrap();
        }
        let settings = broker.settings();
        let dir = tempfile::tempdir().unwrap();
        let store = SagaStore::connect(&format!("sqlite://{}/saga.db", dir.path().display()))
            .await
            .unwrap();
        let running = service::start(&settings, &config, Some(store.clone()), components)
            .await
            .unwrap();
        let requester = Publisher::connect(&settings).unwrap();
        Self {
            broker,
            settings,
            config,
            store,
            _dir: dir,
            running: Some(running),
            requester,
        }
    }

    async fn restart(&mut self, components: &[Component]) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(5)).await.unwrap();
        }
        self.running = Some(
            service::start(
                &self.settings,
                &self.config,
                Some(self.store.clone()),
                components,
            )
            .await
            .unwrap(),
        );
    }

    fn request(&self, dataset_id: &str) -> DatasetCreateRequested {
        let request = DatasetCreateRequested {
            message_id: unique_name("req"),
            dataset_id: dataset_id.to_owned(),
            name: "Luftqualitaet".into(),
            description: Some("Luftqualität in der Innenstadt".into()),
            apis: vec![DatasetApi {
                slug: "sensorthings".into(),
                upstream_url: "http://frost:8080/FROST-Server/v1.1".into(),
            }],
            requested_by: None,
        };
        self.requester.send(
            request_record(
                &self.config.topics,
                &request,
                "/test/portal",
                &request.message_id,
            )
            .unwrap(),
        );
        request
    }

    async fn read(&self, topic: &str, count: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let bootstrap = self.broker.bootstrap_servers().to_owned();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            civitas_testkit::read_topic(&bootstrap, &topic, PARTITIONS, count, timeout)
        })
        .await
        .unwrap()
    }

    async fn wait_for(&self, dataset_id: &str, what: &str, done: impl Fn(&Saga) -> bool) -> Saga {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let saga = self
                .store
                .find_by_dataset("dataset-create", dataset_id)
                .await
                .unwrap();
            match saga {
                Some(saga) if done(&saga) => return saga,
                other if Instant::now() > deadline => {
                    panic!("{what}: not reached in {PATIENCE:?}; saga: {other:#?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(5)).await.unwrap();
        }
    }
}

fn finished(saga: &Saga) -> bool {
    saga.status.is_terminal()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_dataset_is_provisioned_and_announced_on_completed() {
    let harness = Harness::start(config(Duration::from_secs(30)), &Component::ALL).await;
    let request = harness.request("ds-1");
    let saga = harness.wait_for("ds-1", "completion", finished).await;
    assert_eq!(saga.status, SagaStatus::Completed);
    assert!(
        saga.steps.iter().all(|s| s.status == StepStatus::Succeeded),
        "{saga:#?}"
    );

    let completed = harness
        .read(&harness.config.topics.completed, 1, PATIENCE)
        .await;
    assert_eq!(completed.len(), 1);
    let record = &completed[0];
    assert_eq!(record.value["datasetId"], "ds-1");
    assert_eq!(record.value["sagaId"], saga.saga_id.as_str());
    assert_eq!(record.value["requestId"], request.message_id.as_str());
    assert_eq!(record.value["frostProjectId"], "dryrun-ds-1");
    assert_eq!(record.value["routeIds"][0], "ds-1-sensorthings");
    assert_eq!(
        record.value["publicUrls"][0],
        "http://localhost:9080/v1/datasets/ds-1/sensorthings"
    );
    assert_eq!(record.key.as_deref(), Some("ds-1"));
    assert_eq!(
        record.header("ce_type"),
        Some("core.civitas.dataset.create.completed")
    );
    assert_eq!(
        record.header("ce_source"),
        Some("/civitas/saga-orchestrator")
    );
    assert_eq!(
        record.header("ce_correlationid"),
        Some(request.message_id.as_str())
    );

    // Every hop carried the saga's correlation id.
    for topic in [
        &harness.config.topics.frost_project_create,
        &harness.config.topics.frost_project_result,
        &harness.config.topics.apisix_route_create,
        &harness.config.topics.apisix_route_result,
    ] {
        let records = harness.read(topic, 1, PATIENCE).await;
        assert_eq!(records.len(), 1, "{topic}");
        assert_eq!(
            records[0].header("ce_correlationid"),
            Some(request.message_id.as_str()),
            "{topic}"
        );
    }
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apisix_500_compensates_the_frost_project_and_announces_failed() {
    let apisix = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&apisix)
        .await;
    let mut config = config(Duration::from_secs(30));
    config.apisix = ApisixConfig {
        admin_url: Some(apisix.uri()),
        retry: config.apisix.retry,
        ..ApisixConfig::default()
    };
    let harness = Harness::start(config, &Component::ALL).await;
    harness.request("ds-2");
    let saga = harness.wait_for("ds-2", "compensation", finished).await;
    assert_eq!(saga.status, SagaStatus::Compensated, "{saga:#?}");

    let deletes = harness
        .read(&harness.config.topics.frost_project_delete, 1, PATIENCE)
        .await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].value["projectId"], "dryrun-ds-2");
    let failed = harness
        .read(&harness.config.topics.failed, 1, PATIENCE)
        .await;
    let value = &failed[0].value;
    assert_eq!(value["status"], "COMPENSATED");
    assert_eq!(value["failedStep"], "apisix-route");
    assert_eq!(value["error"]["code"], 2002, "SERVICE_UNAVAILABLE");
    assert_eq!(value["cleanedResources"][0]["id"], "dryrun-ds-2");
    assert_eq!(value["staleResources"], serde_json::json!([]));
    assert!(
        harness
            .read(
                &harness.config.topics.completed,
                1,
                Duration::from_millis(300)
            )
            .await
            .is_empty()
    );
    assert_eq!(
        apisix.received_requests().await.unwrap().len(),
        3,
        "three tries of the upstream PUT"
    );
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_without_an_answer_times_out_and_is_compensated() {
    // No APISIX adapter runs: its step never gets an answer.
    let harness = Harness::start(
        config(Duration::from_secs(2)),
        &[Component::Orchestrator, Component::FrostAdapter],
    )
    .await;
    harness.request("ds-3");
    let saga = harness
        .wait_for("ds-3", "timeout and compensation", finished)
        .await;
    assert_eq!(saga.status, SagaStatus::Compensated, "{saga:#?}");
    let apisix = saga
        .steps
        .iter()
        .find(|s| s.step_id == "apisix-route")
        .unwrap();
    assert_eq!(apisix.status, StepStatus::TimedOut);
    let failed = harness
        .read(&harness.config.topics.failed, 1, PATIENCE)
        .await;
    assert_eq!(failed[0].value["error"]["code"], 4001, "STEP_TIMEOUT");
    assert_eq!(failed[0].value["failedStep"], "apisix-route");
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_request_starts_no_second_saga() {
    let harness = Harness::start(config(Duration::from_secs(30)), &Component::ALL).await;
    harness.request("ds-4");
    harness.request("ds-4");
    let saga = harness.wait_for("ds-4", "completion", finished).await;
    assert_eq!(saga.status, SagaStatus::Completed);
    // Wait until the second request was handled too.
    harness
        .wait_for("ds-4", "the duplicate", |s| {
            s.timeline
                .iter()
                .any(|e| e.event == "duplicate request ignored")
        })
        .await;
    let creates = harness
        .read(
            &harness.config.topics.frost_project_create,
            2,
            Duration::from_secs(2),
        )
        .await;
    assert_eq!(creates.len(), 1, "one FROST command only");
    let listed = harness.store.list(None, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saga_resumes_after_a_restart_with_the_same_store_and_broker() {
    // First life: the APISIX adapter is not running, so the saga stops mid-way.
    let mut harness = Harness::start(
        config(Duration::from_secs(60)),
        &[Component::Orchestrator, Component::FrostAdapter],
    )
    .await;
    harness.request("ds-5");
    harness
        .wait_for("ds-5", "the APISIX step dispatched", |s| {
            s.steps[1].status == StepStatus::Dispatched
        })
        .await;
    // Second life: everything, same store, same broker.
    harness.restart(&Component::ALL).await;
    let saga = harness
        .wait_for("ds-5", "completion after restart", finished)
        .await;
    assert_eq!(saga.status, SagaStatus::Completed, "{saga:#?}");
    assert_eq!(
        saga.steps[1].dispatch.as_ref().unwrap().dispatches,
        2,
        "re-dispatched on resume"
    );
    assert!(
        saga.timeline
            .iter()
            .any(|e| e.event == "re-dispatched on resume")
    );
    let completed = harness
        .read(&harness.config.topics.completed, 2, Duration::from_secs(3))
        .await;
    assert_eq!(
        completed.len(),
        1,
        "one completion although the command went out twice"
    );
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_command_goes_to_the_dead_letter_topic_once() {
    let harness = Harness::start(config(Duration::from_secs(30)), &Component::ALL).await;
    harness.requester.send(Record::new(
        harness.config.topics.frost_project_create.clone(),
        Some("ds-6".into()),
        [],
        b"{\"this\": \"is not a command\"}".to_vec(),
    ));
    let letters = harness
        .read(
            &harness.config.topics.frost_deadletter,
            2,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].value["component"], "frost-adapter");
    assert!(
        letters[0].value["reason"]
            .as_str()
            .unwrap()
            .contains("not a frost.project.create command")
    );
    assert_eq!(
        letters[0].value["payload"],
        "{\"this\": \"is not a command\"}"
    );
    let results = harness
        .read(
            &harness.config.topics.frost_project_result,
            1,
            Duration::from_millis(500),
        )
        .await;
    assert!(results.is_empty());
    harness.shutdown().await;
}
