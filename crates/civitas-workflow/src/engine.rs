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

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::Notify;

use super::api::{TaskStatus, task_view};
use super::command::{Finished, run_action};
use super::definition::{NodeKind, OnInterrupted, Workflow};
use super::error::WorkflowError;
use super::events::{publish, publish_changes};
use super::host::Host;
use super::run::{NodeStatus, Run, RunStatus, Starter};
use super::store::{Lease, StoreError, TaskRow};
use super::workflows::LEASE;
pub use super::workflows::Workflows;

/// How often a driver renews its lease while commands run.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Conflicting writes retried before a driver gives the run up (another instance has it).
pub(crate) const MAX_CONFLICTS: usize = 20;
/// Times a `rerun` command is sent before an interruption fails it.
const MAX_ATTEMPTS: u32 = 3;
/// Seconds a driver retries a failing database before it gives a run up.
const STORE_RETRIES: u32 = 20;
/// Runs taken over per scheduler tick.
const DUE_BATCH: i64 = 100;

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
