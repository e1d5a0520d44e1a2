//! Where the service's events go: the seed's `crud.*` topics through [`CrudEvents`], or
//! nowhere when publishing is switched off (a benchmark and diagnostic switch, never for
//! production: the operations events are the audit trail).

use civitas_events::{MetricsData, OperationData, ValidationErrorData, WorkflowData};
use civitas_kafka::crud_events::Sink;
use civitas_kafka::outbox::{Outbox, OutboxStats};
use civitas_kafka::{CrudEvents, EventContext, PublisherStats};

#[derive(Debug, Clone)]
pub enum Events {
    Publishing(Box<CrudEvents>),
    Disabled,
}

impl Events {
    pub fn is_enabled(&self) -> bool {
        matches!(self, Events::Publishing(_))
    }

    /// Publishes one `crud.operations` event (built off the request's thread); its
    /// `event_id`, or `None` when disabled.
    pub fn operation(&self, kind: &str, ctx: &EventContext, data: OperationData) -> Option<String> {
        match self {
            Events::Publishing(events) => Some(events.operation(kind, ctx, data)),
            Events::Disabled => None,
        }
    }

    /// Publishes one `validation_error` event on `crud.errors`.
    pub fn validation_error(
        &self,
        ctx: &EventContext,
        data: ValidationErrorData,
    ) -> Option<String> {
        let Events::Publishing(events) = self else {
            return None;
        };
        match events.validation_error(ctx, data) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, correlation_id = ctx.correlation_id.as_deref(), "could not publish a validation error event");
                None
            }
        }
    }

    /// Publishes one `crud.workflows` event.
    pub fn workflow(
        &self,
        event_type: &str,
        ctx: &EventContext,
        data: WorkflowData,
    ) -> Option<String> {
        let Events::Publishing(events) = self else {
            return None;
        };
        match events.workflow(event_type, ctx, data) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, correlation_id = ctx.correlation_id.as_deref(), "could not publish a workflow event");
                None
            }
        }
    }

    /// Publishes one `crud.metrics` snapshot.
    pub fn metrics(&self, ctx: &EventContext, data: MetricsData) -> Option<String> {
        let Events::Publishing(events) = self else {
            return None;
        };
        match events.metrics(ctx, data) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, "could not publish a metrics snapshot");
                None
            }
        }
    }

    /// Publishes one configuration event (bare payload, secrets removed) on `topic`.
    pub fn configuration(
        &self,
        topic: &str,
        entity_id: Option<&str>,
        ctx: &EventContext,
        payload: serde_json::Value,
    ) -> Option<String> {
        let Events::Publishing(events) = self else {
            return None;
        };
        match events.configuration(topic, entity_id, ctx, payload) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, %topic, correlation_id = ctx.correlation_id.as_deref(), "could not publish a configuration event");
                None
            }
        }
    }

    /// The event producer, when publishing.
    pub fn crud(&self) -> Option<&CrudEvents> {
        match self {
            Events::Publishing(events) => Some(events),
            Events::Disabled => None,
        }
    }

    /// The durable outbox the events go through, if they do.
    pub fn outbox(&self) -> Option<&Outbox> {
        match self {
            Events::Publishing(events) => match events.sink() {
                Sink::Durable(outbox) => Some(outbox),
                Sink::Direct(_) => None,
            },
            Events::Disabled => None,
        }
    }

    /// How the events travel now, when publishing.
    pub fn stats(&self) -> Option<Delivery> {
        match self {
            Events::Publishing(events) => Some(match events.sink() {
                Sink::Durable(outbox) => Delivery::Outbox(outbox.stats()),
                Sink::Direct(publisher) => Delivery::Publisher(publisher.stats()),
            }),
            Events::Disabled => None,
        }
    }
}

/// The figures of the way events travel.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Stored first, then relayed (the service's normal mode).
    Outbox(OutboxStats),
    /// Straight to the producer (embedded use without a database).
    Publisher(PublisherStats),
}
