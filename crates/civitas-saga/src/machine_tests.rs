//! The state machine as a pure function: every transition, duplicates, late messages.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use civitas_events::AdapterErrorCode;
use civitas_events::saga::{
    DatasetApi, DatasetCreateRequested, FailedStatus, Resource, ResultStatus, StepError,
    StepOperation, StepResult,
};
use serde_json::json;

use super::*;
use crate::definition::{
    APISIX_ROUTE, FROST_PROJECT, KIND_APISIX_ROUTE, KIND_APISIX_UPSTREAM, KIND_FROST_PROJECT,
    SagaDefinition, StepDefinition,
};
use civitas_topics::SagaTopics;

const TIMEOUT: Duration = Duration::from_secs(30);

fn def() -> SagaDefinition {
    SagaDefinition::dataset_create(&SagaTopics::default(), TIMEOUT)
}

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn request(apis: usize) -> DatasetCreateRequested {
    DatasetCreateRequested {
        message_id: "req-1".into(),
        dataset_id: "ds-1".into(),
        name: "Luftqualitaet".into(),
        description: None,
        apis: (0..apis)
            .map(|i| DatasetApi {
                slug: format!("api{i}"),
                upstream_url: "http://frost:8080/FROST-Server/v1.1".into(),
            })
            .collect(),
        requested_by: None,
    }
}

fn requested(apis: usize) -> Input {
    Input::Requested {
        saga_id: "saga-1".into(),
        request: request(apis),
        correlation_id: Some("corr-1".into()),
        traceparent: None,
    }
}

fn step<'s>(saga: &'s Saga, id: &str) -> &'s StepState {
    saga.steps.iter().find(|s| s.step_id == id).unwrap()
}

fn project(created: bool) -> Resource {
    Resource {
        kind: KIND_FROST_PROJECT.into(),
        id: "42".into(),
        url: Some("http://frost/v1.1/Projects(42)".into()),
        created,
    }
}

fn routes() -> Vec<Resource> {
    vec![
        Resource {
            kind: KIND_APISIX_UPSTREAM.into(),
            id: "ds-1-api0".into(),
            url: None,
            created: true,
        },
        Resource {
            kind: KIND_APISIX_ROUTE.into(),
            id: "ds-1-api0".into(),
            url: Some("http://gw/v1/datasets/ds-1/api0".into()),
            created: true,
        },
    ]
}

fn result(
    saga: &Saga,
    step_id: &str,
    operation: StepOperation,
    status: ResultStatus,
    resources: Vec<Resource>,
) -> StepResult {
    let state = step(saga, step_id);
    let command_id = match operation {
        StepOperation::Create => state.dispatch.as_ref().unwrap().command_id.clone(),
        StepOperation::Delete => state
            .compensation
            .as_ref()
            .and_then(|c| c.dispatch.as_ref())
            .unwrap()
            .command_id
            .clone(),
    };
    StepResult {
        message_id: format!("res-{step_id}-{operation:?}-{status:?}"),
        saga_id: saga.saga_id.clone(),
        step_id: step_id.into(),
        command_id,
        operation,
        status,
        resource_id: resources.first().map(|r| r.id.clone()),
        resources,
        error: (status == ResultStatus::Failure).then(|| {
            StepError::new(
                AdapterErrorCode::ServiceUnavailable,
                "HTTP 500 (gave up after 3 tries)",
            )
        }),
        attempts: 1,
        dry_run: false,
    }
}

fn ok(saga: &Saga, step_id: &str, resources: Vec<Resource>) -> Input {
    Input::StepResult(result(
        saga,
        step_id,
        StepOperation::Create,
        ResultStatus::Success,
        resources,
    ))
}

fn failed(saga: &Saga, step_id: &str, left: Vec<Resource>) -> Input {
    Input::StepResult(result(
        saga,
        step_id,
        StepOperation::Create,
        ResultStatus::Failure,
        left,
    ))
}

fn undone(saga: &Saga, step_id: &str, status: ResultStatus) -> Input {
    Input::CompensationResult(result(
        saga,
        step_id,
        StepOperation::Delete,
        status,
        Vec::new(),
    ))
}

/// Applies `input` at `now` and unwraps the saga.
fn run(state: Option<Saga>, input: Input, now: DateTime<Utc>) -> (Saga, Vec<Command>) {
    let (saga, commands) = handle(&def(), state, input, now);
    (saga.expect("a saga"), commands)
}

fn dispatched_topics(commands: &[Command]) -> Vec<&str> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch { topic, .. } => Some(topic.as_str()),
            _ => None,
        })
        .collect()
}

fn failed_message_of(commands: &[Command]) -> &DatasetCreateFailed {
    commands
        .iter()
        .find_map(|c| match c {
            Command::PublishFailed { message, .. } => Some(message),
            _ => None,
        })
        .expect("a failed message")
}

fn intervention_of(commands: &[Command]) -> Option<&InterventionRequired> {
    commands.iter().find_map(|c| match c {
        Command::PublishIntervention { message, .. } => Some(message),
        _ => None,
    })
}

/// A saga whose FROST step succeeded and whose APISIX step is in flight.
fn at_apisix(project_created: bool) -> Saga {
    let (saga, _) = run(None, requested(1), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(project_created)]);
    run(Some(saga), input, t(1)).0
}

/// A saga whose APISIX step failed, compensating the FROST project.
fn compensating() -> Saga {
    let saga = at_apisix(true);
    let input = failed(&saga, APISIX_ROUTE, Vec::new());
    run(Some(saga), input, t(2)).0
}

#[test]
fn a_request_starts_a_saga_that_dispatches_the_frost_project_first() {
    let (saga, commands) = run(None, requested(1), t(0));
    assert_eq!(saga.status, SagaStatus::Executing);
    assert_eq!(saga.version, 1);
    assert_eq!(saga.correlation_id, "corr-1");
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Dispatched);
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::Pending);
    assert_eq!(
        commands,
        vec![
            Command::Dispatch {
                topic: SagaTopics::default().frost_project_create,
                step_id: FROST_PROJECT.into(),
                message_id: "saga-1:frost-project:create".into(),
                message: json!({
                    "messageId": "saga-1:frost-project:create",
                    "sagaId": "saga-1",
                    "stepId": "frost-project",
                    "datasetId": "ds-1",
                    "name": "Luftqualitaet",
                }),
            },
            Command::ScheduleTimeout {
                step_id: FROST_PROJECT.into(),
                deadline: t(30),
            },
        ]
    );
    let events: Vec<&str> = saga.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["requested", "EXECUTING", "dispatched"]);
}

#[test]
fn a_frost_success_dispatches_the_apisix_route_with_the_project_id() {
    let (saga, _) = run(None, requested(1), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(true)]);
    let (saga, commands) = run(Some(saga), input, t(1));
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Succeeded);
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::Dispatched);
    assert_eq!(step(&saga, APISIX_ROUTE).deadline(), Some(t(31)));
    let Command::Dispatch { topic, message, .. } = &commands[0] else {
        panic!("expected a dispatch, got {commands:?}")
    };
    assert_eq!(*topic, SagaTopics::default().apisix_route_create);
    assert_eq!(message["frostProjectId"], "42");
    assert_eq!(message["apis"][0]["slug"], "api0");
}

#[test]
fn an_apisix_success_completes_the_saga_with_every_provisioned_resource() {
    let saga = at_apisix(true);
    let input = ok(&saga, APISIX_ROUTE, routes());
    let (saga, commands) = run(Some(saga), input, t(3));
    assert_eq!(saga.status, SagaStatus::Completed);
    assert_eq!(saga.finished_at, Some(t(3)));
    assert_eq!(saga.next_deadline(), None);
    assert_eq!(saga.steps_done(), (2, 2));
    let [Command::PublishCompleted { topic, message }] = commands.as_slice() else {
        panic!("expected only completed, got {commands:?}")
    };
    assert_eq!(*topic, SagaTopics::default().completed);
    assert_eq!(message.message_id, "saga-1:completed");
    assert_eq!(message.request_id, "req-1");
    assert_eq!(message.frost_project_id.as_deref(), Some("42"));
    assert_eq!(
        message.frost_project_url.as_deref(),
        Some("http://frost/v1.1/Projects(42)")
    );
    assert_eq!(message.route_ids, ["ds-1-api0"]);
    assert_eq!(message.public_urls, ["http://gw/v1/datasets/ds-1/api0"]);
    assert_eq!(message.resources.len(), 3);
    assert_eq!(message.duration_ms, 3000);
}

#[test]
fn a_request_without_apis_skips_the_apisix_step_and_completes() {
    let (saga, _) = run(None, requested(0), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(true)]);
    let (saga, commands) = run(Some(saga), input, t(1));
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::Skipped);
    assert_eq!(saga.status, SagaStatus::Completed);
    assert!(matches!(
        commands.as_slice(),
        [Command::PublishCompleted { .. }]
    ));
}

#[test]
fn a_failure_at_the_first_step_fails_the_saga_without_compensation() {
    let (saga, _) = run(None, requested(1), t(0));
    let input = failed(&saga, FROST_PROJECT, Vec::new());
    let (saga, commands) = run(Some(saga), input, t(1));
    assert_eq!(saga.status, SagaStatus::Failed);
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Failed);
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::Pending);
    assert!(dispatched_topics(&commands).is_empty());
    let message = failed_message_of(&commands);
    assert_eq!(message.status, FailedStatus::Failed);
    assert_eq!(message.failed_step, FROST_PROJECT);
    assert_eq!(message.error.code, AdapterErrorCode::ServiceUnavailable);
    assert!(message.cleaned_resources.is_empty() && message.stale_resources.is_empty());
    assert!(intervention_of(&commands).is_none());
}

#[test]
fn an_apisix_failure_compensates_the_frost_project() {
    let saga = at_apisix(true);
    let input = failed(&saga, APISIX_ROUTE, Vec::new());
    let (saga, commands) = run(Some(saga), input, t(2));
    assert_eq!(saga.status, SagaStatus::Compensating);
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::Failed);
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Compensating);
    let Command::Dispatch {
        topic,
        message,
        message_id,
        ..
    } = &commands[0]
    else {
        panic!("expected a dispatch, got {commands:?}")
    };
    assert_eq!(*topic, SagaTopics::default().frost_project_delete);
    assert_eq!(message_id, "saga-1:frost-project:delete");
    assert_eq!(message["projectId"], "42");
    assert_eq!(saga.next_deadline(), Some(t(32)));
}

#[test]
fn a_successful_compensation_ends_compensated_naming_the_failed_step_and_cleaned_resources() {
    let saga = compensating();
    let input = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, commands) = run(Some(saga), input, t(3));
    assert_eq!(saga.status, SagaStatus::Compensated);
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Compensated);
    let message = failed_message_of(&commands);
    assert_eq!(message.status, FailedStatus::Compensated);
    assert_eq!(message.failed_step, APISIX_ROUTE);
    assert_eq!(message.cleaned_resources, vec![project(true)]);
    assert!(message.stale_resources.is_empty());
    assert!(intervention_of(&commands).is_none());
}

#[test]
fn a_failed_compensation_ends_compensation_failed_with_an_intervention_naming_the_stale_resources()
{
    let saga = compensating();
    let input = undone(&saga, FROST_PROJECT, ResultStatus::Failure);
    let (saga, commands) = run(Some(saga), input, t(3));
    assert_eq!(saga.status, SagaStatus::CompensationFailed);
    assert_eq!(
        step(&saga, FROST_PROJECT).status,
        StepStatus::CompensationFailed
    );
    let message = failed_message_of(&commands);
    assert_eq!(message.status, FailedStatus::CompensationFailed);
    assert_eq!(message.stale_resources, vec![project(true)]);
    let intervention = intervention_of(&commands).expect("an intervention record");
    assert_eq!(intervention.stale_resources, vec![project(true)]);
    assert_eq!(intervention.message_id, "saga-1:intervention:1");
    assert_eq!(intervention.errors[0].step_id, FROST_PROJECT);
    let topics: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::PublishIntervention { topic, .. } => Some(topic.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, [SagaTopics::default().intervention]);
}

#[test]
fn a_reused_frost_project_is_never_deleted() {
    let saga = at_apisix(false);
    let input = failed(&saga, APISIX_ROUTE, Vec::new());
    let (saga, commands) = run(Some(saga), input, t(2));
    assert!(dispatched_topics(&commands).is_empty());
    assert_eq!(saga.status, SagaStatus::Compensated);
    let message = failed_message_of(&commands);
    assert!(message.cleaned_resources.is_empty());
    assert_eq!(message.kept_resources, vec![project(false)]);
}

#[test]
fn a_failed_step_that_left_routes_is_undone_first_then_earlier_steps_in_reverse_order() {
    let saga = at_apisix(true);
    let input = failed(&saga, APISIX_ROUTE, routes());
    let (saga, commands) = run(Some(saga), input, t(2));
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().apisix_route_delete]
    );
    let Command::Dispatch { message, .. } = &commands[0] else {
        unreachable!()
    };
    assert_eq!(message["routeIds"], json!(["ds-1-api0"]));
    assert_eq!(message["upstreamIds"], json!(["ds-1-api0"]));
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::Succeeded);

    let input = undone(&saga, APISIX_ROUTE, ResultStatus::Success);
    let (saga, commands) = run(Some(saga), input, t(3));
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().frost_project_delete]
    );

    let input = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, commands) = run(Some(saga), input, t(4));
    assert_eq!(saga.status, SagaStatus::Compensated);
    assert_eq!(failed_message_of(&commands).cleaned_resources.len(), 3);
}

#[test]
fn compensation_is_best_effort_a_failed_undo_does_not_stop_the_next() {
    let saga = at_apisix(true);
    let input = failed(&saga, APISIX_ROUTE, routes());
    let (saga, _) = run(Some(saga), input, t(2));
    let input = undone(&saga, APISIX_ROUTE, ResultStatus::Failure);
    let (saga, commands) = run(Some(saga), input, t(3));
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().frost_project_delete]
    );
    let input = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, commands) = run(Some(saga), input, t(4));
    assert_eq!(saga.status, SagaStatus::CompensationFailed);
    let message = failed_message_of(&commands);
    assert_eq!(message.cleaned_resources, vec![project(true)]);
    assert_eq!(message.stale_resources, routes());
    assert_eq!(
        intervention_of(&commands).unwrap().stale_resources,
        routes()
    );
}

#[test]
fn a_step_timeout_counts_as_a_failure_and_triggers_compensation() {
    let saga = at_apisix(true);
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: APISIX_ROUTE.into(),
    };
    let (saga, commands) = run(Some(saga), input, t(31));
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::TimedOut);
    assert_eq!(
        step(&saga, APISIX_ROUTE).error.as_ref().unwrap().code,
        AdapterErrorCode::StepTimeout
    );
    assert_eq!(
        saga.failure.as_ref().unwrap().error.code,
        AdapterErrorCode::StepTimeout
    );
    assert_eq!(saga.status, SagaStatus::Compensating);
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().frost_project_delete]
    );
}

#[test]
fn a_timeout_of_the_first_step_fails_the_saga() {
    let (saga, _) = run(None, requested(1), t(0));
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: FROST_PROJECT.into(),
    };
    let (saga, commands) = run(Some(saga), input, t(30));
    assert_eq!(saga.status, SagaStatus::Failed);
    assert_eq!(
        failed_message_of(&commands).error.code,
        AdapterErrorCode::StepTimeout
    );
}

#[test]
fn a_timeout_before_the_deadline_changes_nothing() {
    let saga = at_apisix(true);
    let version = saga.version;
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: APISIX_ROUTE.into(),
    };
    let (saga, commands) = run(Some(saga), input, t(30));
    assert_eq!(saga.version, version);
    assert!(commands.is_empty());
}

#[test]
fn a_result_after_the_timeout_is_recorded_and_ignored() {
    let (saga, _) = run(None, requested(1), t(0));
    let late = failed(&saga, FROST_PROJECT, Vec::new());
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: FROST_PROJECT.into(),
    };
    let (saga, _) = run(Some(saga), input, t(30));
    assert_eq!(saga.status, SagaStatus::Failed);
    let (saga, commands) = run(Some(saga), late.clone(), t(40));
    assert_eq!(saga.status, SagaStatus::Failed);
    assert_eq!(step(&saga, FROST_PROJECT).status, StepStatus::TimedOut);
    assert_eq!(step(&saga, FROST_PROJECT).late_results.len(), 1);
    assert!(commands.is_empty());
    // The same late message again is a duplicate.
    let version = saga.version;
    let (saga, commands) = run(Some(saga), late, t(41));
    assert_eq!(saga.version, version);
    assert!(commands.is_empty());
}

#[test]
fn a_late_success_that_created_something_asks_for_intervention_without_changing_the_saga() {
    let saga = at_apisix(true);
    let late = ok(&saga, APISIX_ROUTE, routes());
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: APISIX_ROUTE.into(),
    };
    let (saga, _) = run(Some(saga), input, t(31));
    let status = saga.status;
    let (saga, commands) = run(Some(saga), late, t(33));
    assert_eq!(saga.status, status);
    assert_eq!(step(&saga, APISIX_ROUTE).status, StepStatus::TimedOut);
    assert!(dispatched_topics(&commands).is_empty());
    assert_eq!(
        intervention_of(&commands).unwrap().stale_resources,
        routes()
    );
}

#[test]
fn a_compensation_timeout_ends_compensation_failed() {
    let saga = compensating();
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: FROST_PROJECT.into(),
    };
    let (saga, commands) = run(Some(saga), input, t(32));
    assert_eq!(saga.status, SagaStatus::CompensationFailed);
    assert_eq!(
        failed_message_of(&commands).stale_resources,
        vec![project(true)]
    );
    assert!(intervention_of(&commands).is_some());
    // The compensation's answer arriving now is recorded, nothing else.
    let late = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, commands) = run(Some(saga), late, t(40));
    assert_eq!(saga.status, SagaStatus::CompensationFailed);
    assert_eq!(step(&saga, FROST_PROJECT).late_results.len(), 1);
    assert!(commands.is_empty());
}

#[test]
fn a_duplicate_request_for_the_same_dataset_does_not_start_a_second_saga() {
    let (saga, _) = run(None, requested(1), t(0));
    let Input::Requested { mut request, .. } = requested(1) else {
        unreachable!()
    };
    request.message_id = "req-2".into();
    let input = Input::Requested {
        saga_id: "saga-2".into(),
        request,
        correlation_id: None,
        traceparent: None,
    };
    let (saga, commands) = run(Some(saga), input, t(1));
    assert_eq!(saga.saga_id, "saga-1");
    assert_eq!(saga.status, SagaStatus::Executing);
    assert!(commands.is_empty());
    assert_eq!(
        saga.timeline.last().unwrap().event,
        "duplicate request ignored"
    );
}

#[test]
fn a_redelivered_request_changes_nothing() {
    let (saga, _) = run(None, requested(1), t(0));
    let version = saga.version;
    let (saga, commands) = run(Some(saga), requested(1), t(1));
    assert_eq!(saga.version, version);
    assert!(commands.is_empty());
}

#[test]
fn a_duplicate_request_after_completion_announces_the_same_outcome_again() {
    let saga = at_apisix(true);
    let input = ok(&saga, APISIX_ROUTE, routes());
    let (saga, first) = run(Some(saga), input, t(3));
    let (_, again) = run(Some(saga), requested(1), t(9));
    assert_eq!(again, first);
}

#[test]
fn a_redelivered_result_changes_nothing() {
    let (saga, _) = run(None, requested(1), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(true)]);
    let (saga, _) = run(Some(saga), input.clone(), t(1));
    let before = saga.clone();
    let (saga, commands) = run(Some(saga), input, t(2));
    assert_eq!(saga, before);
    assert!(commands.is_empty());
}

#[test]
fn a_result_for_an_unknown_saga_is_ignored() {
    let (saga, _) = run(None, requested(1), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(true)]);
    assert_eq!(handle(&def(), None, input, t(1)), (None, Vec::new()));
}

#[test]
fn a_result_answering_another_command_or_step_is_ignored() {
    let (saga, _) = run(None, requested(1), t(0));
    let mut stray = result(
        &saga,
        FROST_PROJECT,
        StepOperation::Create,
        ResultStatus::Success,
        vec![],
    );
    stray.command_id = "someone-else".into();
    let version = saga.version;
    let (saga, commands) = run(Some(saga), Input::StepResult(stray.clone()), t(1));
    assert_eq!((saga.version, commands.len()), (version, 0));
    stray.step_id = "geoserver".into();
    let (saga, commands) = run(Some(saga), Input::StepResult(stray), t(1));
    assert_eq!((saga.version, commands.len()), (version, 0));
}

#[test]
fn resume_re_dispatches_the_step_in_flight_unchanged_with_a_fresh_deadline() {
    let (saga, first) = run(None, requested(1), t(0));
    let (saga, commands) = run(
        Some(saga),
        Input::Resume {
            saga_id: "saga-1".into(),
        },
        t(100),
    );
    assert_eq!(commands[0], first[0]);
    assert_eq!(
        commands[1],
        Command::ScheduleTimeout {
            step_id: FROST_PROJECT.into(),
            deadline: t(130)
        }
    );
    assert_eq!(
        step(&saga, FROST_PROJECT)
            .dispatch
            .as_ref()
            .unwrap()
            .dispatches,
        2
    );
    assert_eq!(saga.status, SagaStatus::Executing);
}

#[test]
fn resume_re_dispatches_a_compensation_in_flight() {
    let saga = compensating();
    let (saga, commands) = run(
        Some(saga),
        Input::Resume {
            saga_id: "saga-1".into(),
        },
        t(100),
    );
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().frost_project_delete]
    );
    assert_eq!(saga.next_deadline(), Some(t(130)));
}

#[test]
fn resume_of_a_finished_saga_re_announces_its_outcome_and_changes_nothing() {
    let saga = compensating();
    let input = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, first) = run(Some(saga), input, t(3));
    let version = saga.version;
    let (saga, commands) = run(
        Some(saga),
        Input::Resume {
            saga_id: "saga-1".into(),
        },
        t(100),
    );
    assert_eq!(saga.version, version);
    assert_eq!(commands, first);
}

#[test]
fn the_same_input_on_the_same_state_gives_the_same_output() {
    let saga = at_apisix(true);
    let input = failed(&saga, APISIX_ROUTE, routes());
    assert_eq!(
        handle(&def(), Some(saga.clone()), input.clone(), t(5)),
        handle(&def(), Some(saga), input, t(5))
    );
}

#[test]
fn expired_steps_are_those_in_flight_past_their_deadline() {
    let saga = at_apisix(true);
    assert!(saga.expired_steps(t(30)).is_empty());
    assert_eq!(saga.expired_steps(t(31)), [APISIX_ROUTE]);
}

#[test]
fn the_state_survives_a_json_round_trip() {
    let saga = compensating();
    let text = serde_json::to_string(&saga).unwrap();
    assert!(text.contains("\"status\":\"COMPENSATING\""));
    assert_eq!(serde_json::from_str::<Saga>(&text).unwrap(), saga);
}

/// Adding a step is a definition entry: a third step runs after the two without any change
/// to the machine, and is compensated first.
#[test]
fn a_third_step_added_to_the_definition_runs_last_and_is_compensated_first() {
    let mut definition = def();
    definition.steps.push(StepDefinition {
        id: "geoserver-workspace".into(),
        command_topic: geoserver("create"),
        result_topic: civitas_topics::SagaTopic::result("geoserver", "workspace")
            .unwrap()
            .to_string(),
        compensation: Some(crate::definition::Compensation {
            topic: geoserver("delete"),
            build: |ctx, created| {
                Ok(json!({"messageId": ctx.message_id, "workspace": created[0].id}))
            },
        }),
        condition: None,
        build_command: |ctx| {
            Ok(json!({"messageId": ctx.message_id, "datasetId": ctx.saga.dataset_id}))
        },
        timeout: Some(Duration::from_secs(5)),
    });
    let go = |state, input, now| {
        let (saga, commands) = handle(&definition, state, input, now);
        (saga.unwrap(), commands)
    };
    let (saga, _) = go(None, requested(1), t(0));
    let input = ok(&saga, FROST_PROJECT, vec![project(true)]);
    let (saga, _) = go(Some(saga), input, t(1));
    let input = ok(&saga, APISIX_ROUTE, routes());
    let (saga, commands) = go(Some(saga), input, t(2));
    assert_eq!(dispatched_topics(&commands), [geoserver("create")]);
    assert_eq!(step(&saga, "geoserver-workspace").deadline(), Some(t(7)));
    let workspace = Resource {
        kind: "geoserver-workspace".into(),
        id: "ws-ds-1".into(),
        url: None,
        created: true,
    };
    let input = Input::StepTimedOut {
        saga_id: "saga-1".into(),
        step_id: "geoserver-workspace".into(),
    };
    let (saga, commands) = go(Some(saga), input, t(7));
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().apisix_route_delete]
    );
    let _ = workspace;
    let input = undone(&saga, APISIX_ROUTE, ResultStatus::Success);
    let (saga, commands) = go(Some(saga), input, t(8));
    assert_eq!(
        dispatched_topics(&commands),
        [SagaTopics::default().frost_project_delete]
    );
    let input = undone(&saga, FROST_PROJECT, ResultStatus::Success);
    let (saga, _) = go(Some(saga), input, t(9));
    assert_eq!(saga.status, SagaStatus::Compensated);
}

#[test]
fn a_step_whose_command_cannot_be_built_fails_with_a_validation_error() {
    let mut definition = def();
    definition.steps[0].build_command = |_| Err("no name".into());
    let (saga, commands) = handle(&definition, None, requested(1), t(0));
    let saga = saga.unwrap();
    assert_eq!(saga.status, SagaStatus::Failed);
    assert_eq!(
        failed_message_of(&commands).error.code,
        AdapterErrorCode::InvalidPayload
    );
}

/// `core.civitas.geoserver.workspace.<verb>`, a command topic of a system the shipped saga
/// does not know.
fn geoserver(verb: &str) -> String {
    civitas_topics::SagaTopic::command("geoserver", "workspace", verb)
        .unwrap()
        .to_string()
}
