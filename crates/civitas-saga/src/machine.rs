//! The orchestrator as a pure state machine: [`handle`] takes the saga as stored (or none),
//! one [`Input`] and the time, and returns the new saga and the [`Command`]s to carry out.
//! The stored state is [`state`](crate::state)'s; what a finished saga announces is built by
//! its [`SagaDefinition`] (`completed`, `failed`).
//! No I/O, no clock, no randomness: every id it makes derives from the saga id, so the same
//! input on the same state gives the same output (the driver relies on that to retry).
//!
//! Rules (docs/saga.md): steps run one at a time in definition order; a step whose
//! condition is false is SKIPPED; a failure (or a timeout) compensates the steps that
//! succeeded, in reverse order, one at a time, best effort (a failed compensation does not
//! stop the others); nothing succeeded → FAILED with no compensation; a failed compensation →
//! COMPENSATION_FAILED and an intervention record naming the stale resources; a result that
//! arrives after its step timed out is recorded and ignored; duplicates change nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    DatasetCreateCompleted, DatasetCreateFailed, DatasetCreateRequested, InterventionRequired,
    Resource, ResultStatus, StepError, StepFailure, StepOperation, StepResult,
};
use serde_json::Value;

use crate::definition::{CommandContext, SagaDefinition};
pub use crate::state::{
    CompensationState, Dispatch, LateResult, Saga, SagaStatus, StepState, StepStatus, TimelineEntry,
};

/// What the orchestrator reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A `dataset.create.requested`; `saga_id` is the id to use if this starts a saga.
    Requested {
        saga_id: String,
        request: DatasetCreateRequested,
        correlation_id: Option<String>,
        traceparent: Option<String>,
    },
    /// A result of a step's command.
    StepResult(StepResult),
    /// A result of a step's compensation.
    CompensationResult(StepResult),
    /// The timer found the step's (or its compensation's) deadline passed.
    StepTimedOut { saga_id: String, step_id: String },
    /// The orchestrator (re)started: re-send what is in flight, re-announce the outcome.
    Resume { saga_id: String },
}

impl Input {
    /// A result as the input its operation makes it.
    pub fn from_result(result: StepResult) -> Self {
        match result.operation {
            StepOperation::Create => Self::StepResult(result),
            StepOperation::Delete => Self::CompensationResult(result),
        }
    }
}

/// What the driver must do after persisting the new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send a step's command or compensation.
    Dispatch {
        topic: String,
        step_id: String,
        message_id: String,
        message: Value,
    },
    PublishCompleted {
        topic: String,
        message: DatasetCreateCompleted,
    },
    PublishFailed {
        topic: String,
        message: DatasetCreateFailed,
    },
    PublishIntervention {
        topic: String,
        message: InterventionRequired,
    },
    /// A deadline to watch; it is part of the persisted state, so the timer finds it
    /// after a restart too.
    ScheduleTimeout {
        step_id: String,
        deadline: DateTime<Utc>,
    },
}

/// The pure transition: `(state, input, now) → (new state, commands)`.
///
/// - `state` is `None` only for a request that starts a saga; any other input without a
///   saga returns `(None, [])`.
/// - The returned saga's `version` is one more than before when anything changed; equal
///   when the input was a duplicate, a stray or otherwise without effect.
pub fn handle(
    definition: &SagaDefinition,
    state: Option<Saga>,
    input: Input,
    now: DateTime<Utc>,
) -> (Option<Saga>, Vec<Command>) {
    let saga = match state {
        Some(saga) => saga,
        None => match input {
            Input::Requested {
                saga_id,
                request,
                correlation_id,
                traceparent,
            } => {
                let saga = start(
                    definition,
                    saga_id,
                    request,
                    correlation_id,
                    traceparent,
                    now,
                );
                let mut machine = Machine::new(definition, saga, now);
                let detail = format!("request {}", machine.saga.request_id);
                machine.log(None, "requested", Some(detail));
                machine.advance();
                return machine.finish();
            }
            _ => return (None, Vec::new()),
        },
    };
    let mut machine = Machine::new(definition, saga, now);
    match input {
        Input::Requested { request, .. } => machine.duplicate_request(&request),
        Input::StepResult(result) => machine.step_result(result),
        Input::CompensationResult(result) => machine.compensation_result(result),
        Input::StepTimedOut { step_id, .. } => machine.timed_out(&step_id),
        Input::Resume { .. } => machine.resume(),
    }
    machine.finish()
}

fn start(
    definition: &SagaDefinition,
    saga_id: String,
    request: DatasetCreateRequested,
    correlation_id: Option<String>,
    traceparent: Option<String>,
    now: DateTime<Utc>,
) -> Saga {
    Saga {
        correlation_id: correlation_id.unwrap_or_else(|| request.message_id.clone()),
        saga_id,
        definition: definition.name.clone(),
        dataset_id: request.dataset_id.clone(),
        request_id: request.message_id.clone(),
        traceparent,
        status: SagaStatus::Pending,
        steps: definition
            .steps
            .iter()
            .map(|s| StepState::new(&s.id))
            .collect(),
        failure: None,
        to_compensate: Vec::new(),
        interventions: 0,
        created_at: now,
        updated_at: now,
        finished_at: None,
        version: 0,
        timeline: Vec::new(),
        request,
    }
}

struct Machine<'d> {
    definition: &'d SagaDefinition,
    saga: Saga,
    now: DateTime<Utc>,
    commands: Vec<Command>,
    changed: bool,
}

impl<'d> Machine<'d> {
    fn new(definition: &'d SagaDefinition, saga: Saga, now: DateTime<Utc>) -> Self {
        Self {
            definition,
            saga,
            now,
            commands: Vec::new(),
            changed: false,
        }
    }

    fn finish(mut self) -> (Option<Saga>, Vec<Command>) {
        if self.changed {
            self.saga.version += 1;
            self.saga.updated_at = self.now;
        }
        (Some(self.saga), self.commands)
    }

    fn log(&mut self, step: Option<&str>, event: &str, detail: Option<String>) {
        self.changed = true;
        self.saga.timeline.push(TimelineEntry {
            at: self.now,
            step: step.map(str::to_owned),
            event: event.to_owned(),
            detail,
        });
    }

    fn set_status(&mut self, status: SagaStatus) {
        if self.saga.status != status {
            self.saga.status = status;
            if status.is_terminal() {
                self.saga.finished_at = Some(self.now);
            }
            self.log(None, status.as_str(), None);
        }
    }

    fn deadline(&self, step_id: &str) -> DateTime<Utc> {
        add(self.now, self.definition.timeout_of(step_id))
    }

    /// Runs the next PENDING step (skipping those whose condition is false), or completes.
    fn advance(&mut self) {
        loop {
            let Some(index) = self
                .saga
                .steps
                .iter()
                .position(|s| s.status == StepStatus::Pending)
            else {
                self.set_status(SagaStatus::Completed);
                let message = (self.definition.completed)(&self.saga);
                self.commands.push(Command::PublishCompleted {
                    topic: self.definition.completed_topic.clone(),
                    message,
                });
                return;
            };
            let step_id = self.saga.steps[index].step_id.clone();
            let Some(step_def) = self.definition.step(&step_id) else {
                self.fail_step(
                    index,
                    StepError::new(
                        AdapterErrorCode::InvalidPayload,
                        format!(
                            "step {step_id} is not in definition {}",
                            self.definition.name
                        ),
                    ),
                );
                return;
            };
            if let Some(condition) = step_def.condition
                && !condition(&self.saga.request)
            {
                self.saga.steps[index].status = StepStatus::Skipped;
                self.log(
                    Some(&step_id),
                    "skipped",
                    Some("its condition is false for this request".to_owned()),
                );
                continue;
            }
            let message_id = format!("{}:{}:create", self.saga.saga_id, step_id);
            let built = (step_def.build_command)(&CommandContext {
                saga: &self.saga,
                step_id: &step_id,
                message_id: &message_id,
            });
            let topic = step_def.command_topic.clone();
            match built {
                Ok(message) => {
                    let deadline = self.deadline(&step_id);
                    let step = &mut self.saga.steps[index];
                    step.status = StepStatus::Dispatched;
                    step.dispatch = Some(Dispatch::first(
                        message_id.clone(),
                        message.clone(),
                        self.now,
                        deadline,
                    ));
                    self.set_status(SagaStatus::Executing);
                    self.log(Some(&step_id), "dispatched", Some(topic.clone()));
                    self.commands.push(Command::Dispatch {
                        topic,
                        step_id: step_id.clone(),
                        message_id,
                        message,
                    });
                    self.commands
                        .push(Command::ScheduleTimeout { step_id, deadline });
                }
                Err(reason) => {
                    self.fail_step(
                        index,
                        StepError::new(AdapterErrorCode::InvalidPayload, reason),
                    );
                }
            }
            return;
        }
    }

    fn fail_step(&mut self, index: usize, error: StepError) {
        let step_id = self.saga.steps[index].step_id.clone();
        let step = &mut self.saga.steps[index];
        step.status = StepStatus::Failed;
        step.finished_at = Some(self.now);
        Dispatch::settle(step.dispatch.as_mut());
        step.error = Some(error.clone());
        self.log(Some(&step_id), "failed", Some(error.to_string()));
        self.begin_failure(index, error);
    }

    /// The forward path ends at step `index`: compensate what exists, or fail outright.
    fn begin_failure(&mut self, index: usize, error: StepError) {
        let step_id = self.saga.steps[index].step_id.clone();
        self.saga.failure = Some(StepFailure { step_id, error });
        let mut order = Vec::new();
        let failed = &self.saga.steps[index];
        let failed_has_compensation = self
            .definition
            .step(&failed.step_id)
            .is_some_and(|d| d.compensation.is_some());
        // A failed step that reports what it made before failing is undone first.
        if failed.status == StepStatus::Failed
            && failed_has_compensation
            && !failed.created().is_empty()
        {
            order.push(failed.step_id.clone());
        }
        for step in self.saga.steps[..index].iter().rev() {
            if step.status == StepStatus::Succeeded {
                order.push(step.step_id.clone());
            }
        }
        if order.is_empty() {
            self.finish_failed();
            return;
        }
        self.saga.to_compensate = order;
        self.set_status(SagaStatus::Compensating);
        self.compensate_next();
    }

    /// Dispatches the next compensation, or finishes the saga when none is left.
    fn compensate_next(&mut self) {
        while !self.saga.to_compensate.is_empty() {
            let step_id = self.saga.to_compensate.remove(0);
            self.changed = true;
            let Some(index) = self.saga.step_index(&step_id) else {
                continue;
            };
            let created = self.saga.steps[index].created();
            let compensation = self
                .definition
                .step(&step_id)
                .and_then(|d| d.compensation.clone());
            if created.is_empty() {
                self.saga.steps[index].status = StepStatus::Compensated;
                self.log(
                    Some(&step_id),
                    "compensated",
                    Some(
                        "nothing to undo: it created nothing (reused resources are kept)"
                            .to_owned(),
                    ),
                );
                continue;
            }
            let Some(compensation) = compensation else {
                self.log(
                    Some(&step_id),
                    "kept",
                    Some("the step has no compensation; its resources stay".to_owned()),
                );
                continue;
            };
            let message_id = format!("{}:{}:delete", self.saga.saga_id, step_id);
            let built = (compensation.build)(
                &CommandContext {
                    saga: &self.saga,
                    step_id: &step_id,
                    message_id: &message_id,
                },
                &created,
            );
            match built {
                Ok(message) => {
                    let deadline = self.deadline(&step_id);
                    let step = &mut self.saga.steps[index];
                    step.status = StepStatus::Compensating;
                    step.compensation = Some(CompensationState {
                        dispatch: Some(Dispatch::first(
                            message_id.clone(),
                            message.clone(),
                            self.now,
                            deadline,
                        )),
                        finished_at: None,
                        error: None,
                    });
                    self.log(
                        Some(&step_id),
                        "compensation dispatched",
                        Some(compensation.topic.clone()),
                    );
                    self.commands.push(Command::Dispatch {
                        topic: compensation.topic,
                        step_id: step_id.clone(),
                        message_id,
                        message,
                    });
                    self.commands
                        .push(Command::ScheduleTimeout { step_id, deadline });
                    return;
                }
                Err(reason) => {
                    let error = StepError::new(AdapterErrorCode::InvalidPayload, reason);
                    self.saga.steps[index].status = StepStatus::CompensationFailed;
                    self.log(
                        Some(&step_id),
                        "compensation failed",
                        Some(error.to_string()),
                    );
                    self.saga.steps[index].compensation = Some(CompensationState {
                        dispatch: None,
                        finished_at: Some(self.now),
                        error: Some(error),
                    });
                }
            }
        }
        self.finish_failed();
    }

    /// Ends a failed saga: FAILED (nothing was compensated), COMPENSATED or COMPENSATION_FAILED.
    fn finish_failed(&mut self) {
        let any_compensation_failed = self
            .saga
            .steps
            .iter()
            .any(|s| s.status == StepStatus::CompensationFailed);
        let status = if self.saga.status != SagaStatus::Compensating {
            SagaStatus::Failed
        } else if any_compensation_failed {
            SagaStatus::CompensationFailed
        } else {
            SagaStatus::Compensated
        };
        self.set_status(status);
        let message = (self.definition.failed)(&self.saga);
        let stale = message.stale_resources.clone();
        self.commands.push(Command::PublishFailed {
            topic: self.definition.failed_topic.clone(),
            message,
        });
        if !stale.is_empty() {
            let errors = self
                .saga
                .steps
                .iter()
                .filter_map(|s| {
                    let error = s
                        .compensation
                        .as_ref()
                        .and_then(|c| c.error.clone())
                        .or_else(|| s.error.clone())?;
                    Some(StepFailure {
                        step_id: s.step_id.clone(),
                        error,
                    })
                })
                .collect();
            let failed_step = self
                .saga
                .failure
                .as_ref()
                .map(|f| f.step_id.clone())
                .unwrap_or_default();
            let reason = if any_compensation_failed {
                format!(
                    "step {failed_step} failed and compensation failed; the stale resources must be removed by hand"
                )
            } else {
                format!("step {failed_step} failed and left resources that cannot be compensated")
            };
            self.intervene(reason, stale, errors);
        }
    }

    fn intervene(&mut self, reason: String, stale: Vec<Resource>, errors: Vec<StepFailure>) {
        self.saga.interventions += 1;
        self.changed = true;
        let message = InterventionRequired {
            message_id: format!(
                "{}:intervention:{}",
                self.saga.saga_id, self.saga.interventions
            ),
            saga_id: self.saga.saga_id.clone(),
            dataset_id: self.saga.dataset_id.clone(),
            reason: reason.clone(),
            stale_resources: stale,
            errors,
            created_at: self.now,
        };
        self.log(None, "intervention required", Some(reason));
        self.commands.push(Command::PublishIntervention {
            topic: self.definition.intervention_topic.clone(),
            message,
        });
    }

    fn duplicate_request(&mut self, request: &DatasetCreateRequested) {
        if request.message_id != self.saga.request_id {
            self.log(
                None,
                "duplicate request ignored",
                Some(format!(
                    "request {} for the same dataset",
                    request.message_id
                )),
            );
        }
        self.republish_outcome();
    }

    /// Re-announces a finished saga's outcome (same message ids: consumers dedupe).
    fn republish_outcome(&mut self) {
        match self.saga.status {
            SagaStatus::Completed => self.commands.push(Command::PublishCompleted {
                topic: self.definition.completed_topic.clone(),
                message: (self.definition.completed)(&self.saga),
            }),
            SagaStatus::Compensated | SagaStatus::CompensationFailed | SagaStatus::Failed => {
                self.commands.push(Command::PublishFailed {
                    topic: self.definition.failed_topic.clone(),
                    message: (self.definition.failed)(&self.saga),
                });
            }
            _ => {}
        }
    }

    fn record_late(&mut self, index: usize, result: &StepResult, what: &str) {
        let step_id = self.saga.steps[index].step_id.clone();
        self.saga.steps[index].late_results.push(LateResult {
            received_at: self.now,
            message_id: result.message_id.clone(),
            operation: result.operation,
            status: result.status,
            error: result.error.clone(),
            resources: result.resources.clone(),
        });
        self.log(
            Some(&step_id),
            what,
            Some(format!(
                "{:?} {} after the deadline; ignored",
                result.status, result.message_id
            )),
        );
    }

    fn step_result(&mut self, result: StepResult) {
        let Some(index) = self.saga.step_index(&result.step_id) else {
            return;
        };
        let step = &self.saga.steps[index];
        if !Dispatch::is(step.dispatch.as_ref(), &result.command_id) {
            return;
        }
        if step
            .late_results
            .iter()
            .any(|l| l.message_id == result.message_id)
        {
            return;
        }
        match step.status {
            StepStatus::Dispatched if self.saga.status == SagaStatus::Executing => {}
            StepStatus::TimedOut => {
                self.record_late(index, &result, "late result");
                let created: Vec<Resource> = result
                    .resources
                    .iter()
                    .filter(|r| r.created)
                    .cloned()
                    .collect();
                if result.status == ResultStatus::Success && !created.is_empty() {
                    let step_id = result.step_id.clone();
                    self.intervene(
                        format!("step {step_id} succeeded after it had timed out; what it created was not compensated"),
                        created,
                        Vec::new(),
                    );
                }
                return;
            }
            _ => return,
        }
        let step_id = result.step_id.clone();
        let step = &mut self.saga.steps[index];
        step.finished_at = Some(self.now);
        Dispatch::settle(step.dispatch.as_mut());
        step.attempts = result.attempts;
        step.resources = result.resources.clone();
        match result.status {
            ResultStatus::Success => {
                step.status = StepStatus::Succeeded;
                let ids: Vec<&str> = result.resources.iter().map(|r| r.id.as_str()).collect();
                let detail = if ids.is_empty() {
                    None
                } else {
                    Some(ids.join(", "))
                };
                self.log(Some(&step_id), "succeeded", detail);
                self.advance();
            }
            ResultStatus::Failure => {
                let error = result.error.unwrap_or_else(|| {
                    StepError::new(
                        AdapterErrorCode::UnknownError,
                        "the adapter reported a failure without an error",
                    )
                });
                step.status = StepStatus::Failed;
                step.error = Some(error.clone());
                self.log(Some(&step_id), "failed", Some(error.to_string()));
                self.begin_failure(index, error);
            }
        }
    }

    fn compensation_result(&mut self, result: StepResult) {
        let Some(index) = self.saga.step_index(&result.step_id) else {
            return;
        };
        let step = &self.saga.steps[index];
        let Some(compensation) = &step.compensation else {
            return;
        };
        if !Dispatch::is(compensation.dispatch.as_ref(), &result.command_id)
            || step
                .late_results
                .iter()
                .any(|l| l.message_id == result.message_id)
        {
            return;
        }
        let timed_out = compensation
            .error
            .as_ref()
            .is_some_and(|e| e.code == AdapterErrorCode::StepTimeout);
        match step.status {
            StepStatus::Compensating => {}
            StepStatus::CompensationFailed if timed_out => {
                self.record_late(index, &result, "late compensation result");
                return;
            }
            _ => return,
        }
        let step_id = result.step_id.clone();
        let step = &mut self.saga.steps[index];
        let compensation = step.compensation.as_mut().expect("checked above");
        compensation.finished_at = Some(self.now);
        Dispatch::settle(compensation.dispatch.as_mut());
        match result.status {
            ResultStatus::Success => {
                step.status = StepStatus::Compensated;
                self.log(Some(&step_id), "compensated", None);
            }
            ResultStatus::Failure => {
                let error = result.error.unwrap_or_else(|| {
                    StepError::new(
                        AdapterErrorCode::UnknownError,
                        "the adapter reported a failure without an error",
                    )
                });
                compensation.error = Some(error.clone());
                step.status = StepStatus::CompensationFailed;
                self.log(
                    Some(&step_id),
                    "compensation failed",
                    Some(error.to_string()),
                );
            }
        }
        self.compensate_next();
    }

    fn timed_out(&mut self, step_id: &str) {
        let Some(index) = self.saga.step_index(step_id) else {
            return;
        };
        let now = self.now;
        let timeout = self.definition.timeout_of(step_id);
        let error = StepError::new(
            AdapterErrorCode::StepTimeout,
            format!(
                "no result within the step timeout of {} ms",
                timeout.as_millis()
            ),
        );
        let step = &mut self.saga.steps[index];
        match step.status {
            StepStatus::Dispatched
                if self.saga.status == SagaStatus::Executing
                    && step.deadline().is_some_and(|d| d <= now) =>
            {
                step.status = StepStatus::TimedOut;
                step.finished_at = Some(now);
                Dispatch::settle(step.dispatch.as_mut());
                step.error = Some(error.clone());
                self.log(Some(step_id), "timed out", Some(error.to_string()));
                self.begin_failure(index, error);
            }
            StepStatus::Compensating => {
                if step.deadline().is_none_or(|d| d > now) {
                    return;
                }
                let Some(compensation) = step.compensation.as_mut() else {
                    return;
                };
                Dispatch::settle(compensation.dispatch.as_mut());
                compensation.finished_at = Some(now);
                compensation.error = Some(error.clone());
                step.status = StepStatus::CompensationFailed;
                self.log(
                    Some(step_id),
                    "compensation timed out",
                    Some(error.to_string()),
                );
                self.compensate_next();
            }
            _ => {}
        }
    }

    fn resume(&mut self) {
        match self.saga.status {
            SagaStatus::Pending => self.advance(),
            SagaStatus::Executing | SagaStatus::Compensating => {
                let mut resent = false;
                for index in 0..self.saga.steps.len() {
                    let step_id = self.saga.steps[index].step_id.clone();
                    let deadline = self.deadline(&step_id);
                    let step = &mut self.saga.steps[index];
                    let (topic, dispatch) = match step.status {
                        StepStatus::Dispatched => (
                            self.definition
                                .step(&step_id)
                                .map(|d| d.command_topic.clone()),
                            step.dispatch.as_mut(),
                        ),
                        StepStatus::Compensating => (
                            self.definition
                                .step(&step_id)
                                .and_then(|d| d.compensation.as_ref())
                                .map(|c| c.topic.clone()),
                            step.compensation.as_mut().and_then(|c| c.dispatch.as_mut()),
                        ),
                        _ => continue,
                    };
                    let (Some(topic), Some(dispatch)) = (topic, dispatch) else {
                        continue;
                    };
                    let (message_id, message) = dispatch.resend(deadline);
                    resent = true;
                    self.log(
                        Some(&step_id),
                        "re-dispatched on resume",
                        Some(topic.clone()),
                    );
                    self.commands.push(Command::Dispatch {
                        topic,
                        step_id: step_id.clone(),
                        message_id,
                        message,
                    });
                    self.commands
                        .push(Command::ScheduleTimeout { step_id, deadline });
                }
                if !resent {
                    if self.saga.status == SagaStatus::Executing {
                        self.advance();
                    } else {
                        self.compensate_next();
                    }
                }
            }
            _ => self.republish_outcome(),
        }
    }
}

fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    time + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
