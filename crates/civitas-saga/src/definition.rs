//! Sagas as data: a [`SagaDefinition`] lists the steps in order, each with its command and
//! result topics, an optional compensation, an optional condition on the request, and how
//! to build its command from the request and the results of the steps before it.
//!
//! The dataset definition ([`SagaDefinition::dataset_create`]) has two steps: the FROST
//! project, then the APISIX routes. Adding a step (a GeoServer workspace, a pipeline) is one
//! more [`StepDefinition`] here and an adapter that answers its command topic; the
//! orchestrator and its state machine do not change.

use std::time::Duration;

use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    ApisixRouteCreate, ApisixRouteDelete, DatasetCreateCompleted, DatasetCreateFailed,
    DatasetCreateRequested, FailedStatus, FrostProjectCreate, FrostProjectDelete, Resource,
    StepError, StepFailure,
};
use serde_json::Value;

use crate::state::{Saga, SagaStatus, StepState, StepStatus};
use civitas_topics::SagaTopics;

/// Name of the dataset-provisioning saga (stored with each instance).
pub const DATASET_CREATE: &str = "dataset-create";
/// Step id of the FROST project.
pub const FROST_PROJECT: &str = "frost-project";
/// Step id of the APISIX routes.
pub const APISIX_ROUTE: &str = "apisix-route";

/// Resource kind of a FROST project.
pub const KIND_FROST_PROJECT: &str = "frost-project";
/// Resource kind of an APISIX upstream.
pub const KIND_APISIX_UPSTREAM: &str = "apisix-upstream";
/// Resource kind of an APISIX route.
pub const KIND_APISIX_ROUTE: &str = "apisix-route";

/// Default time a step may take before it counts as failed.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a command builder sees: the saga so far, which step, and the message id to use.
#[derive(Debug)]
pub struct CommandContext<'a> {
    pub saga: &'a Saga,
    pub step_id: &'a str,
    pub message_id: &'a str,
}

impl CommandContext<'_> {
    /// The state of another step of the saga (e.g. an earlier one whose result is needed).
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.saga.steps.iter().find(|s| s.step_id == id)
    }
}

/// Whether a step runs for this request (a step that does not run is SKIPPED).
pub type Condition = fn(&DatasetCreateRequested) -> bool;
/// Builds a step's command; an `Err` fails the step with a validation error.
pub type BuildCommand = fn(&CommandContext<'_>) -> Result<Value, String>;
/// Builds a compensation command from the resources the step created.
pub type BuildCompensation = fn(&CommandContext<'_>, &[Resource]) -> Result<Value, String>;

/// Builds the message a completed saga announces.
pub type BuildCompleted = fn(&Saga) -> DatasetCreateCompleted;
/// Builds the message a failed saga announces.
pub type BuildFailed = fn(&Saga) -> DatasetCreateFailed;

/// How a step is undone.
#[derive(Debug, Clone)]
pub struct Compensation {
    pub topic: String,
    pub build: BuildCompensation,
}

/// One step of a saga.
#[derive(Debug, Clone)]
pub struct StepDefinition {
    pub id: String,
    pub command_topic: String,
    /// Where its adapter answers, for both the command and the compensation.
    pub result_topic: String,
    /// None: the step's effects are kept when the saga fails.
    pub compensation: Option<Compensation>,
    pub condition: Option<Condition>,
    pub build_command: BuildCommand,
    /// Overrides the definition's step timeout.
    pub timeout: Option<Duration>,
}

/// A saga: its steps in order and the topics it reads and writes.
#[derive(Debug, Clone)]
pub struct SagaDefinition {
    pub name: String,
    pub request_topic: String,
    pub completed_topic: String,
    pub failed_topic: String,
    pub intervention_topic: String,
    /// Where requests and results that cannot be read go.
    pub dead_letter_topic: String,
    pub steps: Vec<StepDefinition>,
    pub step_timeout: Duration,
    /// What a completed saga announces on `completed_topic`.
    pub completed: BuildCompleted,
    /// What a failed saga announces on `failed_topic`.
    pub failed: BuildFailed,
}

impl SagaDefinition {
    /// The dataset-provisioning saga: FROST project, then APISIX routes (skipped when the
    /// request names no API).
    pub fn dataset_create(topics: &SagaTopics, step_timeout: Duration) -> Self {
        Self {
            name: DATASET_CREATE.to_owned(),
            request_topic: topics.requested.clone(),
            completed_topic: topics.completed.clone(),
            failed_topic: topics.failed.clone(),
            intervention_topic: topics.intervention.clone(),
            dead_letter_topic: topics.dataset_deadletter.clone(),
            step_timeout,
            completed: dataset_completed,
            failed: dataset_failed,
            steps: vec![
                StepDefinition {
                    id: FROST_PROJECT.to_owned(),
                    command_topic: topics.frost_project_create.clone(),
                    result_topic: topics.frost_project_result.clone(),
                    compensation: Some(Compensation {
                        topic: topics.frost_project_delete.clone(),
                        build: frost_project_delete,
                    }),
                    condition: None,
                    build_command: frost_project_create,
                    timeout: None,
                },
                StepDefinition {
                    id: APISIX_ROUTE.to_owned(),
                    command_topic: topics.apisix_route_create.clone(),
                    result_topic: topics.apisix_route_result.clone(),
                    compensation: Some(Compensation {
                        topic: topics.apisix_route_delete.clone(),
                        build: apisix_route_delete,
                    }),
                    condition: Some(|request| !request.apis.is_empty()),
                    build_command: apisix_route_create,
                    timeout: None,
                },
            ],
        }
    }

    /// The step called `id`.
    pub fn step(&self, id: &str) -> Option<&StepDefinition> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// How long step `id` may take.
    pub fn timeout_of(&self, id: &str) -> Duration {
        self.step(id)
            .and_then(|s| s.timeout)
            .unwrap_or(self.step_timeout)
    }

    /// The topics the orchestrator consumes: requests and every step's results.
    pub fn consumed_topics(&self) -> Vec<String> {
        let mut topics = vec![self.request_topic.clone()];
        for step in &self.steps {
            if !topics.contains(&step.result_topic) {
                topics.push(step.result_topic.clone());
            }
        }
        topics
    }
}

fn to_value<T: serde::Serialize>(message: &T) -> Result<Value, String> {
    serde_json::to_value(message).map_err(|e| format!("the command does not serialize: {e}"))
}

fn frost_project_create(ctx: &CommandContext<'_>) -> Result<Value, String> {
    let request = &ctx.saga.request;
    to_value(&FrostProjectCreate {
        message_id: ctx.message_id.to_owned(),
        saga_id: ctx.saga.saga_id.clone(),
        step_id: ctx.step_id.to_owned(),
        dataset_id: request.dataset_id.clone(),
        name: request.name.clone(),
        description: request.description.clone(),
    })
}

fn frost_project_delete(ctx: &CommandContext<'_>, created: &[Resource]) -> Result<Value, String> {
    let project = created
        .iter()
        .find(|r| r.kind == KIND_FROST_PROJECT)
        .ok_or("the step created no FROST project to delete")?;
    to_value(&FrostProjectDelete {
        message_id: ctx.message_id.to_owned(),
        saga_id: ctx.saga.saga_id.clone(),
        step_id: ctx.step_id.to_owned(),
        dataset_id: ctx.saga.dataset_id.clone(),
        project_id: project.id.clone(),
    })
}

fn apisix_route_create(ctx: &CommandContext<'_>) -> Result<Value, String> {
    let frost_project_id = ctx.step(FROST_PROJECT).and_then(|s| {
        s.resources
            .iter()
            .find(|r| r.kind == KIND_FROST_PROJECT)
            .map(|r| r.id.clone())
    });
    to_value(&ApisixRouteCreate {
        message_id: ctx.message_id.to_owned(),
        saga_id: ctx.saga.saga_id.clone(),
        step_id: ctx.step_id.to_owned(),
        dataset_id: ctx.saga.dataset_id.clone(),
        apis: ctx.saga.request.apis.clone(),
        frost_project_id,
    })
}

fn apisix_route_delete(ctx: &CommandContext<'_>, created: &[Resource]) -> Result<Value, String> {
    let ids = |kind: &str| -> Vec<String> {
        created
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.id.clone())
            .collect()
    };
    to_value(&ApisixRouteDelete {
        message_id: ctx.message_id.to_owned(),
        saga_id: ctx.saga.saga_id.clone(),
        step_id: ctx.step_id.to_owned(),
        dataset_id: ctx.saga.dataset_id.clone(),
        route_ids: ids(KIND_APISIX_ROUTE),
        upstream_ids: ids(KIND_APISIX_UPSTREAM),
    })
}

/// The `dataset.create.completed` of a completed saga.
pub fn dataset_completed(saga: &Saga) -> DatasetCreateCompleted {
    let resources: Vec<Resource> = saga
        .steps
        .iter()
        .flat_map(|s| s.resources.iter().cloned())
        .collect();
    let project = resources.iter().find(|r| r.kind == KIND_FROST_PROJECT);
    let routes: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.kind == KIND_APISIX_ROUTE)
        .collect();
    DatasetCreateCompleted {
        message_id: format!("{}:completed", saga.saga_id),
        saga_id: saga.saga_id.clone(),
        dataset_id: saga.dataset_id.clone(),
        request_id: saga.request_id.clone(),
        frost_project_id: project.map(|p| p.id.clone()),
        frost_project_url: project.and_then(|p| p.url.clone()),
        route_ids: routes.iter().map(|r| r.id.clone()).collect(),
        public_urls: routes.iter().filter_map(|r| r.url.clone()).collect(),
        started_at: saga.created_at,
        completed_at: saga.finished_at.unwrap_or(saga.updated_at),
        duration_ms: elapsed_ms(saga),
        resources,
    }
}

/// The `dataset.create.failed` of a failed saga: what was cleaned, what is stale, what was kept.
pub fn dataset_failed(saga: &Saga) -> DatasetCreateFailed {
    let mut cleaned = Vec::new();
    let mut stale = Vec::new();
    let mut kept = Vec::new();
    for step in &saga.steps {
        match step.status {
            StepStatus::Compensated => {
                cleaned.extend(step.created());
                kept.extend(step.reused());
            }
            StepStatus::CompensationFailed => {
                stale.extend(step.created());
                kept.extend(step.reused());
            }
            StepStatus::Succeeded => kept.extend(step.resources.iter().cloned()),
            StepStatus::Failed => {
                stale.extend(step.created());
                kept.extend(step.reused());
            }
            _ => {}
        }
    }
    let status = match saga.status {
        SagaStatus::CompensationFailed => FailedStatus::CompensationFailed,
        SagaStatus::Compensated => FailedStatus::Compensated,
        _ => FailedStatus::Failed,
    };
    let failure = saga.failure.clone().unwrap_or(StepFailure {
        step_id: String::new(),
        error: StepError::new(AdapterErrorCode::UnknownError, "no failure recorded"),
    });
    DatasetCreateFailed {
        message_id: format!("{}:failed", saga.saga_id),
        saga_id: saga.saga_id.clone(),
        dataset_id: saga.dataset_id.clone(),
        request_id: saga.request_id.clone(),
        status,
        failed_step: failure.step_id,
        error: failure.error,
        cleaned_resources: cleaned,
        stale_resources: stale,
        kept_resources: kept,
        started_at: saga.created_at,
        finished_at: saga.finished_at.unwrap_or(saga.updated_at),
        duration_ms: elapsed_ms(saga),
    }
}

fn elapsed_ms(saga: &Saga) -> i64 {
    let end = saga.finished_at.unwrap_or(saga.updated_at);
    (end - saga.created_at).num_milliseconds()
}
