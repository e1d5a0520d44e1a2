//! The workflow engine, black-box: the app on port 0 with its embedded broker and database,
//! workflows from a directory; runs driven through the HTTP API, events read back from Kafka,
//! timers moved with the engine's clock, restarts as a second app on the same database.

use crate::common;

use std::time::Duration;

use civitas_crud::{App, CrudSettings, Running};
use civitas_kafka::ConsumedRecord;
use civitas_testkit::TestDatabase;
use civitas_workflow::engine;
use common::{ANY_PORT, TestApp};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The test's workflows: (file name, YAML).
fn workflows_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

async fn spawn(files: &[(&str, &str)]) -> (TestApp, TempDir) {
    let dir = workflows_dir(files);
    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(|s| s.workflows_dir = Some(path)).await;
    (app, dir)
}

/// `method path` with a JSON body; an error answer must be documented for `template`.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    template: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let url = format!("{}{path}", app.running.url());
    let mut request = match method {
        "post" => app.client.post(url),
        _ => app.client.get(url),
    };
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answered");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        common::openapi_check::assert_documented(method, template, status, &body);
    }
    (status, body)
}

async fn start(app: &TestApp, name: &str, data: Value) -> String {
    let (status, body) = call(
        app,
        "post",
        "/workflow/start",
        "/workflow/start",
        Some(json!({"workflow_name": name, "data": data})),
        &[],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state_version"], 1);
    body["id"].as_str().unwrap().to_owned()
}

async fn run_status(app: &TestApp, id: &str) -> Value {
    let (status, body) = call(
        app,
        "get",
        &format!("/workflow/status/{id}"),
        "/workflow/status/{id}",
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the run until its status is `want` (at most 15 s).
async fn wait_for(app: &TestApp, id: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = run_status(app, id).await;
        if last["status"] == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not become {want}: {last:#}");
}

fn node<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {run:#}"))
}

async fn resume(
    app: &TestApp,
    task: &str,
    decision: &str,
    version: i64,
    key: &str,
) -> (u16, Value) {
    let version_header = version.to_string();
    call(
        app,
        "post",
        &format!("/workflow/resume/{task}"),
        "/workflow/resume/{task_id}",
        Some(json!({"decision": decision, "state_version": version, "idempotency_key": key})),
        &[("if-match", &version_header)],
    )
    .await
}

fn values(records: &[ConsumedRecord]) -> Vec<Value> {
    records.iter().map(|r| r.value.clone()).collect()
}

/// The workflow events of run `id` (waits for `count` of them).
async fn workflow_events(app: &TestApp, id: &str, count: usize) -> Vec<Value> {
    let records = app
        .read_more(&app.topics.workflows, 200, Duration::from_secs(3))
        .await;
    let mine: Vec<Value> = values(&records)
        .into_iter()
        .filter(|e| e["correlation_id"] == id)
        .collect();
    assert!(
        mine.len() >= count,
        "expected {count} events of {id}, got {mine:#?}"
    );
    mine
}

async fn make_groups(app: &TestApp, names: &[&str]) {
    for name in names {
        let response = app
            .execute(json!({"system": "local", "object_type": "group", "action": "create", "params": {"name": name}}))
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }
}

const BRANCHES: &str = r#"
name: branches
inputs:
  type: object
  required: [username]
  properties:
    username: {type: string}
    vip: {type: boolean}
nodes:
  create:
    type: action
    config:
      system: local
      object_type: user
      action: create
      params: {username: "{{ inputs.username }}", enabled: true}
  decide:
    type: set
    depends_on: [create]
    config:
      set:
        is_vip: "inputs.vip | default(false)"
        label: "'user ' ~ nodes.create.result.username"
  vip:
    type: action
    config: {system: local, object_type: group, action: add_member, object_id: vips, params: {username: "{{ inputs.username }}"}}
  regular:
    type: action
    config: {system: local, object_type: group, action: add_member, object_id: regulars, params: {username: "{{ inputs.username }}"}}
  staff:
    type: action
    depends_on: [create]
    config: {system: local, object_type: group, action: add_member, object_id: staff, params: {username: "{{ inputs.username }}"}}
  done:
    type: set
    depends_on: [vip, regular, staff]
    config:
      set: {finished: "true"}
edges:
  - {from: decide, to: vip, condition: "vars.is_vip"}
  - {from: decide, to: regular, condition: "not vars.is_vip"}
"#;

#[tokio::test]
async fn actions_set_nodes_conditions_and_parallel_branches_run_to_completion() {
    let (app, _dir) = spawn(&[("branches.yaml", BRANCHES)]).await;
    make_groups(&app, &["vips", "regulars", "staff"]).await;

    let vip = start(&app, "branches", json!({"username": "ada", "vip": true})).await;
    let regular = start(&app, "branches", json!({"username": "bob"})).await;
    let run = wait_for(&app, &vip, "COMPLETED").await;
    assert_eq!(node(&run, "vip")["status"], "COMPLETED");
    assert_eq!(node(&run, "regular")["status"], "SKIPPED");
    assert_eq!(node(&run, "staff")["status"], "COMPLETED");
    assert_eq!(node(&run, "done")["status"], "COMPLETED");
    assert_eq!(run["vars"]["label"], "user ada");
    assert_eq!(run["vars"]["is_vip"], true);
    let other = wait_for(&app, &regular, "COMPLETED").await;
    assert_eq!(node(&other, "vip")["status"], "SKIPPED");
    assert_eq!(node(&other, "regular")["status"], "COMPLETED");

    // The directory did what the branches said.
    let group = app
        .execute(json!({"system": "local", "object_type": "group", "action": "read", "object_id": "vips", "params": {}}))
        .await;
    assert_eq!(group.body["result"]["members"], json!(["ada"]));

    // Events: started and completed on crud.workflows; each action's operation event
    // carries the run id.
    let events = workflow_events(&app, &vip, 2).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["started", "completed"]);
    assert_eq!(events[1]["data"]["status"], "COMPLETED");
    assert_eq!(events[1]["data"]["workflow_name"], "branches");
    assert_eq!(events[1]["data"]["metadata"]["run_id"], vip.as_str());
    let operations = values(&app.operations(20).await);
    let of_run: Vec<&Value> = operations
        .iter()
        .filter(|o| o["correlation_id"] == vip.as_str())
        .collect();
    assert_eq!(of_run.len(), 3, "create, vip, staff: {of_run:#?}");
    assert!(of_run.iter().all(|o| o["data"]["success"] == true));
}

const APPROVAL: &str = r#"
name: approval
nodes:
  ask:
    type: approval
    config:
      approvers: {subjects: [a, b, c]}
      required: 2
      title: "two of three"
  after:
    type: set
    depends_on: [ask]
    config: {set: {approved: "true"}}
  on_reject:
    type: set
    config: {set: {rejected: "true"}}
edges:
  - {from: ask, to: on_reject, on: rejected}
"#;

#[tokio::test]
async fn an_n_of_m_approval_waits_for_its_approvals_and_a_rejection_follows_its_edge() {
    let (app, _dir) = spawn(&[("approval.yaml", APPROVAL)]).await;
    let id = start(&app, "approval", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    let action = &run["required_action"];
    let task = action["task_id"].as_str().unwrap().to_owned();
    assert_eq!(action["required"], 2);
    assert_eq!(action["open_to_anyone"], true);
    assert_eq!(action["resume"]["url"], format!("/workflow/resume/{task}"));
    let version = run["state_version"].as_i64().unwrap();
    assert_eq!(action["resume"]["headers"]["If-Match"], version.to_string());

    let (status, first) = resume(&app, &task, "approve", version, "k1").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["task"]["approvals"], 1);
    assert_eq!(first["run"]["status"], "WAITING");
    let version = first["run"]["state_version"].as_i64().unwrap();
    let (status, second) = resume(&app, &task, "approve", version, "k2").await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["task"]["status"], "APPROVED");
    let done = wait_for(&app, &id, "COMPLETED").await;
    assert_eq!(node(&done, "after")["status"], "COMPLETED");
    assert_eq!(node(&done, "on_reject")["status"], "SKIPPED");

    // A rejection follows the rejected edge; the run completes.
    let id = start(&app, "approval", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    let task = run["required_action"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = resume(
        &app,
        &task,
        "reject",
        run["state_version"].as_i64().unwrap(),
        "r1",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let done = wait_for(&app, &id, "COMPLETED").await;
    assert_eq!(node(&done, "ask")["status"], "REJECTED");
    assert_eq!(node(&done, "on_reject")["status"], "COMPLETED");
    assert_eq!(node(&done, "after")["status"], "SKIPPED");

    // Events: started, waiting (with the task), completed.
    let events = workflow_events(&app, &id, 3).await;
    let waiting = events
        .iter()
        .find(|e| e["event_type"] == "waiting")
        .expect("a waiting event");
    assert_eq!(waiting["data"]["status"], "WAITING");
    assert_eq!(waiting["data"]["step_name"], "ask");
    assert_eq!(waiting["data"]["metadata"]["task_id"], task.as_str());

    // The tasks list shows the decided ones.
    let (status, tasks) = call(&app, "get", "/tasks?status=REJECTED", "/tasks", None, &[]).await;
    assert_eq!(status, 200);
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_id"] == task.as_str())
    );
}

#[tokio::test]
async fn a_stale_version_is_409_with_the_run_and_a_repeated_key_gets_the_first_answer() {
    let (app, _dir) = spawn(&[("approval.yaml", APPROVAL)]).await;
    let id = start(&app, "approval", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    let task = run["required_action"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = run["state_version"].as_i64().unwrap();

    let (status, stale) = resume(&app, &task, "approve", version - 1, "s1").await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["run"]["state_version"], version);
    assert!(stale["detail"].as_str().unwrap().contains("stale"));

    let (status, first) = resume(&app, &task, "approve", version, "same").await;
    assert_eq!(status, 200);
    let (status, again) = resume(&app, &task, "approve", version, "same").await;
    assert_eq!(status, 200);
    assert_eq!(first, again, "the first answer, replayed");
    let now = run_status(&app, &id).await;
    assert_eq!(node(&now, "ask")["task"]["approvals"], 1, "recorded once");
    // The same key for another decision is refused, not answered with the first one's answer.
    let (status, body) = resume(&app, &task, "reject", version, "same").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("choose a new key"),
        "{body}"
    );

    // If-Match and state_version must agree.
    let (status, _) = call(
        &app,
        "post",
        &format!("/workflow/resume/{task}"),
        "/workflow/resume/{task_id}",
        Some(json!({"decision": "approve", "state_version": version + 1, "idempotency_key": "x"})),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(status, 409, "If-Match and state_version disagree");
    // An unknown task is a 404.
    let (status, _) = resume(&app, "no-such-task", "approve", 1, "y").await;
    assert_eq!(status, 404);
}

const EXPIRING: &str = r#"
name: expiring
nodes:
  ask:
    type: approval
    config: {approvers: {role: admin}, ttl: 1h}
  pause:
    type: wait
    config: {duration: 10m}
"#;

#[tokio::test]
async fn an_approval_expires_after_its_ttl_and_fails_the_run_and_a_wait_ends_on_time() {
    let (app, _dir) = spawn(&[("expiring.yaml", EXPIRING)]).await;
    let id = start(&app, "expiring", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    assert_eq!(node(&run, "pause")["status"], "WAITING");
    let engine_of = |app: &TestApp| app.running.app.workflows.clone().unwrap();

    // Ten minutes: the wait is over, the approval still open.
    engine_of(&app).clock.advance(Duration::from_secs(601));
    engine::tick(&app.running.app).await.unwrap();
    let run = wait_until(&app, &id, |r| node(r, "pause")["status"] == "COMPLETED").await;
    assert_eq!(run["status"], "WAITING");
    assert_eq!(node(&run, "ask")["status"], "WAITING");

    // An hour: the approval expires, the run fails.
    engine_of(&app).clock.advance(Duration::from_secs(3600));
    engine::tick(&app.running.app).await.unwrap();
    let run = wait_for(&app, &id, "FAILED").await;
    assert_eq!(node(&run, "ask")["status"], "EXPIRED");
    assert_eq!(run["failed_node"], "ask");
    let events = workflow_events(&app, &id, 3).await;
    let failed = events.last().unwrap();
    assert_eq!(failed["event_type"], "failed");
    assert_eq!(failed["data"]["status"], "FAILED");
    assert_eq!(failed["data"]["step_name"], "ask");
    assert!(
        failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

async fn wait_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = run_status(app, id).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not get there: {last:#}");
}

#[tokio::test]
async fn cancel_ends_a_waiting_run_and_its_task() {
    let (app, _dir) = spawn(&[("approval.yaml", APPROVAL)]).await;
    let id = start(&app, "approval", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    let task = run["required_action"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/workflow/{id}/cancel");
    let (status, body) = call(
        &app,
        "post",
        &path,
        "/workflow/{id}/cancel",
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELLED");
    let (status, _) = call(
        &app,
        "post",
        &path,
        "/workflow/{id}/cancel",
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(status, 409, "an ended run cannot be cancelled again");
    let (status, _) = resume(
        &app,
        &task,
        "approve",
        body["state_version"].as_i64().unwrap(),
        "c",
    )
    .await;
    assert_eq!(status, 409, "the task is closed");
    let events = workflow_events(&app, &id, 3).await;
    assert_eq!(events.last().unwrap()["event_type"], "cancelled");
}

const SECRETIVE: &str = r#"
name: secretive
inputs:
  type: object
  required: [username, password]
  properties:
    username: {type: string, pattern: "^[a-z]+$"}
    password: {type: string}
nodes:
  create:
    type: action
    config:
      system: local
      object_type: user
      action: create
      params: {username: "{{ inputs.username }}", password: "{{ inputs.password }}"}
  remember:
    type: set
    depends_on: [create]
    config: {set: {token: "inputs.password"}}
"#;

#[tokio::test]
async fn inputs_are_checked_against_the_schema_and_secrets_are_masked_everywhere() {
    let (app, _dir) = spawn(&[("secretive.yaml", SECRETIVE)]).await;
    // A bad input: 422 with FastAPI-style details and a crud.errors event.
    let (status, body) = call(
        &app,
        "post",
        "/workflow/start",
        "/workflow/start",
        Some(json!({"workflow_name": "secretive", "data": {"username": "Not Valid!"}})),
        &[],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let details = body["detail"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["loc"] == json!(["body", "data", "username"])),
        "{body}"
    );
    assert!(
        details
            .iter()
            .any(|d| d["msg"].as_str().unwrap().contains("password")),
        "{body}"
    );
    let errors = values(&app.errors(1).await);
    assert_eq!(errors[0]["data"]["path"], "/workflow/start");
    // Unknown workflows are 404; other content types 415.
    let (status, _) = call(
        &app,
        "post",
        "/workflow/start",
        "/workflow/start",
        Some(json!({"workflow_name": "nope"})),
        &[],
    )
    .await;
    assert_eq!(status, 404);

    let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
    let id = start(
        &app,
        "secretive",
        json!({"username": "carol", "password": canary}),
    )
    .await;
    let run = wait_for(&app, &id, "COMPLETED").await;
    let shown = run.to_string();
    assert!(
        !shown.contains(&canary),
        "the status shows a secret: {shown}"
    );
    assert_eq!(run["inputs"]["password"], "****MASKED****");
    for topic in [&app.topics.workflows, &app.topics.operations] {
        let records = app.read_more(topic, 100, Duration::from_secs(2)).await;
        for value in values(&records) {
            assert!(
                !value.to_string().contains(&canary),
                "{topic} carries a secret: {value}"
            );
        }
    }
}

const WAITING: &str = r#"
name: waiting
nodes:
  ask:
    type: approval
    config: {approvers: {role: admin}}
  pause:
    type: wait
    depends_on: [ask]
    config: {duration: 1h}
  create:
    type: action
    depends_on: [pause]
    config: {system: local, object_type: group, action: create, params: {name: "{{ run.id[:8] ~ 'g' }}"}}
"#;

/// A second app (another instance after a restart) on the same database and broker.
async fn restart(first: &TestApp, settings: CrudSettings) -> App {
    let publisher = first.publisher.clone();
    App::build(&settings, Some(publisher.into()))
        .await
        .expect("the app builds again")
}

async fn a_waiting_run_and_a_timer_survive_a_restart(db: &TestDatabase) {
    let url = db.url.clone();
    let dir = workflows_dir(&[("waiting.yaml", WAITING)]);
    let path = dir.path().to_owned();
    let url2 = url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.workflows_dir = Some(path);
        s.database_url = url2;
    })
    .await;
    let id = start(&app, "waiting", json!({})).await;
    let run = wait_for(&app, &id, "WAITING").await;
    let task = run["required_action"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = run["state_version"].as_i64().unwrap();

    // "Restart": a new instance on the same database takes over; the first stops serving.
    let settings = CrudSettings {
        workflows_dir: Some(dir.path().to_owned()),
        database_url: url,
        topics: app.topics.clone(),
        ..CrudSettings::default()
    };
    let settings_again = settings.clone();
    let second = restart(&app, settings).await;
    let running = Running::start(second.clone(), ANY_PORT.parse().unwrap())
        .await
        .unwrap();
    let new = app.serving(running).await;
    let run = run_status(&new, &id).await;
    assert_eq!(run["status"], "WAITING", "still waiting after the restart");
    assert_eq!(run["state_version"], version, "unchanged");

    let (status, body) = resume(&new, &task, "approve", version, "after-restart").await;
    assert_eq!(status, 200, "{body}");
    let run = wait_until(&new, &id, |r| node(r, "pause")["status"] == "WAITING").await;
    let deadline = node(&run, "pause")["deadline"].clone();
    assert!(deadline.is_string());

    // Another restart while the timer runs: a third instance finds the timer, not due yet,
    // and fires it when its clock passes the stored deadline.
    let third = restart(&new, settings_again).await;
    let engine = third.workflows.clone().unwrap();
    assert_eq!(engine::tick(&third).await.unwrap(), 0, "not due yet");
    engine.clock.advance(Duration::from_secs(3601));
    assert_eq!(engine::tick(&third).await.unwrap(), 1, "due now");
    let done = wait_for(&new, &id, "COMPLETED").await;
    assert_eq!(node(&done, "pause")["deadline"], Value::Null);
    assert_eq!(node(&done, "create")["status"], "COMPLETED");
}

civitas_testkit::each_backend!(a_waiting_run_and_a_timer_survive_a_restart);

#[tokio::test]
async fn the_workflows_and_runs_are_listed_and_the_api_is_in_the_openapi_document() {
    let (app, _dir) = spawn(&[("approval.yaml", APPROVAL), ("branches.yaml", BRANCHES)]).await;
    let (_, list) = call(&app, "get", "/workflows", "/workflows", None, &[]).await;
    let names: Vec<&str> = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["approval", "branches"]);
    let id = start(&app, "approval", json!({})).await;
    wait_for(&app, &id, "WAITING").await;
    let (_, runs) = call(
        &app,
        "get",
        "/workflow/runs?status=WAITING",
        "/workflow/runs",
        None,
        &[],
    )
    .await;
    assert_eq!(runs["runs"][0]["id"], id.as_str());
    assert_eq!(runs["runs"][0]["waiting_on"], json!(["ask"]));
    let (status, _) = call(
        &app,
        "get",
        "/workflow/runs?status=NOPE",
        "/workflow/runs",
        None,
        &[],
    )
    .await;
    assert_eq!(status, 400);
    let (_, doc) = call(&app, "get", "/openapi.json", "/openapi.json", None, &[]).await;
    for path in [
        "/workflow/start",
        "/workflow/status/{id}",
        "/workflow/resume/{task_id}",
        "/workflow/{id}/cancel",
        "/tasks",
        "/tasks/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test]
async fn an_invalid_definition_stops_the_start_with_file_line_and_reason() {
    let dir = workflows_dir(&[(
        "bad.yaml",
        "name: bad\nnodes:\n  a:\n    type: action\n    config:\n      system: nowhere\n      object_type: user\n      action: create\n  b:\n    type: teleport\n  c:\n    type: set\n    depends_on: [d]\n    config: {set: {x: \"1 +\"}}\n  d:\n    type: set\n    depends_on: [c]\n    config: {set: {y: \"2\"}}\n",
    )]);
    let db = tempfile::tempdir().unwrap();
    let settings = CrudSettings {
        workflows_dir: Some(dir.path().to_owned()),
        database_url: format!("sqlite://{}/x.db", db.path().display()),
        ..CrudSettings::default()
    };
    let error = App::build(&settings, None).await.expect_err("refused");
    let civitas_crud::StartupError::Workflows(errors) = error else {
        panic!("not a workflow error: {error:?}");
    };
    let text = errors.to_string();
    let file = dir.path().join("bad.yaml").display().to_string();
    assert!(
        text.contains(&format!("{file}:5: nodes.a.config")),
        "{text}"
    );
    assert!(text.contains("nowhere"), "{text}");
    assert!(
        text.contains(&format!("{file}:10: nodes.b.type"))
            && text.contains("unknown node type 'teleport'"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{file}:14: nodes.c.config.set")) && text.contains("bad expression"),
        "{text}"
    );
}

const GUARDED: &str = r#"
name: guarded
nodes:
  ask:
    type: approval
    config:
      approvers: {group: admins, role: approver}
"#;

#[tokio::test]
async fn approvers_are_checked_against_the_authenticated_caller() {
    use common::issuer::{Issuer, token};
    let issuer = Issuer::start(&["k1"]).await;
    let dir = workflows_dir(&[("guarded.yaml", GUARDED)]);
    let path = dir.path().to_owned();
    let settings = issuer.settings();
    let app = TestApp::spawn_with(move |s| {
        s.workflows_dir = Some(path);
        s.caller_auth = Some(settings);
    })
    .await;
    let as_user = |name: &str, roles: Value| {
        let mut claims = issuer.claims();
        claims["sub"] = Value::from(format!("sub-{name}"));
        claims["preferred_username"] = Value::from(name);
        claims["realm_access"] = json!({"roles": roles});
        format!("Bearer {}", token("k1", &claims))
    };
    let alice = as_user("alice", json!([]));
    let bob = as_user("bob", json!([]));
    let carol = as_user("carol", json!(["approver"]));
    // bob is in the directory group admins; alice starts the run.
    for body in [
        json!({"system": "local", "object_type": "user", "action": "create", "params": {"username": "bob"}}),
        json!({"system": "local", "object_type": "group", "action": "create", "params": {"name": "admins", "members": ["bob"]}}),
    ] {
        let bytes = serde_json::to_vec(&body).unwrap();
        let response = app
            .post(
                &bytes,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &alice),
                ],
            )
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }
    let (status, _) = call(
        &app,
        "post",
        "/workflow/start",
        "/workflow/start",
        Some(json!({"workflow_name": "guarded"})),
        &[],
    )
    .await;
    assert_eq!(status, 401, "no token, no run");
    let (status, started) = call(
        &app,
        "post",
        "/workflow/start",
        "/workflow/start",
        Some(json!({"workflow_name": "guarded"})),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap();
    let status_path = format!("/workflow/status/{id}");
    let mut run = Value::Null;
    for _ in 0..100 {
        run = call(
            &app,
            "get",
            &status_path,
            "/workflow/status/{id}",
            None,
            &[("authorization", &alice)],
        )
        .await
        .1;
        if run["status"] == "WAITING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run["started_by"], "alice");
    let task = run["required_action"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(run["required_action"]["open_to_anyone"], false);
    let version = run["state_version"].as_i64().unwrap();
    let decide = |who: String, key: &'static str| {
        let task = task.clone();
        let app = &app;
        async move {
            let v = version.to_string();
            call(
                app,
                "post",
                &format!("/workflow/resume/{task}"),
                "/workflow/resume/{task_id}",
                Some(json!({"decision": "approve", "state_version": version, "idempotency_key": key})),
                &[("authorization", &who), ("if-match", &v)],
            )
            .await
        }
    };
    // The initiator may not approve; someone outside the group and without the role neither.
    let (status, body) = decide(alice.clone(), "a").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("initiator"),
        "{body}"
    );
    let stranger = as_user("mallory", json!(["viewer"]));
    let (status, _) = decide(stranger.clone(), "m").await;
    assert_eq!(status, 403);
    // The inbox: bob (group member) and carol (role) see the task as theirs; mallory does not.
    for (who, expected) in [(&bob, 1), (&carol, 1), (&stranger, 0)] {
        let (_, inbox) = call(
            &app,
            "get",
            "/tasks?assignee=me&status=PENDING",
            "/tasks",
            None,
            &[("authorization", who)],
        )
        .await;
        assert_eq!(
            inbox["tasks"].as_array().unwrap().len(),
            expected,
            "{inbox}"
        );
    }
    // A group member approves.
    let (status, body) = decide(bob.clone(), "b").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["task"]["decisions"][0]["by"], "bob");
}

const INTERRUPTED: &str = r#"
name: interrupted
nodes:
  look:
    type: action
    config: {system: local, object_type: group, action: read, object_id: staff}
  make:
    type: action
    config: {system: local, object_type: group, action: create, params: {name: made}}
"#;

#[tokio::test]
async fn commands_in_flight_when_an_instance_died_are_rerun_when_reads_and_failed_otherwise() {
    use civitas_workflow::run::{Run, Starter};
    let (app, _dir) = spawn(&[("interrupted.yaml", INTERRUPTED)]).await;
    make_groups(&app, &["staff"]).await;
    // A run stored with both commands RUNNING by an instance whose lease has lapsed.
    let engine = app.running.app.workflows.clone().unwrap();
    let workflow = engine.definition("interrupted").unwrap().clone();
    let now = engine.clock.now();
    let mut run = Run::new(
        "run-of-a-dead-instance".to_owned(),
        &workflow,
        json!({}),
        Starter::default(),
        now,
    );
    let effects = run.advance(&workflow, &civitas_command::template::Templates::new(), now);
    assert_eq!(effects.start, ["look", "make"]);
    engine
        .store
        .insert(
            &run,
            civitas_workflow::store::Lease::Held(
                "dead-instance",
                now - chrono::Duration::seconds(1),
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(engine::tick(&app.running.app).await.unwrap(), 1);
    let done = wait_for(&app, "run-of-a-dead-instance", "FAILED").await;
    assert_eq!(
        node(&done, "look")["status"],
        "COMPLETED",
        "a read runs again"
    );
    assert_eq!(node(&done, "look")["attempts"], 2);
    assert_eq!(
        node(&done, "make")["status"],
        "FAILED",
        "a create is not run twice"
    );
    assert!(
        node(&done, "make")["error"]
            .as_str()
            .unwrap()
            .contains("outcome is unknown")
    );
    let group = app
        .execute(json!({"system": "local", "object_type": "group", "action": "read", "object_id": "made", "params": {}}))
        .await;
    assert_eq!(group.status, 404, "the create was not sent again");
}

#[tokio::test]
async fn cycles_impossible_edges_and_unreachable_nodes_are_refused() {
    let cases = [
        (
            "name: loop\nnodes:\n  a: {type: set, depends_on: [b], config: {set: {x: \"1\"}}}\n  b: {type: set, depends_on: [a], config: {set: {y: \"2\"}}}\n",
            "cycle: ",
        ),
        (
            "name: never\nnodes:\n  a: {type: set, config: {set: {x: \"1\"}}}\n  b: {type: set, config: {set: {y: \"2\"}}}\nedges:\n  - {from: a, to: b, on: rejected}\n",
            "on: rejected needs 'a' to be an approval",
        ),
        (
            "name: dead\nnodes:\n  a: {type: set, config: {set: {x: \"1\"}}}\n  b: {type: set, config: {set: {y: \"2\"}}}\nedges:\n  - {from: a, to: b, condition: \"false\"}\n",
            "nodes.b: unreachable",
        ),
        (
            "name: ghost\nnodes:\n  a: {type: set, config: {set: {x: \"1\"}}}\nedges:\n  - {from: a, to: nobody}\n",
            "unknown node 'nobody'",
        ),
        (
            "name: odd\nnodes:\n  a: {type: action, config: {system: local, object_type: user, action: fly}}\n",
            "fly",
        ),
    ];
    for (text, expected) in cases {
        let dir = workflows_dir(&[("w.yaml", text)]);
        let db = tempfile::tempdir().unwrap();
        let settings = CrudSettings {
            workflows_dir: Some(dir.path().to_owned()),
            database_url: format!("sqlite://{}/x.db", db.path().display()),
            ..CrudSettings::default()
        };
        let Err(civitas_crud::StartupError::Workflows(errors)) = App::build(&settings, None).await
        else {
            panic!("{text} was not refused");
        };
        assert!(
            errors.to_string().contains(expected),
            "{expected:?} not in {errors}"
        );
    }
}

#[tokio::test]
async fn a_decision_moves_its_branch_on_while_a_slow_command_runs_in_another() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/realms/city/users/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "slow"}))
                .set_delay(Duration::from_secs(4)),
        )
        .mount(&upstream)
        .await;
    let systems = common::systems_dir(
        "kc.yaml",
        &format!(
            "name: kc\ntype: keycloak\nbase_url: {}\nsettings: {{realm: city}}\nretry: {{attempts: 1}}\n",
            upstream.uri()
        ),
    );
    let flows = workflows_dir(&[(
        "branches.yaml",
        "name: side\nnodes:\n  slow:\n    type: action\n    config: {system: kc, object_type: user, action: read, object_id: slow}\n  ask:\n    type: approval\n    config: {approvers: {role: admin}}\n  after:\n    type: set\n    depends_on: [ask]\n    config: {set: {done: \"true\"}}\n",
    )]);
    let (systems_path, flows_path) = (systems.path().to_owned(), flows.path().to_owned());
    let app = TestApp::spawn_with(move |s| {
        s.systems_dir = Some(systems_path);
        s.workflows_dir = Some(flows_path);
    })
    .await;
    let id = start(&app, "side", json!({})).await;
    let run = wait_until(&app, &id, |r| node(r, "ask")["status"] == "WAITING").await;
    assert_eq!(run["status"], "RUNNING", "the slow command runs");
    let task = node(&run, "ask")["task"]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = resume(
        &app,
        &task,
        "approve",
        run["state_version"].as_i64().unwrap(),
        "k",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = wait_until(&app, &id, |r| node(r, "after")["status"] == "COMPLETED").await;
    assert_eq!(
        node(&run, "slow")["status"],
        "RUNNING",
        "the approved branch went on before the slow command ended"
    );
    let done = wait_for(&app, &id, "COMPLETED").await;
    assert_eq!(node(&done, "slow")["status"], "COMPLETED");
}
