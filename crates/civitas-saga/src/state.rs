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

/// A command sent to an adapter: the fields that exist together or not at all.
///
/// Stored flattened into its step (or compensation), so the JSON keeps the shape of earlier
/// versions (`commandId`, `command`, `dispatchedAt`, `deadline`, `dispatches`); a step stored
/// before it was dispatched (those fields null) reads as `None`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    pub command_id: String,
    /// The command as sent, re-sent unchanged on resume.
    pub command: Value,
    pub dispatched_at: DateTime<Utc>,
    /// Until when a result is awaited; `None` once it came or the deadline passed.
    pub deadline: Option<DateTime<Utc>>,
    /// How often the command was sent (more than 1 after a restart).
    pub dispatches: u32,
}

impl Dispatch {
    /// The result came, or the deadline passed: nothing is awaited any more.
    pub(crate) fn settle(dispatch: Option<&mut Dispatch>) {
        if let Some(dispatch) = dispatch {
            dispatch.deadline = None;
        }
    }

    /// Sends the command again (after a restart), awaited until `deadline`: its id and message.
    pub(crate) fn resend(&mut self, deadline: DateTime<Utc>) -> (String, Value) {
        self.deadline = Some(deadline);
        self.dispatches += 1;
        (self.command_id.clone(), self.command.clone())
    }

    /// Whether `command_id` names this command.
    pub(crate) fn is(dispatch: Option<&Dispatch>, command_id: &str) -> bool {
        dispatch.is_some_and(|d| d.command_id == command_id)
    }

    /// A command sent once, now, awaited until `deadline`.
    pub(crate) fn first(
        command_id: String,
        command: Value,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Self {
        Self {
            command_id,
            command,
            dispatched_at: now,
            deadline: Some(deadline),
            dispatches: 1,
        }
    }
}

/// A compensation in flight or done. `dispatch` is `None` when its command could not be
/// built (the compensation failed without being sent).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CompensationState {
    #[serde(flatten)]
    pub dispatch: Option<Dispatch>,
    pub finished_at: Option<DateTime<Utc>>,
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
    /// The step's command, once sent.
    #[serde(flatten)]
    pub dispatch: Option<Dispatch>,
    pub finished_at: Option<DateTime<Utc>>,
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
            dispatch: None,
            finished_at: None,
            attempts: 0,
            resources: Vec::new(),
            error: None,
            compensation: None,
            late_results: Vec::new(),
        }
    }

    /// The deadline of the command in flight: the step's while it is dispatched, its
    /// compensation's while that is.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        match self.status {
            StepStatus::Dispatched => self.dispatch.as_ref()?.deadline,
            StepStatus::Compensating => self.compensation.as_ref()?.dispatch.as_ref()?.deadline,
            _ => None,
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
        self.steps.iter().filter_map(StepState::deadline).min()
    }

    /// The steps whose deadline has passed at `now`.
    pub fn expired_steps(&self, now: DateTime<Utc>) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.deadline().is_some_and(|d| d <= now))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Steps as versions before [`Dispatch`] stored them: flat, nullable fields.
    #[test]
    fn steps_stored_by_earlier_versions_read_the_same() {
        let pending = json!({
            "stepId": "frost-project", "status": "PENDING", "commandId": null, "command": null,
            "dispatchedAt": null, "deadline": null, "finishedAt": null, "dispatches": 0,
            "attempts": 0, "resources": [], "error": null, "compensation": null,
            "lateResults": []
        });
        let step: StepState = serde_json::from_value(pending).unwrap();
        assert_eq!(step, StepState::new("frost-project"));

        let dispatched = json!({
            "stepId": "frost-project", "status": "DISPATCHED", "commandId": "s:frost-project:create",
            "command": {"a": 1}, "dispatchedAt": "2026-01-01T00:00:00Z",
            "deadline": "2026-01-01T00:00:30Z", "finishedAt": null, "dispatches": 2,
            "attempts": 0, "resources": [], "error": null, "compensation": null,
            "lateResults": []
        });
        let step: StepState = serde_json::from_value(dispatched.clone()).unwrap();
        let dispatch = step.dispatch.as_ref().unwrap();
        assert_eq!(dispatch.command_id, "s:frost-project:create");
        assert_eq!(dispatch.command, json!({"a": 1}));
        assert_eq!(dispatch.dispatches, 2);
        assert_eq!(
            step.deadline(),
            Some("2026-01-01T00:00:30Z".parse().unwrap())
        );
        // And is written back in the same shape.
        assert_eq!(serde_json::to_value(&step).unwrap(), dispatched);
    }

    #[test]
    fn a_compensation_that_could_not_be_built_has_no_dispatch() {
        let stored = json!({
            "commandId": "s:x:delete", "command": null, "dispatchedAt": "2026-01-01T00:00:00Z",
            "deadline": null, "finishedAt": "2026-01-01T00:00:00Z", "dispatches": 0,
            "error": null
        });
        // Earlier versions stored a null command; it still reads (as a dispatch never sent).
        let old: CompensationState = serde_json::from_value(stored).unwrap();
        assert_eq!(old.dispatch.unwrap().dispatches, 0);
        let now = CompensationState {
            dispatch: None,
            finished_at: None,
            error: None,
        };
        let json = serde_json::to_value(&now).unwrap();
        assert_eq!(json, json!({"finishedAt": null, "error": null}));
        assert_eq!(
            serde_json::from_value::<CompensationState>(json).unwrap(),
            now
        );
    }
}
