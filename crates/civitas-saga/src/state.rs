//! The saga as stored: its status, its steps' states, its timeline. The transitions are
//! [`machine`](crate::machine)'s; the store keeps this as JSON.

use chrono::{DateTime, Utc};
use civitas_events::saga::{
    DatasetCreateRequested, Resource, ResultStatus, StepError, StepFailure, StepOperation,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Status of a saga (the real platform's set).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SagaStatus {
    /// Accepted, no step dispatched yet.
    Pending,
    /// A step is running.
    Executing,
    /// Every step succeeded (or was skipped).
    Completed,
    /// A step failed; earlier steps are being undone.
    Compensating,
    /// A step failed and every undo succeeded.
    Compensated,
    /// A step failed and at least one undo failed: an operator must act.
    CompensationFailed,
    /// A step failed before anything was created; nothing to undo.
    Failed,
}

impl SagaStatus {
    /// The name as stored and printed, e.g. `COMPENSATION_FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Executing => "EXECUTING",
            Self::Completed => "COMPLETED",
            Self::Compensating => "COMPENSATING",
            Self::Compensated => "COMPENSATED",
            Self::CompensationFailed => "COMPENSATION_FAILED",
            Self::Failed => "FAILED",
        }
    }

    /// Whether the saga has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Compensated | Self::CompensationFailed | Self::Failed
        )
    }
}

impl std::fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Status of one step.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    Pending,
    /// Command sent (or to be re-sent on resume); waiting for the result or the deadline.
    Dispatched,
    Succeeded,
    Failed,
    /// No result before the deadline.
    TimedOut,
    /// Compensation sent; waiting for its result.
    Compensating,
    Compensated,
    CompensationFailed,
    /// The step's condition was false for this request.
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Dispatched => "DISPATCHED",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Compensating => "COMPENSATING",
            Self::Compensated => "COMPENSATED",
            Self::CompensationFailed => "COMPENSATION_FAILED",
            Self::Skipped => "SKIPPED",
        }
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A compensation in flight or done.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CompensationState {
    pub command_id: String,
    pub command: Value,
    pub dispatched_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dispatches: u32,
    pub error: Option<StepError>,
}

/// A result that came after its step had timed out (or its compensation had): kept for the
/// record, without effect on the saga.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LateResult {
    pub received_at: DateTime<Utc>,
    pub message_id: String,
    pub operation: StepOperation,
    pub status: ResultStatus,
    pub error: Option<StepError>,
    pub resources: Vec<Resource>,
}

/// One step of a saga instance.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepState {
    pub step_id: String,
    pub status: StepStatus,
    pub command_id: Option<String>,
    /// The command as sent, re-sent unchanged on resume.
    pub command: Option<Value>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// How often the command was sent (more than 1 after a restart).
    pub dispatches: u32,
    /// HTTP tries the adapter reported.
    pub attempts: u32,
    pub resources: Vec<Resource>,
    pub error: Option<StepError>,
    pub compensation: Option<CompensationState>,
    pub late_results: Vec<LateResult>,
}

impl StepState {
    pub(crate) fn new(step_id: &str) -> Self {
        Self {
            step_id: step_id.to_owned(),
            status: StepStatus::Pending,
            command_id: None,
            command: None,
            dispatched_at: None,
            deadline: None,
            finished_at: None,
            dispatches: 0,
            attempts: 0,
            resources: Vec::new(),
            error: None,
            compensation: None,
            late_results: Vec::new(),
        }
    }

    pub fn created(&self) -> Vec<Resource> {
        self.resources
            .iter()
            .filter(|r| r.created)
            .cloned()
            .collect()
    }

    pub fn reused(&self) -> Vec<Resource> {
        self.resources
            .iter()
            .filter(|r| !r.created)
            .cloned()
            .collect()
    }
}

/// One line of a saga's history, for `civitas saga show`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A saga instance: everything the orchestrator knows about one dataset's provisioning.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Saga {
    pub saga_id: String,
    pub definition: String,
    pub dataset_id: String,
    /// `messageId` of the request that started it.
    pub request_id: String,
    /// Carried as `ce_correlationid` on every message of the saga.
    pub correlation_id: String,
    pub traceparent: Option<String>,
    pub request: DatasetCreateRequested,
    pub status: SagaStatus,
    pub steps: Vec<StepState>,
    /// The step whose failure ended the forward path, and why.
    pub failure: Option<StepFailure>,
    /// Steps still to compensate, next first.
    pub to_compensate: Vec<String>,
    pub interventions: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Bumped on every change; the store writes only over the version it read.
    pub version: i64,
    pub timeline: Vec<TimelineEntry>,
}

impl Saga {
    /// The earliest deadline of a step or compensation in flight.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.steps
            .iter()
            .filter_map(|s| match s.status {
                StepStatus::Dispatched => s.deadline,
                StepStatus::Compensating => s.compensation.as_ref().and_then(|c| c.deadline),
                _ => None,
            })
            .min()
    }

    /// The steps whose deadline has passed at `now`.
    pub fn expired_steps(&self, now: DateTime<Utc>) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| {
                let deadline = match s.status {
                    StepStatus::Dispatched => s.deadline,
                    StepStatus::Compensating => s.compensation.as_ref().and_then(|c| c.deadline),
                    _ => None,
                };
                deadline.is_some_and(|d| d <= now)
            })
            .map(|s| s.step_id.clone())
            .collect()
    }

    /// Steps that succeeded (or were skipped), out of all.
    pub fn steps_done(&self) -> (usize, usize) {
        let done = self
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Skipped))
            .count();
        (done, self.steps.len())
    }

    pub(crate) fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.step_id == id)
    }
}
