//! The store and the orchestrator's driver against a real database: every test body runs
//! on SQLite and, when `CIVITAS_TEST_POSTGRES_URL` is set, on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use civitas_events::saga::{DatasetApi, DatasetCreateRequested, DeadLetter};
use civitas_kafka::Record;
use civitas_saga::clock::Clock;
use civitas_saga::io::{Received, Recorder};
use civitas_saga::machine::{self, Input};
use civitas_saga::store::Applied;
use civitas_saga::{
    Orchestrator, OrchestratorConfig, Outcome, SagaDefinition, SagaStatus, SagaStore,
};
use civitas_testkit::{TestDatabase, unique_name};
use civitas_topics::SagaTopics;

/// The store on `db`.
async fn connect(db: &TestDatabase) -> SagaStore {
    SagaStore::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("the saga store opens on {}: {e}", db.backend))
}

// One at a time on PostgreSQL: the tests share the database, and a test that moves its
// clock and ticks expires every saga in it, other tests' too.
civitas_testkit::each_backend!(
    a_new_saga_is_stored_and_found_by_id_prefix_and_dataset,
    a_second_saga_for_the_same_dataset_is_refused,
    a_write_over_a_stale_version_is_a_conflict,
    a_message_id_is_stored_once,
    expired_deadlines_are_found_and_finished_sagas_are_not_unfinished,
    the_orchestrator_persists_before_dispatching_and_resumes_after_a_crash,
    the_timer_fails_a_step_whose_deadline_passed,
    a_redelivered_request_is_a_duplicate_and_a_second_request_starts_nothing,
    unreadable_and_invalid_requests_go_to_the_dead_letter_topic,
    a_message_with_a_nul_character_is_dead_lettered_not_retried,
    a_message_id_over_its_limit_is_dead_lettered_with_1001_and_the_next_saga_runs,
    a_batch_is_applied_in_one_go_and_a_redelivered_batch_changes_nothing,
    two_orchestrators_on_one_store_never_lose_a_result,
);

fn definition() -> SagaDefinition {
    SagaDefinition::dataset_create(&SagaTopics::default(), Duration::from_secs(30))
}

fn request(dataset_id: &str) -> DatasetCreateRequested {
    DatasetCreateRequested {
        message_id: unique_name("req"),
        dataset_id: dataset_id.to_owned(),
        name: "Luftqualitaet".into(),
        description: None,
        apis: vec![DatasetApi {
            slug: "sensorthings".into(),
            upstream_url: "http://frost:8080/v1.1".into(),
        }],
        requested_by: None,
    }
}

fn new_saga(dataset_id: &str) -> machine::Saga {
    let input = Input::Requested {
        saga_id: unique_name("saga"),
        request: request(dataset_id),
        correlation_id: None,
        traceparent: None,
    };
    machine::handle(&definition(), None, input, chrono::Utc::now())
        .0
        .unwrap()
}

async fn a_new_saga_is_stored_and_found_by_id_prefix_and_dataset(db: &TestDatabase) {
    let store = connect(db).await;
    let saga = new_saga(&unique_name("ds"));
    assert_eq!(
        store.apply(None, &saga, None).await.unwrap(),
        Applied::Stored
    );
    assert_eq!(
        store.load(&saga.saga_id).await.unwrap().as_ref(),
        Some(&saga)
    );
    let by_dataset = store
        .find_by_dataset("dataset-create", &saga.dataset_id)
        .await
        .unwrap();
    assert_eq!(by_dataset.as_ref(), Some(&saga));
    let by_prefix = store
        .find(&saga.saga_id[..saga.saga_id.len() - 4])
        .await
        .unwrap();
    assert_eq!(by_prefix.map(|s| s.saga_id), Some(saga.saga_id.clone()));
    assert_eq!(
        store
            .find(&saga.dataset_id)
            .await
            .unwrap()
            .map(|s| s.saga_id),
        Some(saga.saga_id)
    );
}

async fn a_second_saga_for_the_same_dataset_is_refused(db: &TestDatabase) {
    let store = connect(db).await;
    let dataset = unique_name("ds");
    let first = new_saga(&dataset);
    let second = new_saga(&dataset);
    assert_eq!(
        store.apply(None, &first, None).await.unwrap(),
        Applied::Stored
    );
    assert_eq!(
        store.apply(None, &second, None).await.unwrap(),
        Applied::Conflict
    );
    assert_eq!(store.load(&second.saga_id).await.unwrap(), None);
}

async fn a_write_over_a_stale_version_is_a_conflict(db: &TestDatabase) {
    let store = connect(db).await;
    let mut saga = new_saga(&unique_name("ds"));
    store.apply(None, &saga, None).await.unwrap();
    saga.version += 1;
    assert_eq!(
        store.apply(Some(1), &saga, None).await.unwrap(),
        Applied::Stored
    );
    saga.version += 1;
    assert_eq!(
        store.apply(Some(1), &saga, None).await.unwrap(),
        Applied::Conflict
    );
}

async fn a_message_id_is_stored_once(db: &TestDatabase) {
    let store = connect(db).await;
    let message_id = unique_name("msg");
    let saga = new_saga(&unique_name("ds"));
    store.apply(None, &saga, Some(&message_id)).await.unwrap();
    assert!(store.is_processed(&message_id).await.unwrap());
    let mut next = saga.clone();
    next.version += 1;
    assert_eq!(
        store
            .apply(Some(saga.version), &next, Some(&message_id))
            .await
            .unwrap(),
        Applied::DuplicateMessage
    );
    assert_eq!(
        store.load(&saga.saga_id).await.unwrap().unwrap().version,
        saga.version
    );
}

async fn expired_deadlines_are_found_and_finished_sagas_are_not_unfinished(db: &TestDatabase) {
    let store = connect(db).await;
    let saga = new_saga(&unique_name("ds"));
    store.apply(None, &saga, None).await.unwrap();
    let deadline = saga.next_deadline().unwrap();
    let before: Vec<String> = store
        .expired(deadline - chrono::Duration::milliseconds(1), 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert!(!before.contains(&saga.saga_id));
    let at: Vec<String> = store
        .expired(deadline, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert!(at.contains(&saga.saga_id));
    let unfinished: Vec<String> = store
        .unfinished()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert!(unfinished.contains(&saga.saga_id));

    let mut done = saga.clone();
    done.status = SagaStatus::Completed;
    done.steps
        .iter_mut()
        .filter_map(|s| s.dispatch.as_mut())
        .for_each(|d| d.deadline = None);
    done.version += 1;
    store.apply(Some(saga.version), &done, None).await.unwrap();
    let unfinished: Vec<String> = store
        .unfinished()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert!(!unfinished.contains(&saga.saga_id));
    let recent: Vec<String> = store
        .finished_since(done.updated_at)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.saga_id)
        .collect();
    assert!(recent.contains(&saga.saga_id));
    let listed = store
        .list(Some(SagaStatus::Completed), 10_000)
        .await
        .unwrap();
    assert!(listed.iter().any(|s| s.saga_id == saga.saga_id));
}

fn orchestrator(store: &SagaStore, clock: &Clock) -> (Orchestrator, Arc<Recorder>) {
    orchestrator_with(store, clock, definition())
}

/// The PostgreSQL tests share one database, and an orchestrator times out every saga whose
/// deadline its clock has passed — also another test's (the timeout test moves its clock 31 s
/// on). A test that must not see its steps time out gives them an hour.
fn patient_definition() -> SagaDefinition {
    SagaDefinition::dataset_create(&SagaTopics::default(), Duration::from_secs(3600))
}

fn orchestrator_with(
    store: &SagaStore,
    clock: &Clock,
    definition: SagaDefinition,
) -> (Orchestrator, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let orchestrator = Orchestrator::new(
        definition,
        store.clone(),
        recorder.clone(),
        clock.clone(),
        OrchestratorConfig::default(),
    );
    (orchestrator, recorder)
}

fn topics_of(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.topic.as_str()).collect()
}

fn requested(request: DatasetCreateRequested) -> Input {
    Input::Requested {
        saga_id: unique_name("saga"),
        request,
        correlation_id: Some("corr".into()),
        traceparent: None,
    }
}

async fn the_orchestrator_persists_before_dispatching_and_resumes_after_a_crash(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (first, sent) = orchestrator_with(&store, &clock, patient_definition());
    let dataset = unique_name("ds");
    let Outcome::Changed(saga) = first
        .apply(requested(request(&dataset)), None)
        .await
        .unwrap()
    else {
        panic!("a new saga")
    };
    let dispatched = sent.take();
    assert_eq!(
        topics_of(&dispatched),
        ["core.civitas.frost.project.create"]
    );
    assert_eq!(dispatched[0].key.as_deref(), Some(dataset.as_str()));
    let header = |name: &str| dispatched[0].header(name).map(str::to_owned);
    assert_eq!(
        header("ce_id").as_deref(),
        Some(format!("{}:frost-project:create", saga.saga_id).as_str())
    );
    assert_eq!(
        header("ce_type").as_deref(),
        Some("core.civitas.frost.project.create")
    );
    assert_eq!(header("ce_correlationid").as_deref(), Some("corr"));
    let stored = store.load(&saga.saga_id).await.unwrap().unwrap();
    assert_eq!(stored.status, SagaStatus::Executing);

    // The process dies here; whether the record left or not, a new one re-sends it.
    drop(first);
    let (second, resent) = orchestrator_with(&store, &clock, patient_definition());
    assert!(second.resume().await.unwrap() >= 1);
    let again: Vec<Record> = resent
        .take()
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(dataset.as_str()))
        .collect();
    assert_eq!(topics_of(&again), ["core.civitas.frost.project.create"]);
    assert_eq!(again[0].payload, dispatched[0].payload);
    assert_eq!(
        store.load(&saga.saga_id).await.unwrap().unwrap().steps[0]
            .dispatch
            .as_ref()
            .unwrap()
            .dispatches,
        2
    );
}

async fn the_timer_fails_a_step_whose_deadline_passed(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let dataset = unique_name("ds");
    let Outcome::Changed(saga) = orchestrator
        .apply(requested(request(&dataset)), None)
        .await
        .unwrap()
    else {
        panic!("a new saga")
    };
    sent.take();
    clock.advance(Duration::from_secs(29));
    orchestrator.tick().await.unwrap();
    assert_eq!(
        store.load(&saga.saga_id).await.unwrap().unwrap().status,
        SagaStatus::Executing
    );
    clock.advance(Duration::from_secs(2));
    orchestrator.tick().await.unwrap();
    let saga = store.load(&saga.saga_id).await.unwrap().unwrap();
    assert_eq!(saga.status, SagaStatus::Failed);
    let failed: Vec<Record> = sent
        .take()
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(dataset.as_str()))
        .collect();
    assert_eq!(topics_of(&failed), ["core.civitas.dataset.create.failed"]);
    let value: serde_json::Value = serde_json::from_slice(&failed[0].payload).unwrap();
    assert_eq!(value["error"]["code"], 4001, "STEP_TIMEOUT");
    assert_eq!(value["status"], "FAILED");
}

fn record(topic: &str, key: &str, payload: Vec<u8>) -> Received {
    Received {
        topic: topic.into(),
        partition: 0,
        offset: 7,
        key: Some(key.into()),
        headers: vec![],
        payload,
    }
}

async fn a_redelivered_request_is_a_duplicate_and_a_second_request_starts_nothing(
    db: &TestDatabase,
) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let dataset = unique_name("ds");
    let first = request(&dataset);
    let topic = "core.civitas.dataset.create.requested";
    orchestrator
        .on_record(&record(
            topic,
            &dataset,
            serde_json::to_vec(&first).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(sent.take().len(), 1);
    // Redelivery of the same message.
    let outcome = orchestrator
        .apply(requested(first.clone()), Some(&first.message_id))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Duplicate | Outcome::Unchanged),
        "{outcome:?}"
    );
    // A second request for the dataset.
    let second = request(&dataset);
    orchestrator
        .on_record(&record(
            topic,
            &dataset,
            serde_json::to_vec(&second).unwrap(),
        ))
        .await
        .unwrap();
    assert!(sent.take().is_empty());
    let saga = store
        .find_by_dataset("dataset-create", &dataset)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saga.request_id, first.message_id);
    assert_eq!(
        saga.timeline.last().unwrap().event,
        "duplicate request ignored"
    );
}

async fn unreadable_and_invalid_requests_go_to_the_dead_letter_topic(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let topic = "core.civitas.dataset.create.requested";
    orchestrator
        .on_record(&record(topic, "k", b"not json".to_vec()))
        .await
        .unwrap();
    let mut invalid = request("ds-x");
    invalid.name = String::new();
    orchestrator
        .on_record(&record(topic, "k", serde_json::to_vec(&invalid).unwrap()))
        .await
        .unwrap();
    let letters = sent.take();
    assert_eq!(
        topics_of(&letters),
        ["core.civitas.dataset.create.deadletter"; 2]
    );
    let first: DeadLetter = serde_json::from_slice(&letters[0].payload).unwrap();
    assert!(
        first
            .reason
            .starts_with("not a dataset.create.requested message"),
        "{}",
        first.reason
    );
    assert_eq!(
        (first.topic.as_str(), first.offset, first.payload.as_str()),
        (topic, 7, "not json")
    );
    let second: DeadLetter = serde_json::from_slice(&letters[1].payload).unwrap();
    assert!(
        second.reason.contains("name must not be empty"),
        "{}",
        second.reason
    );
    assert!(
        store
            .find_by_dataset("dataset-create", "ds-x")
            .await
            .unwrap()
            .is_none()
    );
}

/// PostgreSQL's text columns cannot hold NUL: such a message failed its transaction on every
/// retry and held up the partition behind it.
async fn a_message_with_a_nul_character_is_dead_lettered_not_retried(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let topic = "core.civitas.dataset.create.requested";
    let mut request = request(&unique_name("ds"));
    request.message_id = format!("{}\u{0}", request.message_id);
    request.name = "Luft\u{0}qualitaet".to_owned();
    orchestrator
        .on_record(&record(topic, "k", serde_json::to_vec(&request).unwrap()))
        .await
        .expect("a dead letter, not a failure to retry");
    let letters = sent.take();
    assert_eq!(
        topics_of(&letters),
        ["core.civitas.dataset.create.deadletter"]
    );
    let letter: DeadLetter = serde_json::from_slice(&letters[0].payload).unwrap();
    assert!(letter.reason.contains("NUL character"), "{}", letter.reason);
    assert!(
        store
            .find_by_dataset("dataset-create", &request.dataset_id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_batch_is_applied_in_one_go_and_a_redelivered_batch_changes_nothing(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let topic = "core.civitas.dataset.create.requested";
    let (a, b) = (unique_name("ds"), unique_name("ds"));
    let batch = vec![
        record(topic, &a, serde_json::to_vec(&request(&a)).unwrap()),
        record(topic, &b, serde_json::to_vec(&request(&b)).unwrap()),
        record(topic, &a, serde_json::to_vec(&request(&a)).unwrap()),
        record(topic, "x", b"garbage".to_vec()),
    ];
    orchestrator.on_batch(batch.clone()).await.unwrap();
    let out = sent.take();
    let mut topics = topics_of(&out);
    topics.sort();
    assert_eq!(
        topics,
        [
            "core.civitas.dataset.create.deadletter",
            "core.civitas.frost.project.create",
            "core.civitas.frost.project.create",
        ]
    );
    let saga_a = store
        .find_by_dataset("dataset-create", &a)
        .await
        .unwrap()
        .unwrap();
    assert!(
        saga_a
            .timeline
            .iter()
            .any(|e| e.event == "duplicate request ignored")
    );
    assert!(
        store
            .find_by_dataset("dataset-create", &b)
            .await
            .unwrap()
            .is_some()
    );

    // The same records again (a redelivery after a crash): nothing new is dispatched.
    orchestrator.on_batch(batch).await.unwrap();
    let again = sent.take();
    assert!(
        again
            .iter()
            .all(|r| r.topic == "core.civitas.dataset.create.deadletter"),
        "{:?}",
        topics_of(&again)
    );
    assert_eq!(
        store.load(&saga_a.saga_id).await.unwrap().unwrap().version,
        saga_a.version
    );
}

fn step_result(
    saga: &civitas_saga::Saga,
    step: usize,
    resources: Vec<civitas_events::saga::Resource>,
) -> Vec<u8> {
    let state = &saga.steps[step];
    serde_json::to_vec(&civitas_events::saga::StepResult {
        message_id: unique_name("res"),
        saga_id: saga.saga_id.clone(),
        step_id: state.step_id.clone(),
        command_id: state.dispatch.as_ref().unwrap().command_id.clone(),
        operation: civitas_events::saga::StepOperation::Create,
        status: civitas_events::saga::ResultStatus::Success,
        resource_id: None,
        resources,
        error: None,
        attempts: 1,
        dry_run: false,
    })
    .unwrap()
}

/// Instance A remembers the saga it started; instance B moves it on; A's memory is stale
/// when the next result reaches A, and the result must still take effect.
async fn two_orchestrators_on_one_store_never_lose_a_result(db: &TestDatabase) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (a, _) = orchestrator(&store, &clock);
    let (b, _) = orchestrator(&store, &clock);
    let garbage = || {
        record(
            "core.civitas.dataset.create.requested",
            "x",
            b"garbage".to_vec(),
        )
    };
    let dataset = unique_name("ds");
    let request = record(
        "core.civitas.dataset.create.requested",
        &dataset,
        serde_json::to_vec(&request(&dataset)).unwrap(),
    );
    a.on_batch(vec![request, garbage()]).await.unwrap();
    let saga = store
        .find_by_dataset("dataset-create", &dataset)
        .await
        .unwrap()
        .unwrap();

    let frost = record(
        "core.civitas.frost.project.result",
        &dataset,
        step_result(&saga, 0, vec![]),
    );
    b.on_batch(vec![frost, garbage()]).await.unwrap();
    let saga = store.load(&saga.saga_id).await.unwrap().unwrap();
    assert_eq!(saga.steps[1].status, civitas_saga::StepStatus::Dispatched);

    let apisix = record(
        "core.civitas.apisix.route.result",
        &dataset,
        step_result(&saga, 1, vec![]),
    );
    a.on_batch(vec![apisix, garbage()]).await.unwrap();
    let saga = store.load(&saga.saga_id).await.unwrap().unwrap();
    assert_eq!(saga.status, SagaStatus::Completed, "{:#?}", saga.timeline);
}

/// On PostgreSQL a 4 000-character message id failed its transaction on every retry (btree
/// entry limit), and the one loop of all partitions stopped every saga behind it.
async fn a_message_id_over_its_limit_is_dead_lettered_with_1001_and_the_next_saga_runs(
    db: &TestDatabase,
) {
    let store = connect(db).await;
    let clock = Clock::new();
    let (orchestrator, sent) = orchestrator(&store, &clock);
    let topic = "core.civitas.dataset.create.requested";
    let mut poison = request(&unique_name("ds"));
    poison.message_id = "m".repeat(4_000);
    let good = request(&unique_name("ds"));
    orchestrator
        .on_batch(vec![
            record(topic, "k1", serde_json::to_vec(&poison).unwrap()),
            record(topic, "k2", serde_json::to_vec(&good).unwrap()),
        ])
        .await
        .expect("a dead letter and a saga, not a failure to retry");
    let letters = sent.take();
    let dead: Vec<&Record> = letters
        .iter()
        .filter(|r| r.topic == "core.civitas.dataset.create.deadletter")
        .collect();
    assert_eq!(dead.len(), 1, "{:?}", topics_of(&letters));
    let letter: DeadLetter = serde_json::from_slice(&dead[0].payload).unwrap();
    assert!(
        letter.reason.starts_with("INVALID_PAYLOAD(1001)"),
        "{}",
        letter.reason
    );
    assert!(letter.reason.contains("messageId"), "{}", letter.reason);
    assert!(
        store
            .find_by_dataset("dataset-create", &good.dataset_id)
            .await
            .unwrap()
            .is_some(),
        "the next request became a saga"
    );
}
