//! The CRUD service's events (seed 000): envelope, key, headers and topic for each kind.
//!
//! | topic | `event_type` | key |
//! |---|---|---|
//! | `<prefix>.operations` | create/read/update/delete/list | `system/object_type/object_id` |
//! | `<prefix>.errors` | `validation_error` | correlation id |
//! | `<prefix>.workflows` | started/completed/failed/waiting | correlation id (the workflow's id) |
//! | `<prefix>.secrets` + `.secrets.audit` | e.g. `secret_retrieved` | credential id |
//! | `<prefix>.metrics` | `metrics` | the metric type |
//!
//! Masking happens here, before a record reaches the producer (seed 000, "Masking and
//! PII"): params, results, validation inputs and workflow metadata pass through the
//! [`Masker`] whatever the caller did, so a caller cannot forget it.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use civitas_events::cloudevents::{CORRELATION_ID_EXTENSION, TRACEPARENT_EXTENSION};
use civitas_events::{
    Attributes, CloudEvent, Envelope, Masker, MetricsData, OperationData, SecretData, TraceContext,
    UserContext, ValidationErrorData, WorkflowData,
};
use civitas_topics::CrudTopics;
use serde::Serialize;

use crate::error::KafkaError;
use crate::outbox::Outbox;
use crate::publisher::Publisher;
use crate::record::Record;

/// What ties an event to the request or workflow that caused it.
#[derive(Debug, Clone, Default)]
pub struct EventContext {
    pub correlation_id: Option<String>,
    /// The caller's trace (from `traceparent`) or the service's own span.
    pub trace: Option<TraceContext>,
    pub user_context: Option<UserContext>,
}

impl EventContext {
    /// A context with a correlation id and a fresh root trace.
    pub fn correlated(correlation_id: impl Into<String>) -> Self {
        Self {
            correlation_id: Some(correlation_id.into()),
            trace: Some(TraceContext::new_root()),
            user_context: None,
        }
    }
}

/// Publishes the CRUD service's events through the shared [`Publisher`].
///
/// Operation events, one per request, are built on the publisher's builder thread
/// ([`Publisher::send_later`]): the request only hands over its parts. The rarer kinds are
/// built on the caller's thread.
#[derive(Debug, Clone)]
pub struct CrudEvents {
    sink: Sink,
    shape: Arc<Shape>,
}

/// Where the records go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Straight to the producer: delivered within seconds, lost on a crash while the broker
    /// is away (tools and components without a database).
    Direct(Publisher),
    /// Stored in the [durable outbox](crate::outbox) first, then relayed (the CRUD service).
    Durable(Outbox),
}

impl From<Publisher> for Sink {
    fn from(publisher: Publisher) -> Self {
        Sink::Direct(publisher)
    }
}

impl From<Outbox> for Sink {
    fn from(outbox: Outbox) -> Self {
        Sink::Durable(outbox)
    }
}

impl Sink {
    fn send(&self, record: Record) {
        match self {
            Sink::Direct(publisher) => publisher.send(record),
            Sink::Durable(outbox) => outbox.append(record),
        }
    }

    fn send_later<F>(&self, build: F)
    where
        F: FnOnce() -> Result<Record, KafkaError> + Send + 'static,
    {
        match self {
            Sink::Direct(publisher) => publisher.send_later(build),
            Sink::Durable(outbox) => outbox.append_later(build),
        }
    }
}

/// What every event of the service shares, and how an event becomes a record.
#[derive(Debug)]
struct Shape {
    topics: CrudTopics,
    service: String,
    source: String,
    masker: Masker,
}

impl CrudEvents {
    /// Events of `service` (the envelope's `service`, e.g. `crud-service`) on `topics`.
    pub fn new(publisher: Publisher, topics: CrudTopics, service: &str, masker: Masker) -> Self {
        Self::with_sink(Sink::Direct(publisher), topics, service, masker)
    }

    /// Events of `service` on `topics`, sent through `sink`.
    pub fn with_sink(sink: Sink, topics: CrudTopics, service: &str, masker: Masker) -> Self {
        Self {
            sink,
            shape: Arc::new(Shape {
                topics,
                service: service.to_owned(),
                source: format!("/civitas/{service}"),
                masker,
            }),
        }
    }

    /// The topic names in use.
    pub fn topics(&self) -> &CrudTopics {
        &self.shape.topics
    }

    /// Where the records go.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// One `crud.operations` event, built within about 10 ms on the publisher's builder
    /// thread; returns its `event_id`. The id and the timestamp are taken now, when the
    /// request makes the event, not when it is built.
    pub fn operation(&self, event_type: &str, ctx: &EventContext, data: OperationData) -> String {
        let stamp = Stamp::now();
        let event_id = stamp.event_id.clone();
        let shape = self.shape.clone();
        let (event_type, ctx) = (event_type.to_owned(), ctx.clone());
        self.sink
            .send_later(move || shape.operation_record(stamp, &event_type, &ctx, data));
        event_id
    }

    /// The record [`operation`](Self::operation) would send, and its `event_id`.
    pub fn operation_record(
        &self,
        event_type: &str,
        ctx: &EventContext,
        data: OperationData,
    ) -> Result<(Record, String), KafkaError> {
        let stamp = Stamp::now();
        let event_id = stamp.event_id.clone();
        let record = self.shape.operation_record(stamp, event_type, ctx, data)?;
        Ok((record, event_id))
    }

    /// One `validation_error` event on `crud.errors`; returns its `event_id`.
    pub fn validation_error(
        &self,
        ctx: &EventContext,
        mut data: ValidationErrorData,
    ) -> Result<String, KafkaError> {
        for detail in &mut data.errors {
            self.shape.masker.mask_in_place(&mut detail.input);
        }
        let topic = &self.shape.topics.errors;
        let key = ctx.correlation_id.clone();
        self.emit(topic, "validation_error", key, ctx, data)
    }

    /// One `crud.workflows` event; returns its `event_id`.
    pub fn workflow(
        &self,
        event_type: &str,
        ctx: &EventContext,
        mut data: WorkflowData,
    ) -> Result<String, KafkaError> {
        self.shape.masker.mask_in_place(&mut data.metadata);
        let topic = &self.shape.topics.workflows;
        let key = ctx.correlation_id.clone();
        self.emit(topic, event_type, key, ctx, data)
    }

    /// One secret event, written to `crud.secrets` and its audit copy `crud.secrets.audit`
    /// (same `event_id`); returns the `event_id`.
    pub fn secret(
        &self,
        event_type: &str,
        ctx: &EventContext,
        data: SecretData,
    ) -> Result<String, KafkaError> {
        // Both copies share the event id and the CloudEvents type of the functional topic.
        let stamp = Stamp::now();
        let event_id = stamp.event_id.clone();
        let key = Some(data.credential_id.clone());
        let topics = &self.shape.topics;
        let record = self
            .shape
            .record(stamp, &topics.secrets, event_type, key, ctx, data)?;
        let audit = Record {
            topic: topics.secrets_audit.clone(),
            ..record.clone()
        };
        self.sink.send(record);
        self.sink.send(audit);
        Ok(event_id)
    }

    /// One configuration event (seed 003) on `topic`, e.g. `de.civitascore.idm.user.created`:
    /// the bare payload with every sensitive key removed (no envelope), `ce_type` = the topic
    /// name, key and `ce_subject` = the entity id, `ce_correlationid` = the request's.
    /// Returns the CloudEvents id.
    pub fn configuration(
        &self,
        topic: &str,
        entity_id: Option<&str>,
        ctx: &EventContext,
        payload: serde_json::Value,
    ) -> Result<String, KafkaError> {
        let (record, id) = self.configuration_record(topic, entity_id, ctx, payload)?;
        self.sink.send(record);
        Ok(id)
    }

    /// The record [`configuration`](Self::configuration) would send, and its CloudEvents id.
    pub fn configuration_record(
        &self,
        topic: &str,
        entity_id: Option<&str>,
        ctx: &EventContext,
        mut payload: serde_json::Value,
    ) -> Result<(Record, String), KafkaError> {
        self.shape.masker.strip_in_place(&mut payload);
        let trace = ctx.trace.clone().unwrap_or_else(TraceContext::new_root);
        let mut event = CloudEvent::new(self.shape.source.clone(), topic)
            .with_time(Utc::now().trunc_subsecs(6))
            .with_traceparent(trace.to_header());
        if let Some(id) = entity_id {
            event = event.with_subject(id);
        }
        if let Some(correlation_id) = &ctx.correlation_id {
            event = event.with_correlation_id(correlation_id.clone());
        }
        let id = event.id.clone();
        let record = Record::json(
            topic,
            entity_id.map(str::to_owned),
            &event.attributes(),
            &payload,
        )?;
        Ok((record, id))
    }

    /// One `crud.metrics` snapshot; returns its `event_id`.
    pub fn metrics(&self, ctx: &EventContext, data: MetricsData) -> Result<String, KafkaError> {
        let topic = &self.shape.topics.metrics;
        let key = Some(data.metric_type.clone());
        self.emit(topic, "metrics", key, ctx, data)
    }

    fn emit<D: Serialize>(
        &self,
        topic: &str,
        event_type: &str,
        key: Option<String>,
        ctx: &EventContext,
        data: D,
    ) -> Result<String, KafkaError> {
        let stamp = Stamp::now();
        let event_id = stamp.event_id.clone();
        let record = self
            .shape
            .record(stamp, topic, event_type, key, ctx, data)?;
        self.sink.send(record);
        Ok(event_id)
    }
}

/// An event's id and the instant it happened, taken together when the event is made (an
/// operation event is built up to 10 ms later, on the builder thread).
struct Stamp {
    event_id: String,
    /// Microseconds, as `ce_time` carries them, so both say the same instant.
    at: DateTime<Utc>,
}

impl Stamp {
    fn now() -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            at: Utc::now().trunc_subsecs(6),
        }
    }
}

impl Shape {
    /// An operation event's record: params and result masked, keyed by the object.
    fn operation_record(
        &self,
        stamp: Stamp,
        event_type: &str,
        ctx: &EventContext,
        mut data: OperationData,
    ) -> Result<Record, KafkaError> {
        self.masker.mask_in_place(&mut data.params);
        if let Some(result) = data.result.as_mut() {
            self.masker.mask_in_place(result);
        }
        if let Some(error) = data.error.as_mut() {
            self.masker.mask_text_in_place(error);
        }
        let mut key = String::with_capacity(
            data.system.len()
                + data.object_type.len()
                + 2
                + data.object_id.as_ref().map_or(0, String::len),
        );
        key.push_str(&data.system);
        key.push('/');
        key.push_str(&data.object_type);
        if let Some(id) = &data.object_id {
            key.push('/');
            key.push_str(id);
        }
        self.record(
            stamp,
            &self.topics.operations,
            event_type,
            Some(key),
            ctx,
            data,
        )
    }

    /// The record of one enveloped event: the seed's envelope as the value, the matching
    /// CloudEvents attributes as headers (written straight from the envelope's parts).
    fn record<D: Serialize>(
        &self,
        stamp: Stamp,
        topic: &str,
        event_type: &str,
        key: Option<String>,
        ctx: &EventContext,
        data: D,
    ) -> Result<Record, KafkaError> {
        let root;
        let trace = match &ctx.trace {
            Some(trace) => trace,
            None => {
                root = TraceContext::new_root();
                &root
            }
        };
        let envelope = Envelope {
            event_id: stamp.event_id,
            event_type: event_type.to_owned(),
            timestamp: stamp.at,
            correlation_id: ctx.correlation_id.clone(),
            service: self.service.clone(),
            trace_id: Some(trace.trace_id.clone()),
            span_id: Some(trace.span_id.clone()),
            user_context: ctx.user_context.clone(),
            data,
        };
        let mut ce_type = String::with_capacity(topic.len() + 1 + event_type.len());
        ce_type.push_str(topic);
        ce_type.push('.');
        ce_type.push_str(event_type);
        let traceparent = trace.to_header();
        let with_correlation;
        let extensions: &[(&str, &str)] = match &ctx.correlation_id {
            Some(correlation_id) => {
                with_correlation = [
                    (CORRELATION_ID_EXTENSION, correlation_id.as_str()),
                    (TRACEPARENT_EXTENSION, traceparent.as_str()),
                ];
                &with_correlation
            }
            None => &[(TRACEPARENT_EXTENSION, traceparent.as_str())],
        };
        let attributes = Attributes::new(
            &envelope.event_id,
            &self.source,
            &ce_type,
            envelope.timestamp,
        )
        .with_subject(key.as_deref())
        .with_extensions(extensions);
        let mut record = Record::json(topic, None, &attributes, &envelope)?;
        record.key = key;
        Ok(record)
    }
}
