//! What people do to a run: decide one of its tasks (over the state version they saw, with
//! an idempotency key) and cancel it. Each change is stored before anything follows from it;
//! the driver (here or on another instance) goes on from there.

use serde_json::Value;

use super::api::{ResumeAnswer, RunView, TaskStatus, run_view, task_view};
use super::definition::Workflow;
use super::engine::{MAX_CONFLICTS, Workflows, engine, kick, load_run, task_rows};
use super::error::WorkflowError;
use super::events::publish_changes;
use super::host::Host;
use super::run::{Decision, DecisionRecord, NodeStatus, Run, RunStatus};
use super::store::{Answer, Lease};

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
