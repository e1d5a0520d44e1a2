//! The workflow API's types: what `/workflows`, `/workflow/*` and `/tasks` answer, typed, so
//! the OpenAPI document is generated from what is sent, and the `civitas workflow` CLI reads
//! the same types. The views mask inputs, results and decision data.
//!
//! Builders here are pure: a run and its workflow in, a view out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::definition::{NodeKind, Workflow};
use super::host::Host;
use super::run::{Decision, NodeStatus, Run, RunStatus, TimelineEntry};

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

impl TaskStatus {
    /// The status of the task of an approval node in `status`.
    pub fn of(status: NodeStatus) -> Self {
        match status {
            NodeStatus::Waiting => TaskStatus::Pending,
            NodeStatus::Completed => TaskStatus::Approved,
            NodeStatus::Rejected => TaskStatus::Rejected,
            NodeStatus::Expired => TaskStatus::Expired,
            _ => TaskStatus::Cancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Approved => "APPROVED",
            TaskStatus::Rejected => "REJECTED",
            TaskStatus::Expired => "EXPIRED",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }

    /// The status named `text` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        [
            TaskStatus::Pending,
            TaskStatus::Approved,
            TaskStatus::Rejected,
            TaskStatus::Expired,
            TaskStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

/// `POST /workflow/start`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// A configured workflow (`GET /workflows`).
    pub workflow_name: String,
    /// The inputs, checked against the workflow's `inputs` schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A started run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StartResponse {
    /// The run id; also the correlation id of all its events.
    pub id: String,
    pub workflow_name: String,
    pub status: RunStatus,
    pub state_version: i64,
    /// Where to read it.
    pub status_url: String,
}

/// `POST /workflow/resume/{task_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    pub decision: Decision,
    /// Anything the approver sends along (a comment); masked when shown.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// The run's `state_version` the decision was made on (also the `If-Match` header).
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 900_000_000_000_000_i64)]
    pub state_version: i64,
    /// Chosen by the caller, the same on a retry: a repeated key gets the first answer.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub idempotency_key: String,
}

/// The largest `state_version` accepted (the schema says so too). Far beyond any real run;
/// small enough that `N.0` parses exactly (serde_json's float parsing is exact only while
/// the digits fit 2^53: `-4402453502646698.0` came out as `…697.5`, a schema-valid request
/// refused).
const MAX_STATE_VERSION: i64 = 900_000_000_000_000;

/// An integer from 0 to [`MAX_STATE_VERSION`], also when written `7.0` (JSON Schema's
/// `integer` allows it).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    let whole = match number.as_i64() {
        Some(n) => Some(n),
        None => number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_STATE_VERSION as f64)
            .map(|f| f as i64),
    };
    match whole {
        Some(n) if (0..=MAX_STATE_VERSION).contains(&n) => Ok(n),
        Some(_) => Err(serde::de::Error::custom(format!(
            "{number} is out of range: a state_version is 0 to {MAX_STATE_VERSION}"
        ))),
        None => Err(serde::de::Error::custom(format!(
            "{number} is not a whole number"
        ))),
    }
}

/// `GET /workflows`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowInfo>,
}

/// A configured workflow.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkflowInfo {
    pub name: String,
    pub description: Option<String>,
    /// The JSON Schema of its inputs (null: any object).
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
    pub nodes: Vec<NodeInfo>,
}

/// A node of a workflow definition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    pub id: String,
    /// action, approval, wait, condition, …
    #[serde(rename = "type")]
    pub kind: String,
}

/// One person's decision, as shown (its data masked).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub decision: Decision,
    /// The decider's subject; null without caller authentication.
    pub by: Option<String>,
    pub at: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// Who may decide a task: any one of these.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApproversView {
    pub subjects: Vec<String>,
    pub group: Option<String>,
    pub role: Option<String>,
    pub allow_initiator: bool,
}

/// An approval task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub task_id: String,
    /// Always `approval`.
    #[serde(rename = "type")]
    pub kind: String,
    pub run_id: String,
    pub workflow_name: String,
    /// The approval node.
    pub node: String,
    pub status: TaskStatus,
    /// What the approvers are asked (masked).
    pub title: Option<String>,
    /// Approvals needed.
    pub required: u32,
    /// Approvals given.
    pub approvals: u32,
    pub decisions: Vec<DecisionView>,
    pub allowed_decisions: Vec<Decision>,
    pub approvers: Option<ApproversView>,
    /// True without caller authentication: anyone may decide.
    pub open_to_anyone: bool,
    pub started_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The headers a resume sends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResumeHeaders {
    /// The run's state_version.
    #[serde(rename = "If-Match")]
    pub if_match: String,
    #[serde(
        rename = "Content-Type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
}

/// The body a resume sends, spelled out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResumeBodyHint {
    /// `approve | reject`.
    pub decision: String,
    pub state_version: i64,
    pub idempotency_key: String,
}

/// How to decide a task: the request to send.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResumeHint {
    /// Always `POST`.
    pub method: String,
    pub url: String,
    pub headers: ResumeHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ResumeBodyHint>,
}

/// A task the run waits for, with the request that decides it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequiredAction {
    #[serde(flatten)]
    pub task: TaskView,
    pub resume: ResumeHint,
}

/// A task in `GET /tasks` and `GET /tasks/{id}`: with the run's version, whether the caller
/// may decide it, and how.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskItem {
    #[serde(flatten)]
    pub task: TaskView,
    pub state_version: i64,
    pub you_may_decide: bool,
    pub resume: ResumeHint,
}

/// `GET /tasks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskItem>,
}

/// A run in a list: id, workflow, status, version, who and when, its error, what it waits on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub workflow_name: String,
    pub status: RunStatus,
    pub state_version: i64,
    pub started_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
    /// The nodes it waits at.
    pub waiting_on: Vec<String>,
}

/// `GET /workflow/runs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
}

/// A node of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: NodeStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// The command's result (masked).
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
    /// The `event_id` of the command's `crud.operations` event.
    pub event_id: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// An approval node's task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskView>,
}

/// A run as `GET /workflow/status/{id}` shows it: inputs, variables and results masked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub failed_node: Option<String>,
    #[schema(value_type = Object)]
    pub inputs: Value,
    #[schema(value_type = Object)]
    pub vars: Value,
    pub nodes: Vec<NodeView>,
    /// The first of `required_actions`.
    pub required_action: Option<RequiredAction>,
    pub required_actions: Vec<RequiredAction>,
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<TimelineEntry>,
}

/// What `POST /workflow/resume/{task_id}` answers (and answers again to a retry with the
/// same key).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ResumeAnswer {
    /// 409: not recorded, with the run as it is now.
    Refused { detail: String, run: RunView },
    /// 200: the decision is recorded.
    Decided {
        task: Option<Box<TaskView>>,
        run: RunView,
    },
}

/// The task of approval node `node_id` of `run`; `None` when the node has none.
pub fn task_view(
    app: &impl Host,
    workflow: &Workflow,
    run: &Run,
    node_id: &str,
) -> Option<TaskView> {
    let node = run.nodes.get(node_id)?;
    let approval = node.approval.as_ref()?;
    let approvers = match workflow.nodes.get(node_id).map(|n| &n.kind) {
        Some(NodeKind::Approval(a)) => Some(ApproversView {
            subjects: a.approvers.subjects.clone(),
            group: a.approvers.group.clone(),
            role: a.approvers.role.clone(),
            allow_initiator: a.allow_initiator,
        }),
        _ => None,
    };
    let masker = app.masker();
    Some(TaskView {
        task_id: approval.task_id.clone(),
        kind: "approval".to_owned(),
        run_id: run.id.clone(),
        workflow_name: run.workflow_name.clone(),
        node: node_id.to_owned(),
        status: TaskStatus::of(node.status),
        title: approval
            .title
            .as_deref()
            .map(|t| masker.mask_text(t).unwrap_or_else(|| t.to_owned())),
        required: approval.required,
        approvals: u32::try_from(approval.approvals()).unwrap_or(u32::MAX),
        decisions: approval
            .decisions
            .iter()
            .map(|d| DecisionView {
                decision: d.decision,
                by: d.by.clone(),
                at: d.at,
                data: d.data.as_ref().map(|v| masker.masked(v)),
            })
            .collect(),
        allowed_decisions: vec![Decision::Approve, Decision::Reject],
        approvers,
        open_to_anyone: !app.authenticates_callers(),
        started_by: run.started_by.clone(),
        created_at: node.started_at,
        expires_at: node.deadline,
    })
}

/// A run in a list.
pub fn run_summary(run: &Run) -> RunSummary {
    RunSummary {
        id: run.id.clone(),
        workflow_name: run.workflow_name.clone(),
        status: run.status,
        state_version: run.state_version,
        started_by: run.started_by.clone(),
        created_at: run.created_at,
        updated_at: run.updated_at,
        error: run.error.clone(),
        waiting_on: run
            .nodes
            .iter()
            .filter(|(_, n)| n.status == NodeStatus::Waiting)
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// A run with its nodes, in the order they started (then by id), and what it waits for.
pub fn run_view(app: &impl Host, workflow: &Workflow, run: &Run) -> RunView {
    let masker = app.masker();
    let mut order: Vec<(&String, &super::run::NodeRun)> = run.nodes.iter().collect();
    order.sort_by_key(|(id, n)| (n.started_at.is_none(), n.started_at, id.to_string()));
    let nodes = order
        .into_iter()
        .map(|(id, n)| NodeView {
            id: id.clone(),
            kind: workflow
                .nodes
                .get(id)
                .map_or("unknown", |d| d.kind.type_name())
                .to_owned(),
            status: n.status,
            started_at: n.started_at,
            finished_at: n.finished_at,
            attempts: n.attempts,
            result: n.result.as_ref().map(|r| masker.masked(r)),
            error: n.error.clone(),
            event_id: n.event_id.clone(),
            deadline: n.deadline,
            task: n
                .approval
                .as_ref()
                .and_then(|_| task_view(app, workflow, run, id)),
        })
        .collect();
    let required: Vec<RequiredAction> = run
        .nodes
        .iter()
        .filter(|(_, n)| n.status == NodeStatus::Waiting && n.approval.is_some())
        .filter_map(|(id, _)| task_view(app, workflow, run, id))
        .map(|task| RequiredAction {
            resume: ResumeHint {
                method: "POST".to_owned(),
                url: format!("/workflow/resume/{}", task.task_id),
                headers: ResumeHeaders {
                    if_match: run.state_version.to_string(),
                    content_type: Some("application/json".to_owned()),
                },
                body: Some(ResumeBodyHint {
                    decision: "approve | reject".to_owned(),
                    state_version: run.state_version,
                    idempotency_key: "<a key of your choosing, the same on a retry>".to_owned(),
                }),
            },
            task,
        })
        .collect();
    RunView {
        summary: run_summary(run),
        failed_node: run.failed_node.clone(),
        inputs: masker.masked(&run.inputs),
        vars: masker.masked(&Value::Object(run.vars.clone())),
        nodes,
        required_action: required.first().cloned(),
        required_actions: required,
        timeline: run.timeline.clone(),
    }
}

/// A task in a list, for a caller who `may_decide` it or not.
pub fn task_item(task: TaskView, run: &Run, may_decide: bool) -> TaskItem {
    TaskItem {
        resume: ResumeHint {
            method: "POST".to_owned(),
            url: format!("/workflow/resume/{}", task.task_id),
            headers: ResumeHeaders {
                if_match: run.state_version.to_string(),
                content_type: None,
            },
            body: None,
        },
        task,
        state_version: run.state_version,
        you_may_decide: may_decide,
    }
}

/// The configured workflows.
pub fn workflow_list<'a>(
    workflows: impl Iterator<Item = &'a std::sync::Arc<Workflow>>,
) -> WorkflowList {
    WorkflowList {
        workflows: workflows
            .map(|w| WorkflowInfo {
                name: w.name.clone(),
                description: w.description.clone(),
                inputs: w.input_schema.clone(),
                nodes: w
                    .nodes
                    .values()
                    .map(|n| NodeInfo {
                        id: n.id.clone(),
                        kind: n.kind.type_name().to_owned(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
