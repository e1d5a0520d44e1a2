//! The `crud.workflows` events of a run: `started`, `waiting` per node that begins to wait, and
//! the run's end (`completed`, `failed`, `cancelled`), with the run's nodes and approvals in
//! `metadata` (masked by the publisher).

use chrono::Utc;
use civitas_events::{TraceContext, WorkflowData};
use civitas_kafka::EventContext;
use serde_json::{Map, Value, json};

use super::host::Host;
use super::run::{Run, RunStatus};

/// Publishes the events of a stored change: `waiting` per node that began to wait, and the
/// run's end.
pub(crate) fn publish_changes(app: &impl Host, previous: &Run, run: &Run, waiting: &[String]) {
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
