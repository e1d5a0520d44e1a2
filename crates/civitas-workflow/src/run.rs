//! A run's state and how it moves: pure functions over [`Run`] and its [`Workflow`], no I/O.
//! The [`engine`](super::engine) stores each new state before it acts on it.
//!
//! Rules (docs/workflows.md): a node is decided when every node with an edge into it has
//! finished; it runs when at least one of those edges fires (its `on` matches the source's
//! outcome and its condition is true), else it is SKIPPED. Nodes without edges in start the
//! run. After a fatal failure nothing new starts, waiting nodes are CANCELLED and the run is
//! FAILED once no command is in flight.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use civitas_events::UserContext;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::definition::{EdgeOn, NodeKind, OnError, Workflow};
use civitas_auth::authz::Grants;
use civitas_command::template::Templates;

/// Most timeline entries kept per run (the newest are kept).
const MAX_TIMELINE: usize = 500;
/// Largest command result kept in a run (its JSON): the run is rewritten at every step, and
/// a `list` can answer megabytes. A larger result is replaced by a note of its size.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Waiting => "WAITING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::from(text.to_ascii_uppercase())).ok()
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeStatus {
    Pending,
    Running,
    Waiting,
    Completed,
    Failed,
    Rejected,
    Expired,
    Skipped,
    Cancelled,
}

impl NodeStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            NodeStatus::Pending | NodeStatus::Running | NodeStatus::Waiting
        )
    }
}

/// An approval's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// One person's decision on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub decision: Decision,
    /// The caller's subject; null without caller authentication.
    pub by: Option<String>,
    /// The caller's `sub` (unique at its issuer): one decision per person is counted by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_id: Option<String>,
    pub at: DateTime<Utc>,
    /// What the approver sent along (masked when shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The approval state of an approval node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub task_id: String,
    pub title: Option<String>,
    pub required: u32,
    pub decisions: Vec<DecisionRecord>,
}

impl Approval {
    pub fn approvals(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| d.decision == Decision::Approve)
            .count()
    }
}

/// One node of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRun {
    pub status: NodeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How often its command was started.
    #[serde(default)]
    pub attempts: u32,
    /// When a waiting node wakes (wait) or expires (approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The `event_id` of the command's `crud.operations` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl NodeRun {
    fn pending() -> Self {
        Self {
            status: NodeStatus::Pending,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
            attempts: 0,
            deadline: None,
            approval: None,
            event_id: None,
        }
    }
}

/// One line of a run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub what: String,
}

/// A run: everything the engine knows about it, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub workflow_name: String,
    pub status: RunStatus,
    /// Raised by one with every stored change.
    pub state_version: i64,
    pub inputs: Value,
    #[serde(default)]
    pub vars: Map<String, Value>,
    pub nodes: BTreeMap<String, NodeRun>,
    /// The starter's subject.
    pub started_by: Option<String>,
    #[serde(default)]
    pub user_context: Option<UserContext>,
    /// The starter's claims: the actions run with them (checked against the policy at
    /// start and again for each command).
    #[serde(default)]
    pub grants: Option<Grants>,
    /// The start request's trace (`traceparent`), continued by the actions' events.
    #[serde(default)]
    pub traceparent: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// The node whose failure failed the run.
    #[serde(default)]
    pub failed_node: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

/// Who starts a run.
#[derive(Debug, Clone, Default)]
pub struct Starter {
    pub subject: Option<String>,
    pub user_context: Option<UserContext>,
    pub grants: Option<Grants>,
    pub traceparent: Option<String>,
}

/// What [`Run::advance`] asks the engine to do.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// Action nodes marked RUNNING, whose commands the engine now runs.
    pub start: Vec<String>,
    /// Nodes that began to wait (for `waiting` events).
    pub waiting: Vec<String>,
}

impl Run {
    /// A new run (version 1), every node PENDING.
    pub fn new(
        id: String,
        workflow: &Workflow,
        inputs: Value,
        starter: Starter,
        now: DateTime<Utc>,
    ) -> Self {
        let mut run = Self {
            id,
            workflow_name: workflow.name.clone(),
            status: RunStatus::Running,
            state_version: 1,
            inputs,
            vars: Map::new(),
            nodes: workflow
                .nodes
                .keys()
                .map(|id| (id.clone(), NodeRun::pending()))
                .collect(),
            started_by: starter.subject,
            user_context: starter.user_context,
            grants: starter.grants,
            traceparent: starter.traceparent,
            error: None,
            failed_node: None,
            created_at: now,
            updated_at: now,
            timeline: Vec::new(),
        };
        run.note(now, None, "started");
        run
    }

    /// Appends to the timeline (bounded: the oldest entries go).
    pub fn note(&mut self, at: DateTime<Utc>, node: Option<&str>, what: impl Into<String>) {
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(0);
        }
        self.timeline.push(TimelineEntry {
            at,
            node: node.map(str::to_owned),
            what: what.into(),
        });
    }

    /// Marks a change to store: the next `state_version`, changed now.
    pub fn bump(&mut self, now: DateTime<Utc>) {
        self.state_version += 1;
        self.updated_at = now;
    }

    /// The earliest deadline of a waiting node.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.nodes
            .values()
            .filter(|n| n.status == NodeStatus::Waiting)
            .filter_map(|n| n.deadline)
            .min()
    }

    /// The template context: `inputs`, `vars`, `nodes.<id>.{status,result,error}`, `run`.
    pub fn context(&self) -> Value {
        let nodes: Map<String, Value> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                let approvals = n.approval.as_ref().map(|a| {
                    a.decisions
                        .iter()
                        .map(|d| json!({"decision": d.decision, "by": d.by}))
                        .collect::<Vec<_>>()
                });
                (
                    id.clone(),
                    json!({
                        "status": n.status,
                        "result": n.result,
                        "error": n.error,
                        "decisions": approvals,
                    }),
                )
            })
            .collect();
        json!({
            "inputs": self.inputs,
            "vars": self.vars,
            "nodes": nodes,
            "run": {"id": self.id, "workflow": self.workflow_name, "started_by": self.started_by},
        })
    }

    fn fail(&mut self, node: &str, error: String, now: DateTime<Utc>) {
        if self.error.is_none() {
            self.note(now, Some(node), format!("failed the run: {error}"));
            self.error = Some(error);
            self.failed_node = Some(node.to_owned());
        }
    }

    /// Records a command's outcome (`Err`: the error message).
    pub fn finish_action(
        &mut self,
        workflow: &Workflow,
        node: &str,
        outcome: Result<(Value, Option<String>), String>,
        event_id: Option<String>,
        now: DateTime<Utc>,
    ) {
        let on_error = match workflow.nodes.get(node).map(|n| &n.kind) {
            Some(NodeKind::Action(a)) => a.on_error,
            _ => OnError::Fail,
        };
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        if state.status != NodeStatus::Running {
            return;
        }
        state.finished_at = Some(now);
        state.event_id = event_id;
        match outcome {
            Ok((result, _object_id)) => {
                state.status = NodeStatus::Completed;
                let size = serde_json::to_vec(&result).map_or(0, |bytes| bytes.len());
                state.result = Some(if size > MAX_RESULT_BYTES {
                    json!({"truncated": true, "bytes": size, "note": format!("a result larger than {MAX_RESULT_BYTES} bytes is not kept in the run; its crud.operations event has it")})
                } else {
                    result
                });
                self.note(now, Some(node), "completed");
            }
            Err(error) => {
                state.status = NodeStatus::Failed;
                state.error = Some(error.clone());
                self.note(now, Some(node), format!("failed: {error}"));
                if on_error == OnError::Fail {
                    self.fail(node, error, now);
                }
            }
        }
    }

    /// An action found RUNNING after a restart whose outcome is unknown and that must not
    /// run again: FAILED for an operator to check.
    pub fn interrupt_action(&mut self, workflow: &Workflow, node: &str, now: DateTime<Utc>) {
        let error = format!(
            "interrupted: the service stopped while this command ran, so its outcome is unknown; \
             look for its crud.operations event (correlation id {}) before you run it again",
            self.id
        );
        self.finish_action(workflow, node, Err(error), None, now);
    }

    /// An action found RUNNING after a restart that may run again.
    pub fn restart_action(&mut self, node: &str, now: DateTime<Utc>) {
        if let Some(state) = self.nodes.get_mut(node) {
            state.attempts += 1;
            state.started_at = Some(now);
        }
        self.note(now, Some(node), "started again after a restart");
    }

    /// Records one person's decision on an approval node; `true` when it settled the node.
    pub fn decide(
        &mut self,
        workflow: &Workflow,
        node: &str,
        record: DecisionRecord,
        now: DateTime<Utc>,
    ) -> bool {
        let has_edge = |on: EdgeOn| workflow.edges.iter().any(|e| e.from == node && e.on == on);
        let rejected_edge = has_edge(EdgeOn::Rejected);
        let Some(state) = self.nodes.get_mut(node) else {
            return false;
        };
        let Some(approval) = state.approval.as_mut() else {
            return false;
        };
        let decision = record.decision;
        let by = record.by.clone().unwrap_or_else(|| "anyone".to_owned());
        approval.decisions.push(record);
        let settled = match decision {
            Decision::Reject => {
                state.status = NodeStatus::Rejected;
                true
            }
            Decision::Approve => {
                if approval.approvals() >= approval.required as usize {
                    state.status = NodeStatus::Completed;
                    true
                } else {
                    false
                }
            }
        };
        if settled {
            state.finished_at = Some(now);
            state.deadline = None;
        }
        let verb = match decision {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        };
        self.note(now, Some(node), format!("{verb} by {by}"));
        if decision == Decision::Reject && !rejected_edge {
            self.fail(node, format!("approval '{node}' was rejected"), now);
        }
        settled
    }

    /// Wakes the waiting nodes whose deadline passed: a wait completes, an approval expires.
    pub fn wake(&mut self, workflow: &Workflow, now: DateTime<Utc>) -> bool {
        let due: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.status == NodeStatus::Waiting && n.deadline.is_some_and(|d| d <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            let is_approval = matches!(
                workflow.nodes.get(id).map(|n| &n.kind),
                Some(NodeKind::Approval(_))
            );
            let expired_edge = workflow
                .edges
                .iter()
                .any(|e| &e.from == id && e.on == EdgeOn::Expired);
            if let Some(state) = self.nodes.get_mut(id) {
                state.finished_at = Some(now);
                state.deadline = None;
                state.status = if is_approval {
                    NodeStatus::Expired
                } else {
                    NodeStatus::Completed
                };
            }
            if is_approval {
                self.note(now, Some(id), "expired");
                if !expired_edge {
                    self.fail(id, format!("approval '{id}' expired"), now);
                }
            } else {
                self.note(now, Some(id), "wait over");
            }
        }
        !due.is_empty()
    }

    /// Cancels the run: waiting and running nodes CANCELLED, the rest SKIPPED.
    pub fn cancel(&mut self, by: Option<&str>, now: DateTime<Utc>) {
        for state in self.nodes.values_mut() {
            match state.status {
                NodeStatus::Waiting | NodeStatus::Running => {
                    state.status = NodeStatus::Cancelled;
                    state.finished_at = Some(now);
                    state.deadline = None;
                }
                NodeStatus::Pending => state.status = NodeStatus::Skipped,
                _ => {}
            }
        }
        self.status = RunStatus::Cancelled;
        let what = format!("cancelled by {}", by.unwrap_or("anyone"));
        self.error = Some(what.clone());
        self.note(now, None, what);
    }

    /// Moves the run as far as it goes without waiting for a command, a person or a timer:
    /// decides pending nodes, evaluates `set` nodes, opens approvals and waits, and sets the
    /// run's status.
    pub fn advance(
        &mut self,
        workflow: &Workflow,
        templates: &Templates,
        now: DateTime<Utc>,
    ) -> Effects {
        let mut effects = Effects::default();
        if self.status.is_terminal() {
            return effects;
        }
        loop {
            let mut changed = false;
            let ids: Vec<String> = self.nodes.keys().cloned().collect();
            for id in &ids {
                if self.nodes[id].status != NodeStatus::Pending {
                    continue;
                }
                if self.error.is_some() {
                    self.set_status(id, NodeStatus::Skipped);
                    changed = true;
                    continue;
                }
                match self.decide_pending(workflow, templates, id) {
                    Readiness::NotYet => {}
                    Readiness::Skip => {
                        self.set_status(id, NodeStatus::Skipped);
                        self.note(now, Some(id), "skipped");
                        changed = true;
                    }
                    Readiness::Error(error) => {
                        self.fail_node(id, error, now);
                        changed = true;
                    }
                    Readiness::Run => {
                        self.activate(workflow, templates, id, now, &mut effects);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let any = |status| self.nodes.values().any(|n| n.status == status);
        if self.error.is_some() {
            for state in self.nodes.values_mut() {
                if state.status == NodeStatus::Waiting {
                    state.status = NodeStatus::Cancelled;
                    state.deadline = None;
                    state.finished_at = Some(now);
                }
            }
            self.status = if self.nodes.values().any(|n| n.status == NodeStatus::Running) {
                RunStatus::Running
            } else {
                RunStatus::Failed
            };
        } else if any(NodeStatus::Running) {
            self.status = RunStatus::Running;
        } else if any(NodeStatus::Waiting) {
            self.status = RunStatus::Waiting;
        } else {
            self.status = RunStatus::Completed;
        }
        if self.status.is_terminal() {
            self.note(now, None, self.status.as_str().to_lowercase());
        }
        effects
    }

    fn set_status(&mut self, id: &str, status: NodeStatus) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.status = status;
        }
    }

    fn decide_pending(&self, workflow: &Workflow, templates: &Templates, id: &str) -> Readiness {
        let incoming: Vec<_> = workflow.incoming(id).collect();
        if incoming.is_empty() {
            return Readiness::Run;
        }
        if incoming.iter().any(|e| {
            !self
                .nodes
                .get(&e.from)
                .is_some_and(|n| n.status.is_terminal())
        }) {
            return Readiness::NotYet;
        }
        let mut ctx = None;
        for edge in incoming {
            let source = &self.nodes[&edge.from];
            let continued = matches!(
                workflow.nodes.get(&edge.from).map(|n| &n.kind),
                Some(NodeKind::Action(a)) if a.on_error == OnError::Continue
            );
            let matches = match edge.on {
                EdgeOn::Finished => {
                    source.status == NodeStatus::Completed
                        || (continued && source.status == NodeStatus::Failed)
                }
                EdgeOn::Failed => source.status == NodeStatus::Failed,
                EdgeOn::Rejected => source.status == NodeStatus::Rejected,
                EdgeOn::Expired => source.status == NodeStatus::Expired,
            };
            if !matches {
                continue;
            }
            let Some(condition) = &edge.condition else {
                return Readiness::Run;
            };
            let ctx =
                ctx.get_or_insert_with(|| civitas_command::template::context(&self.context()));
            match templates.eval_expression("condition", condition, ctx) {
                Ok(value) if truthy(&value) => return Readiness::Run,
                Ok(_) => {}
                Err(e) => {
                    return Readiness::Error(format!(
                        "the condition of edge {} → {id} failed: {}",
                        edge.from, e.reason
                    ));
                }
            }
        }
        Readiness::Skip
    }

    fn activate(
        &mut self,
        workflow: &Workflow,
        templates: &Templates,
        id: &str,
        now: DateTime<Utc>,
        effects: &mut Effects,
    ) {
        let Some(node) = workflow.nodes.get(id) else {
            return;
        };
        // The template context, for the nodes that render something (not actions: their
        // command renders when it is sent).
        let context = || civitas_command::template::context(&self.context());
        let activated = match &node.kind {
            NodeKind::Action(_) => Activated::Command,
            NodeKind::Set(set) => {
                let ctx = context();
                let mut values = Map::new();
                let mut failed = None;
                for (name, expression) in &set.set {
                    match templates.eval_expression(name, expression, &ctx) {
                        Ok(value) => {
                            values.insert(name.clone(), value);
                        }
                        Err(e) => {
                            failed = Some(format!("set {name}: {}", e.reason));
                            break;
                        }
                    }
                }
                match failed {
                    Some(error) => Activated::Failed(error),
                    None => Activated::Set(values),
                }
            }
            NodeKind::Approval(approval) => {
                let ctx = context();
                let title = approval.title.as_ref().map(|t| {
                    templates
                        .render_string("title", t, &ctx)
                        .unwrap_or_else(|_| t.clone())
                });
                Activated::Approval {
                    deadline: approval
                        .ttl
                        .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
                        .map(|ttl| now + ttl),
                    approval: Approval {
                        task_id: uuid::Uuid::now_v7().to_string(),
                        title,
                        required: approval.required,
                        decisions: Vec::new(),
                    },
                }
            }
            NodeKind::Wait(wait) => {
                let deadline = match (&wait.duration, &wait.until) {
                    (Some(d), _) => chrono::Duration::from_std(*d).ok().map(|d| now + d),
                    (None, Some(until)) => templates
                        .render_string("until", until, &context())
                        .ok()
                        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                        .map(|t| t.with_timezone(&Utc)),
                    (None, None) => None,
                };
                match deadline {
                    Some(deadline) => Activated::Wait(deadline),
                    None => Activated::Failed("until is not an RFC 3339 time".to_owned()),
                }
            }
        };
        if let Activated::Failed(error) = activated {
            self.fail_node(id, error, now);
            return;
        }
        let Some(state) = self.nodes.get_mut(id) else {
            return;
        };
        state.started_at = Some(now);
        let what = match activated {
            Activated::Command => {
                state.status = NodeStatus::Running;
                state.attempts += 1;
                effects.start.push(id.to_owned());
                "started".to_owned()
            }
            Activated::Set(values) => {
                state.status = NodeStatus::Completed;
                state.finished_at = Some(now);
                state.result = Some(Value::Object(values.clone()));
                self.vars.extend(values);
                "completed".to_owned()
            }
            Activated::Approval { deadline, approval } => {
                state.status = NodeStatus::Waiting;
                state.deadline = deadline;
                state.approval = Some(approval);
                effects.waiting.push(id.to_owned());
                "waiting for approval".to_owned()
            }
            Activated::Wait(deadline) => {
                state.status = NodeStatus::Waiting;
                state.deadline = Some(deadline);
                effects.waiting.push(id.to_owned());
                format!("waiting until {}", deadline.to_rfc3339())
            }
            Activated::Failed(_) => return,
        };
        self.note(now, Some(id), what);
    }

    /// A node that failed by itself (a condition, a `set`, an `until`): FAILED, and the run
    /// fails.
    fn fail_node(&mut self, id: &str, error: String, now: DateTime<Utc>) {
        if let Some(state) = self.nodes.get_mut(id) {
            state.status = NodeStatus::Failed;
            state.error = Some(error.clone());
        }
        self.fail(id, error, now);
    }
}

/// What a node does when it becomes ready.
enum Activated {
    /// An action: its command is sent.
    Command,
    /// A `set` node's values.
    Set(Map<String, Value>),
    Approval {
        deadline: Option<DateTime<Utc>>,
        approval: Approval,
    },
    Wait(DateTime<Utc>),
    Failed(String),
}

enum Readiness {
    NotYet,
    Run,
    Skip,
    Error(String),
}

/// Jinja's truth: false, null, 0, "" and empty lists and maps are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::workflow;
    use chrono::TimeZone;

    const TWO_STEPS: &str = r#"
name: two-steps
nodes:
  create:
    type: action
    config: {system: local, object_type: user, action: create, params: {username: "{{ inputs.username }}"}}
  read:
    type: action
    depends_on: [create]
    config: {system: local, object_type: user, action: read, object_id: "{{ inputs.username }}"}
"#;

    const APPROVAL: &str = r#"
name: approval
nodes:
  ask:
    type: approval
    config: {approvers: {subjects: [boss]}, required: 1, ttl: 1h}
  create:
    type: action
    depends_on: [ask]
    config: {system: local, object_type: user, action: create, params: {username: x}}
"#;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0)
            .single()
            .unwrap()
    }

    fn started(workflow: &Workflow) -> (Run, Effects) {
        let mut run = Run::new(
            "run-1".into(),
            workflow,
            serde_json::json!({"username": "anna"}),
            Starter::default(),
            at(0),
        );
        let effects = run.advance(workflow, &Templates::new(), at(0));
        (run, effects)
    }

    fn decision(decision: Decision, by: &str) -> DecisionRecord {
        DecisionRecord {
            decision,
            by: Some(by.into()),
            by_id: Some(by.into()),
            at: at(1),
            data: None,
        }
    }

    #[test]
    fn a_new_run_starts_its_first_action_and_leaves_the_next_pending() {
        let wf = workflow(TWO_STEPS);
        let (run, effects) = started(&wf);
        assert_eq!(effects.start, ["create"]);
        assert_eq!(run.nodes["create"].status, NodeStatus::Running);
        assert_eq!(run.nodes["read"].status, NodeStatus::Pending);
        assert_eq!(run.status, RunStatus::Running);
    }

    #[test]
    fn a_finished_action_starts_the_next_and_the_last_one_completes_the_run() {
        let wf = workflow(TWO_STEPS);
        let templates = Templates::new();
        let (mut run, _) = started(&wf);
        run.finish_action(
            &wf,
            "create",
            Ok((serde_json::json!({"id": 1}), None)),
            None,
            at(1),
        );
        assert_eq!(run.advance(&wf, &templates, at(1)).start, ["read"]);
        run.finish_action(&wf, "read", Ok((serde_json::json!({}), None)), None, at(2));
        run.advance(&wf, &templates, at(2));
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(
            run.nodes["create"].result,
            Some(serde_json::json!({"id": 1}))
        );
    }

    #[test]
    fn a_failed_action_fails_the_run_and_skips_what_would_follow() {
        let wf = workflow(TWO_STEPS);
        let (mut run, _) = started(&wf);
        run.finish_action(&wf, "create", Err("409 exists".into()), None, at(1));
        run.advance(&wf, &Templates::new(), at(1));
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.failed_node.as_deref(), Some("create"));
        assert_eq!(run.nodes["read"].status, NodeStatus::Skipped);
    }

    #[test]
    fn an_action_outcome_that_arrives_for_a_node_not_running_changes_nothing() {
        let wf = workflow(TWO_STEPS);
        let (mut run, _) = started(&wf);
        let before = run.clone();
        run.finish_action(&wf, "read", Ok((serde_json::json!({}), None)), None, at(1));
        assert_eq!(run, before);
    }

    #[test]
    fn an_approval_waits_until_its_approver_decides_then_the_run_goes_on() {
        let wf = workflow(APPROVAL);
        let (mut run, effects) = started(&wf);
        assert!(effects.start.is_empty());
        assert_eq!(effects.waiting, ["ask"]);
        assert_eq!(run.status, RunStatus::Waiting);
        assert_eq!(run.next_deadline(), Some(at(3600)));
        assert!(run.decide(&wf, "ask", decision(Decision::Approve, "boss"), at(1)));
        assert_eq!(run.nodes["ask"].status, NodeStatus::Completed);
        assert_eq!(run.advance(&wf, &Templates::new(), at(1)).start, ["create"]);
    }

    #[test]
    fn a_rejection_without_a_rejected_edge_fails_the_run() {
        let wf = workflow(APPROVAL);
        let (mut run, _) = started(&wf);
        assert!(run.decide(&wf, "ask", decision(Decision::Reject, "boss"), at(1)));
        assert_eq!(run.nodes["ask"].status, NodeStatus::Rejected);
        assert_eq!(run.error.as_deref(), Some("approval 'ask' was rejected"));
    }

    #[test]
    fn an_approval_past_its_ttl_expires_when_the_run_is_woken() {
        let wf = workflow(APPROVAL);
        let (mut run, _) = started(&wf);
        assert!(!run.wake(&wf, at(3599)));
        assert!(run.wake(&wf, at(3600)));
        assert_eq!(run.nodes["ask"].status, NodeStatus::Expired);
        assert_eq!(run.error.as_deref(), Some("approval 'ask' expired"));
    }

    #[test]
    fn a_cancelled_run_cancels_what_waits_and_skips_what_is_pending() {
        let wf = workflow(APPROVAL);
        let (mut run, _) = started(&wf);
        run.cancel(Some("anna"), at(5));
        assert_eq!(run.status, RunStatus::Cancelled);
        assert_eq!(run.nodes["ask"].status, NodeStatus::Cancelled);
        assert_eq!(run.nodes["create"].status, NodeStatus::Skipped);
        assert_eq!(run.error.as_deref(), Some("cancelled by anna"));
    }
}
