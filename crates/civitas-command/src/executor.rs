//! The command executor: one command (system, object type, action, object id, params) for one
//! caller, start to end — look it up, authorize it, check its params, run its connector,
//! publish its `crud.operations` event (and, on success, its configuration event) — and a
//! typed [`Outcome`]. `POST /execute` and the workflow engine run commands through it, so
//! both leave the same events.
//!
//! Events (seed 000): every command that reaches the executor leaves exactly one event on
//! `<prefix>.operations` whose `event_type` is the command's kind — success, unknown system,
//! object type or action (404), refused by the policy (403), missing params (400), conflict
//! (409), upstream failure (502), … When the command is unknown, so is its kind: the action
//! name is used if it is one of the five kinds, else `unknown`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use civitas_events::OperationData;
use civitas_http::{LookupContext, with_lookup_context};
use civitas_kafka::EventContext;
use serde_json::Value;
use tracing::Instrument;

use crate::command_error::CommandError;
use crate::config::Kind;
use crate::config_events::ConfigTopics;
use crate::connectors::Command;
use crate::events::Events;
use crate::request::ExecuteRequest;
use crate::seal::{MakeEvents, Seal};
use crate::systems::Systems;
use civitas_auth::authz::{Grants, Policy, Target};

/// Runs commands against the configured systems (borrowed from the CRUD service's app:
/// `app.executor()`).
#[derive(Debug, Clone, Copy)]
pub struct CommandExecutor<'a> {
    systems: &'a Systems,
    policy: Option<&'a Policy>,
    events: &'a Events,
    config_topics: &'a ConfigTopics,
}

/// Who runs a command, and what ties its events together.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'c> {
    /// The caller's claims, when callers are authenticated; the policy matches them.
    pub grants: Option<&'c Grants>,
    /// Correlation id, trace and `user_context` of the events.
    pub context: &'c EventContext,
}

/// What a command did.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The event's `event_type`: the command's kind (`create`, …) or `unknown`.
    pub kind: &'static str,
    /// The metric labels: the configured system and action names, `unknown` for a name that
    /// is not configured (a caller's text never becomes a label).
    pub system_label: &'a str,
    pub action_label: &'a str,
    pub result: Result<Executed, CommandError>,
}

/// A command that succeeded.
#[derive(Debug, Clone)]
pub struct Executed {
    /// What the connector returned (unmasked: the caller asked for it; the event masks it).
    pub result: Value,
    /// The object's id, when the command knows it.
    pub object_id: Option<String>,
    /// The `event_id` of the `crud.operations` event; `None` when publishing is off.
    pub event_id: Option<String>,
}

/// The lookup, authorization and run of a command, before its event.
struct Ran<'a> {
    kind: &'static str,
    system_label: &'a str,
    action_label: &'a str,
    outcome: Result<(Value, Option<String>), CommandError>,
    /// The configuration-event topic a success announces.
    announce: Option<&'a str>,
    /// The `event_id` when the command's events were stored with its change (the built-in
    /// directory's transactional outbox, [`crate::seal`]): nothing more is published.
    sealed: Option<String>,
}

impl<'a> CommandExecutor<'a> {
    pub fn new(
        systems: &'a Systems,
        policy: Option<&'a Policy>,
        events: &'a Events,
        config_topics: &'a ConfigTopics,
    ) -> Self {
        Self {
            systems,
            policy,
            events,
            config_topics,
        }
    }

    /// Runs `command` for `invocation` and publishes its events; never fails without an
    /// event saying why.
    pub async fn execute(
        &self,
        command: ExecuteRequest,
        invocation: Invocation<'_>,
    ) -> Outcome<'a> {
        let correlation_id = invocation.context.correlation_id.as_deref().unwrap_or("");
        // Every credential the command looks up names this request in its secret events.
        let cause = LookupContext {
            correlation_id: invocation.context.correlation_id.clone(),
            traceparent: invocation.context.trace.as_ref().map(|t| t.to_header()),
        };
        let ctx = invocation.context;
        let ran = with_lookup_context(
            cause,
            self.run(&command, invocation.grants, correlation_id, ctx),
        )
        .await;
        log(&command, correlation_id, &ran.outcome);
        if let (Some(event_id), Ok((result, object_id))) = (&ran.sealed, &ran.outcome) {
            return Outcome {
                kind: ran.kind,
                system_label: ran.system_label,
                action_label: ran.action_label,
                result: Ok(Executed {
                    result: result.clone(),
                    object_id: object_id.clone(),
                    event_id: Some(event_id.clone()),
                }),
            };
        }
        let (result, error, object_id) = match &ran.outcome {
            Ok((result, object_id)) => {
                if let Some(topic) = ran.announce {
                    let payload = config_payload(result, object_id.as_deref());
                    self.events
                        .configuration(topic, object_id.as_deref(), ctx, payload);
                }
                // The event masks its copy; the caller gets the result as the system gave it.
                (Some(result.clone()), None, object_id.clone())
            }
            Err(e) => (None, Some(e.message()), command.object_id.clone()),
        };
        let data = OperationData {
            operation: command.action,
            system: command.system,
            object_type: command.object_type,
            object_id,
            // Masked by the publisher, before the producer sees it (with the result).
            params: Value::Object(command.params),
            success: result.is_some(),
            result,
            error,
            timestamp: Utc::now(),
        };
        let event_id = self.events.operation(ran.kind, ctx, data);
        Outcome {
            kind: ran.kind,
            system_label: ran.system_label,
            action_label: ran.action_label,
            result: ran.outcome.map(|(result, object_id)| Executed {
                result,
                object_id,
                event_id,
            }),
        }
    }

    async fn run(
        &self,
        request: &ExecuteRequest,
        grants: Option<&Grants>,
        correlation_id: &str,
        ctx: &EventContext,
    ) -> Ran<'a> {
        let systems = self.systems;
        let resolved = match systems.resolve(&request.system, &request.object_type, &request.action)
        {
            Ok(resolved) => resolved,
            Err(error) => {
                // The usual 404 names the valid choices; under a policy that would show a
                // caller what GET /systems hides from it.
                let error = match (self.policy, error) {
                    (Some(_), CommandError::NotFound(_)) => CommandError::NotFound(
                        "unknown system, object type or action: GET /systems lists what you may run"
                            .to_owned(),
                    ),
                    (_, error) => error,
                };
                return Ran {
                    kind: Kind::from_name(&request.action).map_or("unknown", Kind::as_str),
                    system_label: systems
                        .get(&request.system)
                        .map_or("unknown", |s| s.config.name.as_str()),
                    action_label: "unknown",
                    outcome: Err(error),
                    announce: None,
                    sealed: None,
                };
            }
        };
        let kind = resolved.spec.kind.as_str();
        let system = resolved.system.config.name.as_str();
        let action = resolved.action;
        let refused = |error| Ran {
            kind,
            system_label: system,
            action_label: action,
            outcome: Err(error),
            announce: None,
            sealed: None,
        };
        if let Some(policy) = self.policy {
            let target = Target {
                system,
                object_type: resolved.object_type,
                action,
                kind: resolved.spec.kind,
            };
            if let Err(denied) = policy.check(grants, &target) {
                return refused(CommandError::Forbidden(denied.to_string()));
            }
        }
        let params = match resolved.prepare_params(&request.params, request.object_id.as_deref()) {
            Ok(params) => params,
            Err(error) => return refused(error),
        };
        let command = Command {
            system,
            object_type: resolved.object_type,
            action,
            spec: resolved.spec,
        };
        // The connector's I/O (database, outside system) runs in a span naming the work.
        let span = tracing::info_span!(
            "command",
            correlation_id,
            system,
            object_type = resolved.object_type,
            action
        );
        let announce = resolved
            .system
            .system_type
            .objects
            .get(resolved.object_type)
            .and_then(|object| object.entity.as_deref())
            .zip(resolved.spec.event)
            .and_then(|(entity, event)| self.config_topics.topic(entity, event.as_str()));
        let connector =
            resolved
                .system
                .connector
                .execute(command, &params, request.object_id.as_deref());
        let seal = self.seal(resolved.spec.kind, request, ctx, announce);
        let outcome = match &seal {
            Some(seal) => seal.scope(connector.instrument(span)).await,
            None => connector.instrument(span).await,
        }
        .map(|executed| (executed.result, executed.object_id))
        .map_err(CommandError::from);
        let calls = &resolved.system.calls;
        calls.calls.fetch_add(1, Ordering::Relaxed);
        if matches!(
            outcome,
            Err(CommandError::Upstream { .. } | CommandError::Unavailable(..))
        ) {
            calls.errors.fetch_add(1, Ordering::Relaxed);
        }
        let sealed = seal
            .filter(|_| outcome.is_ok())
            .and_then(|seal| seal.sealed());
        Ran {
            kind,
            system_label: system,
            action_label: action,
            outcome,
            announce,
            sealed,
        }
    }
}

fn log(
    command: &ExecuteRequest,
    correlation_id: &str,
    outcome: &Result<(Value, Option<String>), CommandError>,
) {
    let (system, object_type, action) = (&command.system, &command.object_type, &command.action);
    match outcome {
        Ok(_) => tracing::debug!(%correlation_id, %system, %object_type, %action, "executed"),
        Err(e) if e.is_fault() => {
            tracing::warn!(%correlation_id, %system, %object_type, %action, outcome = e.outcome(), error = %e.message(), "command failed")
        }
        Err(e) => {
            tracing::info!(%correlation_id, %system, %object_type, %action, outcome = e.outcome(), error = %e.message(), "command refused")
        }
    }
}

/// A configuration event's payload: the command's result object (secrets are stripped by
/// the publisher) with the entity id, or just the id when the result is no object (delete).
impl CommandExecutor<'_> {
    /// The seal of a write command when events go through the durable outbox: how the
    /// connector's transaction makes the events it stores with the change.
    fn seal(
        &self,
        kind: Kind,
        request: &ExecuteRequest,
        ctx: &EventContext,
        announce: Option<&str>,
    ) -> Option<Arc<Seal>> {
        if matches!(kind, Kind::Read | Kind::List) {
            return None;
        }
        let outbox = self.events.outbox()?.clone();
        let events = self.events.crud()?.clone();
        let (request, ctx) = (request.clone(), ctx.clone());
        let announce = announce.map(str::to_owned);
        let make: MakeEvents = Box::new(move |result, object_id| {
            let mut records = Vec::with_capacity(2);
            if let Some(topic) = &announce {
                let payload = config_payload(result, object_id);
                records.push(
                    events
                        .configuration_record(topic, object_id, &ctx, payload)?
                        .0,
                );
            }
            let data = OperationData {
                operation: request.action.clone(),
                system: request.system.clone(),
                object_type: request.object_type.clone(),
                object_id: object_id.map(str::to_owned),
                params: Value::Object(request.params.clone()),
                success: true,
                result: Some(result.clone()),
                error: None,
                timestamp: Utc::now(),
            };
            let (record, event_id) = events.operation_record(kind.as_str(), &ctx, data)?;
            records.push(record);
            Ok((records, event_id))
        });
        Some(Seal::new(outbox, make))
    }
}

fn config_payload(result: &Value, object_id: Option<&str>) -> Value {
    let mut payload = match result {
        Value::Object(map) => Value::Object(map.clone()),
        _ => Value::Object(Default::default()),
    };
    if let (Some(id), Value::Object(map)) = (object_id, &mut payload) {
        map.entry("id").or_insert_with(|| Value::from(id));
    }
    payload
}
