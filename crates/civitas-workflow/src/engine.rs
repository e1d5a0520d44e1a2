//! The engine: starts runs, drives them (runs their commands through the
//! [`CommandExecutor`](civitas_command::executor::CommandExecutor)), records decisions, wakes timers,
//! and publishes `crud.workflows` events.
//!
//! Durability: every change is stored before it is acted on — an action is stored RUNNING
//! before its command is sent, a decision is stored before anything follows from it. An
//! instance drives a run only while it holds the run's lease (30 s, renewed while commands
//! run), and each write is conditional on the version it read, so two instances on one
//! database never both advance a run. A run whose instance died is taken over by another
//! (or the restarted one) when the lease lapses. What happens to a command that was in
//! flight then is its node's `on_interrupted`: `rerun` (default for read and list) or `fail`
//! (default for the others) — docs/workflows.md.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use civitas_events::{TraceContext, WorkflowData};
use civitas_kafka::EventContext;
use civitas_store::Clock;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::api::{ResumeAnswer, RunView, TaskStatus, run_view, task_view};
use super::definition::{NodeKind, OnInterrupted, Workflow};
use super::error::WorkflowError;
use super::host::Host;
use super::run::{Decision, DecisionRecord, NodeStatus, Run, RunStatus, Starter};
use super::store::{Answer, Lease, StoreError, TaskRow, WorkflowStore};
use civitas_command::executor::Invocation;
use civitas_command::request::ExecuteRequest;
use civitas_command::template::{self, Templates};

/// How long a lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often a driver renews its lease while commands run.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Conflicting writes retried before a driver gives the run up (another instance has it).
const MAX_CONFLICTS: usize = 20;
/// Times a `rerun` command is sent before an interruption fails it.
const MAX_ATTEMPTS: u32 = 3;
/// Seconds a driver retries a failing database before it gives a run up.
const STORE_RETRIES: u32 = 20;
/// Runs taken over per scheduler tick.
const DUE_BATCH: i64 = 100;

/// The workflow engine of one service instance.
#[derive(Debug)]
pub struct Workflows {
    definitions: BTreeMap<String, Arc<Workflow>>,
    pub store: WorkflowStore,
    templates: Templates,
    /// The clock deadlines are read against (tests move it forward).
    pub clock: Clock,
    /// This instance's lease owner id.
    instance: String,
    /// How often the scheduler looks for runs to take over and timers that are due.
    pub poll: Duration,
    /// The runs this instance drives now.
    /// The runs this instance drives now, each with the nudge that wakes its driver (a
    /// decision was stored).
    active: Mutex<HashMap<String, Arc<Notify>>>,
    /// Runs that ended here (id, status), for whoever listens (the benchmark).
    ended: tokio::sync::broadcast::Sender<(String, RunStatus)>,
}

impl Workflows {
    pub fn new(definitions: Vec<Workflow>, store: WorkflowStore, clock: Clock) -> Self {
        Self {
            definitions: definitions
                .into_iter()
                .map(|w| (w.name.clone(), Arc::new(w)))
                .collect(),
            store,
            templates: Templates::new(),
            clock,
            instance: uuid::Uuid::new_v4().to_string(),
            poll: Duration::from_secs(1),
            active: Mutex::default(),
            ended: tokio::sync::broadcast::channel(4096).0,
        }
    }

    pub fn definition(&self, name: &str) -> Option<&Arc<Workflow>> {
        self.definitions.get(name)
    }

    pub fn definitions(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.definitions.values()
    }

    /// The runs that end on this instance from now on: (id, final status).
    pub fn subscribe_ended(&self) -> tokio::sync::broadcast::Receiver<(String, RunStatus)> {
        self.ended.subscribe()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn lease_until(&self) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(LEASE).unwrap_or_default()
    }

    /// Marks `run_id` as driven here; `None` when it already is.
    fn enter(&self, run_id: &str) -> Option<ActiveGuard<'_>> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if active.contains_key(run_id) {
            return None;
        }
        let nudge = Arc::new(Notify::new());
        active.insert(run_id.to_owned(), nudge.clone());
        Some(ActiveGuard {
            workflows: self,
            run_id: run_id.to_owned(),
            nudge,
        })
    }

    /// Wakes the driver of `run_id` if it runs here; `false` when none does.
    fn nudge(&self, run_id: &str) -> bool {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match active.get(run_id) {
            Some(nudge) => {
                nudge.notify_one();
                true
            }
            None => false,
        }
    }

    fn is_active(&self, run_id: &str) -> bool {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.contains_key(run_id)
    }
}

struct ActiveGuard<'a> {
    workflows: &'a Workflows,
    run_id: String,
    nudge: Arc<Notify>,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let mut active = self
            .workflows
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        active.remove(&self.run_id);
    }
}

/// Starts a run of `workflow` with `inputs` (checked by the caller); stored before this
/// returns, driven in the background.
pub async fn start(
    app: &impl Host,
    workflow: &Arc<Workflow>,
    inputs: Value,
    starter: Starter,
) -> Result<Run, WorkflowError> {
    let engine = engine(app)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = engine.now();
    let mut run = Run::new(id, workflow, inputs, starter, now);
    let before = run.clone();
    // The first step is stored with the run: its commands RUNNING, its approvals open.
    let effects = run.advance(workflow, &engine.templates, now);
    let running = !effects.start.is_empty();
    let lease = if running {
        Lease::Held(&engine.instance, engine.lease_until())
    } else {
        Lease::Released
    };
    engine
        .store
        .insert(&run, lease, &task_rows(app, workflow, &run))
        .await?;
    publish(app, &run, "started", None);
    publish_changes(app, &before, &run, &effects.waiting);
    tracing::info!(run_id = %run.id, workflow = %run.workflow_name, "workflow started");
    if running {
        spawn_drive(
            app,
            run.id.clone(),
            Begin::Started(Box::new(run.clone()), effects.start),
        );
    }
    Ok(run)
}

/// How a driver begins.
enum Begin {
    /// A run this driver just stored, with the commands it stored RUNNING.
    Started(Box<Run>, Vec<String>),
    /// A run taken over (from the store): commands stored RUNNING were interrupted.
    TakeOver,
}

/// A stored run and its workflow: 404 without the run, and also when its workflow is no
/// longer configured (the run stays as it is until it is again; a 404 tells a caller who may
/// not see the run nothing about it).
pub async fn load_run(
    engine: &Workflows,
    run_id: &str,
) -> Result<(Run, Arc<Workflow>), WorkflowError> {
    let run = engine
        .store
        .load(run_id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("no run '{run_id}'")))?;
    let workflow = engine
        .definition(&run.workflow_name)
        .cloned()
        .ok_or_else(|| {
            WorkflowError::NotFound(format!(
                "no run '{run_id}' (or its workflow is no longer configured)"
            ))
        })?;
    Ok((run, workflow))
}

/// The app's workflow engine; 404 when no workflows are configured.
pub fn engine(app: &impl Host) -> Result<&Workflows, WorkflowError> {
    app.workflows().map(|w| &**w).ok_or_else(|| {
        WorkflowError::NotFound("no workflows are configured (--workflows)".to_owned())
    })
}

/// Drives a run this instance holds the lease of, in the background.
fn spawn_drive<H: Host>(app: &H, run_id: String, begin: Begin) {
    let app = app.clone();
    tokio::spawn(async move {
        let Some(engine) = app.workflows().cloned() else {
            return;
        };
        let Some(guard) = engine.enter(&run_id) else {
            return;
        };
        if let Err(error) = drive(&app, &engine, &run_id, begin, &guard.nudge).await {
            tracing::warn!(%run_id, %error, source = %error.source, "a workflow run stopped advancing; another tick takes it up again");
        }
    });
}

/// Tries to take a run's lease and drive it here.
pub async fn kick(app: &impl Host, run_id: &str) {
    let Some(engine) = app.workflows().map(|w| &**w) else {
        return;
    };
    // Driven here already: its driver applies the new state now, not when its commands end.
    if engine.nudge(run_id) {
        return;
    }
    match engine
        .store
        .claim(run_id, &engine.instance, engine.now(), engine.lease_until())
        .await
    {
        Ok(true) => spawn_drive(app, run_id.to_owned(), Begin::TakeOver),
        Ok(false) => {}
        Err(error) => tracing::warn!(%run_id, %error, "could not take a run's lease"),
    }
}

/// One scheduler pass: takes over the runs that need an instance (their instance stopped,
/// or a timer is due). Returns how many it took.
pub async fn tick(app: &impl Host) -> Result<usize, StoreError> {
    let Some(engine) = app.workflows().map(|w| &**w) else {
        return Ok(0);
    };
    let names: Vec<&str> = engine.definitions.keys().map(String::as_str).collect();
    let due = engine.store.due(engine.now(), &names, DUE_BATCH).await?;
    let mut taken = 0;
    for run_id in due {
        if engine.is_active(&run_id) {
            continue;
        }
        if engine
            .store
            .claim(
                &run_id,
                &engine.instance,
                engine.now(),
                engine.lease_until(),
            )
            .await?
        {
            taken += 1;
            spawn_drive(app, run_id, Begin::TakeOver);
        }
    }
    Ok(taken)
}

/// The scheduler: a tick every `poll`, until the app is dropped or the task aborted.
pub async fn schedule(app: impl Host) {
    let Some(engine) = app.workflows().cloned() else {
        return;
    };
    loop {
        if let Err(error) = tick(&app).await {
            tracing::warn!(%error, source = %error.source, "workflow scheduler: could not look for due runs");
        }
        tokio::time::sleep(engine.poll).await;
    }
}

/// A command in flight: its node and outcome.
type Finished = (
    String,
    Result<(Value, Option<String>), String>,
    Option<String>,
);

async fn drive(
    app: &impl Host,
    engine: &Workflows,
    run_id: &str,
    begin: Begin,
    nudge: &Notify,
) -> Result<(), StoreError> {
    let mut inflight: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
    let (mut run, mut started) = match begin {
        Begin::Started(run, nodes) => (*run, Some(nodes)),
        Begin::TakeOver => match engine.store.load(run_id).await? {
            Some(run) => (run, None),
            None => return Ok(()),
        },
    };
    // A taken-over run's RUNNING commands ran under a driver that is gone.
    let mut take_over = started.is_none();
    let mut finished: Option<Finished> = None;
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    loop {
        let nodes = match started.take() {
            Some(nodes) => nodes,
            None => match apply(app, engine, run_id, &mut run, take_over, finished.take()).await? {
                Some(nodes) => nodes,
                None => return Ok(()),
            },
        };
        take_over = false;
        for node in nodes {
            // Each command a task of its own: it holds database transactions and connections
            // and must go on while this driver stores another's outcome, and it runs to its
            // end (and its event) even if this driver stops.
            let task = tokio::spawn(run_action(app.clone(), run.clone(), node.clone()));
            inflight.push(
                async move {
                    task.await.unwrap_or_else(|_| {
                        (
                            node,
                            Err("the command's task panicked; its outcome is unknown".to_owned()),
                            None,
                        )
                    })
                }
                .boxed(),
            );
        }
        if inflight.is_empty() {
            return Ok(());
        }
        // Wait for a command to finish; meanwhile renew the lease, fire timers that fall due
        // and apply decisions stored by others (a nudge), without waiting for the commands.
        let deadline = run.next_deadline().map(|at| {
            (at - engine.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(LEASE)
        });
        tokio::select! {
            done = inflight.next() => finished = done,
            _ = renew.tick() => {
                match engine.store.renew(run_id, &engine.instance, engine.lease_until()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another instance took the run over (this one stalled past the lease)
                        // or it was cancelled: the commands run to their end, unrecorded here.
                        tracing::warn!(%run_id, "no longer holds a workflow run's lease; stops driving it");
                        return Ok(());
                    }
                    Err(error) => tracing::warn!(%run_id, %error, "could not renew a workflow run's lease; trying again"),
                }
                started = Some(Vec::new());
            }
            () = nudge.notified() => {}
            () = sleep_for(deadline) => {}
        }
    }
}

/// Sleeps for `duration`, or forever without one.
async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// Applies what happened — a finished command, due timers, or (taking over) interrupted
/// commands — to the run, advances it and stores it, over conflicting writers (a decision, a
/// cancel: the run is reloaded and the change applied again). The commands to start now;
/// `None` when this driver is done with the run.
async fn apply(
    app: &impl Host,
    engine: &Workflows,
    run_id: &str,
    run: &mut Run,
    take_over: bool,
    finished: Option<Finished>,
) -> Result<Option<Vec<String>>, StoreError> {
    let mut conflicts = 0;
    loop {
        let Some(workflow) = engine.definition(&run.workflow_name).cloned() else {
            tracing::error!(%run_id, workflow = %run.workflow_name, "the run's workflow is no longer configured; it stays as it is");
            return Ok(None);
        };
        if run.status.is_terminal() {
            return Ok(None);
        }
        let previous = run.clone();
        let now = engine.now();
        let mut start = Vec::new();
        if !workflow.nodes.keys().eq(run.nodes.keys()) {
            run.error = Some(format!(
                "the definition of workflow '{}' changed while this run was in progress (its nodes differ); start a new run",
                run.workflow_name
            ));
            for node in run.nodes.values_mut() {
                if !node.status.is_terminal() {
                    node.status = NodeStatus::Cancelled;
                }
            }
            run.status = RunStatus::Failed;
        } else {
            if take_over {
                for (id, node) in &workflow.nodes {
                    let NodeKind::Action(action) = &node.kind else {
                        continue;
                    };
                    if run.nodes[id].status != NodeStatus::Running {
                        continue;
                    }
                    let policy = if run.nodes[id].attempts >= MAX_ATTEMPTS {
                        // A command that keeps dying with its instance is not sent again.
                        OnInterrupted::Fail
                    } else {
                        action.interrupted_policy()
                    };
                    match policy {
                        OnInterrupted::Rerun => {
                            run.restart_action(id, now);
                            start.push(id.clone());
                        }
                        OnInterrupted::Fail => run.interrupt_action(&workflow, id, now),
                    }
                }
            }
            if let Some((node, outcome, event_id)) = finished.clone() {
                run.finish_action(&workflow, &node, outcome, event_id, now);
            }
            run.wake(&workflow, now);
        }
        let effects = run.advance(&workflow, &engine.templates, now);
        start.extend(effects.start.iter().cloned());
        let running = run.nodes.values().any(|n| n.status == NodeStatus::Running);
        let lease = if running {
            Lease::Held(&engine.instance, engine.lease_until())
        } else {
            Lease::Released
        };
        run.bump(now);
        let tasks = task_rows(app, &workflow, run);
        if save_retrying(engine, run, previous.state_version, lease, &tasks).await? {
            publish_changes(app, &previous, run, &effects.waiting);
            return Ok(Some(start));
        }
        conflicts += 1;
        if conflicts >= MAX_CONFLICTS {
            tracing::warn!(%run_id, "a workflow run kept changing under this driver; leaving it to the next tick");
            return Ok(None);
        }
        *run = match engine.store.load(run_id).await? {
            Some(run) => run,
            None => return Ok(None),
        };
    }
}

/// A driver's write: only while this instance holds the lease; a failing database is tried
/// again for up to [`STORE_RETRIES`] seconds (the commands' outcomes are in memory only).
async fn save_retrying(
    engine: &Workflows,
    run: &Run,
    previous_version: i64,
    lease: Lease<'_>,
    tasks: &[TaskRow],
) -> Result<bool, StoreError> {
    let mut attempt = 0;
    loop {
        match engine
            .store
            .save(
                run,
                previous_version,
                lease,
                tasks,
                None,
                Some(&engine.instance),
            )
            .await
        {
            Ok(saved) => return Ok(saved),
            Err(error) if attempt < STORE_RETRIES => {
                attempt += 1;
                tracing::warn!(run_id = %run.id, %error, attempt, "could not store a workflow step; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Runs one action node's command through the executor.
async fn run_action<H: Host>(app: H, run: Run, node_id: String) -> Finished {
    let outcome = async {
        let engine = engine(&app).map_err(|e| e.to_string())?;
        let workflow = engine
            .definition(&run.workflow_name)
            .ok_or("the workflow is no longer configured")?;
        let Some(NodeKind::Action(action)) = workflow.nodes.get(&node_id).map(|n| &n.kind) else {
            return Err("not an action node".to_owned());
        };
        let ctx = template::context(&run.context());
        let object_id = match &action.object_id {
            Some(t) => Some(
                engine
                    .templates
                    .render_string("object_id", t, &ctx)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let params = match engine
            .templates
            .render_value("params", &action.params, &ctx)
            .map_err(|e| e.to_string())?
        {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let command = ExecuteRequest {
            system: action.system.clone(),
            object_type: action.object_type.clone(),
            action: action.action.clone(),
            params,
            object_id: object_id.filter(|id| !id.is_empty()),
        };
        let trace = run
            .traceparent
            .as_deref()
            .and_then(TraceContext::parse)
            .map(|t| t.child())
            .unwrap_or_else(TraceContext::new_root);
        let context = EventContext {
            correlation_id: Some(run.id.clone()),
            trace: Some(trace),
            user_context: run.user_context.clone(),
        };
        let executor = app.executor();
        let execute = executor.execute(
            command,
            Invocation {
                grants: run.grants.as_ref(),
                context: &context,
            },
        );
        let outcome = match action.timeout {
            Some(limit) => match tokio::time::timeout(limit, execute).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(format!(
                        "timed out after {} s; the command's outcome is unknown",
                        limit.as_secs()
                    ));
                }
            },
            None => execute.await,
        };
        Ok(outcome.result)
    }
    .await;
    match outcome {
        Ok(Ok(executed)) => (
            node_id,
            Ok((executed.result, executed.object_id)),
            executed.event_id,
        ),
        Ok(Err(error)) => {
            let mut text = app.failure_text(&error);
            app.masker().mask_text_in_place(&mut text);
            (node_id, Err(text), None)
        }
        Err(error) => (node_id, Err(error), None),
    }
}

/// The task rows of a run's approval nodes.
pub(crate) fn task_rows(app: &impl Host, workflow: &Workflow, run: &Run) -> Vec<TaskRow> {
    run.nodes
        .iter()
        .filter_map(|(id, node)| {
            let approval = node.approval.as_ref()?;
            let status = TaskStatus::of(node.status);
            Some(TaskRow {
                task_id: approval.task_id.clone(),
                node_id: id.clone(),
                status: status.as_str().to_owned(),
                task: serde_json::to_value(task_view(app, workflow, run, id))
                    .unwrap_or(Value::Null),
                expires_at: node.deadline,
            })
        })
        .collect()
}

/// Publishes the events of a stored change: `waiting` per node that began to wait, and the
/// run's end.
fn publish_changes(app: &impl Host, previous: &Run, run: &Run, waiting: &[String]) {
    for node in waiting {
        publish(app, run, "waiting", Some(node));
    }
    if run.status != previous.status && run.status.is_terminal() {
        let event = match run.status {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            _ => "cancelled",
        };
        tracing::info!(run_id = %run.id, workflow = %run.workflow_name, status = run.status.as_str(), "workflow run ended");
        publish(app, run, event, run.failed_node.as_deref());
        if let Some(engine) = app.workflows() {
            let _ = engine.ended.send((run.id.clone(), run.status));
        }
    }
}

/// One `crud.workflows` event (the publisher masks `metadata`).
pub(crate) fn publish(app: &impl Host, run: &Run, event_type: &str, step: Option<&str>) {
    app.count_event(event_type);
    let status = match event_type {
        "started" => "STARTED",
        "waiting" => "WAITING",
        _ => run.status.as_str(),
    };
    let nodes: Map<String, Value> = run
        .nodes
        .iter()
        .map(|(id, n)| (id.clone(), json!(n.status)))
        .collect();
    let approvals: Map<String, Value> = run
        .nodes
        .iter()
        .filter_map(|(id, n)| {
            let a = n.approval.as_ref()?;
            Some((
                id.clone(),
                json!({
                    "task_id": a.task_id,
                    "required": a.required,
                    "decisions": a.decisions.iter().map(|d| json!({"decision": d.decision, "by": d.by, "at": d.at})).collect::<Vec<_>>(),
                }),
            ))
        })
        .collect();
    let mut metadata = json!({
        "run_id": run.id,
        "state_version": run.state_version,
        "nodes": nodes,
    });
    if !approvals.is_empty() {
        metadata["approvals"] = Value::Object(approvals);
    }
    if let Some(step) = step
        && let Some(task) = run.nodes.get(step).and_then(|n| n.approval.as_ref())
    {
        metadata["task_id"] = Value::from(task.task_id.clone());
    }
    let trace = run
        .traceparent
        .as_deref()
        .and_then(TraceContext::parse)
        .map(|t| t.child());
    let ctx = EventContext {
        correlation_id: Some(run.id.clone()),
        trace: Some(trace.unwrap_or_else(TraceContext::new_root)),
        user_context: run.user_context.clone(),
    };
    let error = if event_type == "failed" || event_type == "cancelled" {
        run.error
            .as_deref()
            .map(|e| app.masker().mask_text(e).unwrap_or_else(|| e.to_owned()))
    } else {
        None
    };
    app.events().workflow(
        event_type,
        &ctx,
        WorkflowData {
            workflow_name: run.workflow_name.clone(),
            step_name: step.map(str::to_owned),
            status: status.to_owned(),
            error,
            metadata,
            started_by: run.started_by.clone(),
            timestamp: Utc::now(),
        },
    );
}

/// A decision to record.
#[derive(Debug)]
pub struct ResumeCommand {
    pub task_id: String,
    pub idempotency_key: String,
    pub version: i64,
    pub record: DecisionRecord,
}

/// What a resume did: an answer to give (and to replay).
pub type Resumed = Answer;

/// Records a decision on a task, over the state version the caller saw. `check` decides
/// whether the caller may decide the task (given the workflow, the run and the node).
pub async fn resume<F>(
    app: &impl Host,
    command: ResumeCommand,
    check: F,
) -> Result<Resumed, WorkflowError>
where
    F: AsyncFnOnce(&Workflow, &Run, &str) -> Result<(), WorkflowError>,
{
    let engine = engine(app)?;
    let (run_id, _) = engine
        .store
        .task(&command.task_id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("no task '{}'", command.task_id)))?;
    let (mut run, workflow) = load_run(engine, &run_id).await?;
    let node_id = run
        .nodes
        .iter()
        .find(|(_, n)| {
            n.approval
                .as_ref()
                .is_some_and(|a| a.task_id == command.task_id)
        })
        .map(|(id, _)| id.clone())
        .ok_or_else(|| WorkflowError::NotFound(format!("no task '{}'", command.task_id)))?;
    // Who may decide is checked before anything is answered, a replayed answer too.
    check(&workflow, &run, &node_id).await?;
    let record = &command.record;
    let fingerprint = Answer::fingerprint(
        record.by_id.as_deref().or(record.by.as_deref()),
        match record.decision {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        },
        record.data.as_ref(),
    );
    if let Some(answer) = replay(engine, &command, &fingerprint).await? {
        return Ok(answer);
    }
    if command.version != run.state_version {
        return Ok(Answer {
            status: 409,
            body: answer_body(&ResumeAnswer::Refused {
                detail: format!(
                    "state_version {} is stale: the run is at {}; read it again and decide on what it shows now",
                    command.version, run.state_version
                ),
                run: run_view(app, &workflow, &run),
            }),
            fingerprint: String::new(),
        });
    }
    let status = run.nodes[&node_id].status;
    if status != NodeStatus::Waiting {
        return Err(WorkflowError::Conflict(format!(
            "the task is no longer open: it is {}",
            TaskStatus::of(status).as_str()
        )));
    }
    if let Some(by) = command.record.by_id.as_ref().or(command.record.by.as_ref())
        && run.nodes[&node_id].approval.as_ref().is_some_and(|a| {
            a.decisions
                .iter()
                .any(|d| d.by_id.as_ref().or(d.by.as_ref()) == Some(by))
        })
    {
        return Err(WorkflowError::Conflict(
            "you have decided this task already".to_owned(),
        ));
    }
    let previous = run.clone();
    let now = engine.now();
    let settled = run.decide(&workflow, &node_id, command.record.clone(), now);
    if settled || run.error.is_some() {
        // Something to do now: the next driver (here, or the scheduler's) advances it.
        run.status = RunStatus::Running;
    }
    run.bump(now);
    let answer = Answer {
        status: 200,
        body: answer_body(&ResumeAnswer::Decided {
            task: task_view(app, &workflow, &run, &node_id).map(Box::new),
            run: run_view(app, &workflow, &run),
        }),
        fingerprint,
    };
    let tasks = task_rows(app, &workflow, &run);
    let saved = engine
        .store
        .save(
            &run,
            previous.state_version,
            Lease::Keep,
            &tasks,
            Some((&command.task_id, &command.idempotency_key, &answer)),
            None,
        )
        .await;
    match saved {
        Ok(true) => {}
        Ok(false) | Err(_) => {
            // The same key decided concurrently (a retry): its answer is the answer.
            if let Some(answer) = replay(engine, &command, &answer.fingerprint).await? {
                return Ok(answer);
            }
            if let Err(error) = saved {
                return Err(error.into());
            }
            let current = engine.store.load(&run_id).await?.unwrap_or(previous);
            return Ok(Answer {
                status: 409,
                body: answer_body(&ResumeAnswer::Refused {
                    detail: "the run changed while your decision was recorded; read it again and decide on what it shows now".to_owned(),
                    run: run_view(app, &workflow, &current),
                }),
                fingerprint: String::new(),
            });
        }
    }
    if run.status == RunStatus::Running {
        kick(app, &run.id).await;
    }
    Ok(answer)
}

/// The stored answer to the command's key: replayed when the same person sent the same
/// decision, refused when the key was used for another decision or by someone else.
async fn replay(
    engine: &Workflows,
    command: &ResumeCommand,
    fingerprint: &str,
) -> Result<Option<Answer>, WorkflowError> {
    match engine
        .store
        .answer(&command.task_id, &command.idempotency_key)
        .await?
    {
        Some(answer) if answer.fingerprint == fingerprint => Ok(Some(answer)),
        Some(_) => Err(WorkflowError::Conflict(
            "this idempotency_key was used for another decision (or by someone else): choose a new key"
                .to_owned(),
        )),
        None => Ok(None),
    }
}

/// Cancels a run.
pub async fn cancel(
    app: &impl Host,
    run_id: &str,
    by: Option<&str>,
) -> Result<RunView, WorkflowError> {
    let engine = engine(app)?;
    for _ in 0..MAX_CONFLICTS {
        let (mut run, workflow) = load_run(engine, run_id).await?;
        if run.status.is_terminal() {
            return Err(WorkflowError::Conflict(format!(
                "the run has ended: it is {}",
                run.status.as_str()
            )));
        }
        let previous = run.clone();
        let now = engine.now();
        run.cancel(by, now);
        run.bump(now);
        let tasks = task_rows(app, &workflow, &run);
        if engine
            .store
            .save(
                &run,
                previous.state_version,
                Lease::Keep,
                &tasks,
                None,
                None,
            )
            .await?
        {
            publish_changes(app, &previous, &run, &[]);
            return Ok(run_view(app, &workflow, &run));
        }
    }
    Err(WorkflowError::Conflict(
        "the run keeps changing; try again".to_owned(),
    ))
}

/// An answer's body as stored (a retry with the same key is answered from the store).
fn answer_body(answer: &ResumeAnswer) -> Value {
    serde_json::to_value(answer).unwrap_or(Value::Null)
}
