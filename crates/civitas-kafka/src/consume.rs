//! The at-least-once consume-decide-commit loop and what it works on, shared by every
//! consumer of civitas that answers records with records (the saga's orchestrator and
//! adapters): where records go ([`Emit`]), what a consumed record is ([`Received`]), the
//! CloudEvents attributes of a reply ([`Envelope`]), the one dead-letter writer
//! ([`send_dead_letter`]), and the loop ([`consume`]) that stores offsets only after
//! processing, retries transient failures and dead-letters a record that keeps failing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use civitas_events::CloudEvent;
use civitas_events::saga::DeadLetter;
use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use serde::Serialize;
use tokio::sync::watch;

use crate::error::KafkaError;
use crate::publisher::Publisher;
use crate::record::Record;

/// A processing failure the loop can judge: transient ones (a database or broker away) are
/// retried for as long as it takes; others count towards dead-lettering the record.
pub trait Failure: std::error::Error {
    fn is_transient(&self) -> bool;
}

/// Where records go: the shared publisher in production, a [`Recorder`] in tests.
pub trait Emit: Send + Sync + 'static {
    fn emit(&self, record: Record);
}

impl std::fmt::Debug for dyn Emit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Emit")
    }
}

impl Emit for Publisher {
    fn emit(&self, record: Record) {
        self.send(record);
    }
}

/// Keeps emitted records in memory (tests, and the driver's single-step functions).
#[derive(Debug, Default)]
pub struct Recorder {
    records: Mutex<Vec<Record>>,
}

impl Recorder {
    /// Takes what was emitted so far.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Emit for Recorder {
    fn emit(&self, record: Record) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }
}

/// The `traceparent` of a message sent now: the current span's when spans are exported
/// (the next hop becomes its child), else `inherited` unchanged.
pub fn outgoing_traceparent(inherited: Option<&str>) -> Option<String> {
    civitas_telemetry::trace_of(&tracing::Span::current())
        .map(|t| t.to_header())
        .or_else(|| inherited.map(str::to_owned))
}

/// CloudEvents attributes of a saga message.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// `ce_source`, e.g. `/civitas/saga-orchestrator`.
    pub source: String,
    pub subject: Option<String>,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
}

impl Envelope {
    /// A JSON record on `topic` keyed by the subject (the dataset id), with `ce_id` =
    /// `message_id` and `ce_type` = the topic.
    pub fn record<T: Serialize>(
        &self,
        topic: &str,
        message_id: &str,
        value: &T,
    ) -> Result<Record, KafkaError> {
        let mut event = CloudEvent::new(self.source.clone(), topic).with_id(message_id);
        if let Some(subject) = self.subject.as_deref().filter(|s| !s.is_empty()) {
            event = event.with_subject(subject);
        }
        if let Some(correlation_id) = &self.correlation_id {
            event = event.with_correlation_id(correlation_id.clone());
        }
        if let Some(traceparent) = &self.traceparent {
            event = event.with_traceparent(traceparent.clone());
        }
        Record::json(topic, self.subject.clone(), &event.attributes(), value)
    }
}

/// Sends a record `component` cannot handle to `topic` (its dead-letter topic) with the
/// reason — the one way the orchestrator and the adapters write dead letters.
pub fn send_dead_letter(
    emit: &dyn Emit,
    record: &Received,
    component: &str,
    topic: &str,
    reason: String,
    now: DateTime<Utc>,
) {
    tracing::warn!(component, topic = %record.topic, offset = record.offset, %reason,
        "unreadable record sent to the dead-letter topic");
    let envelope = record.reply_envelope(&format!("/civitas/{component}"));
    let letter = record.dead_letter(component, reason, now);
    match envelope.record(topic, &letter.message_id, &letter) {
        Ok(out) => emit.emit(out),
        Err(err) => {
            tracing::error!(component, error = %error_chain(&err), "could not encode a dead letter")
        }
    }
}

/// One consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Received {
    /// The record's CloudEvents attributes, if its headers are a valid event.
    pub fn event(&self) -> Option<CloudEvent> {
        CloudEvent::from_headers(
            self.headers
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_bytes()))),
        )
        .ok()
    }

    /// The envelope an answer to this record carries: same subject, correlation and trace.
    pub fn reply_envelope(&self, source: &str) -> Envelope {
        let event = self.event();
        Envelope {
            source: source.to_owned(),
            subject: event
                .as_ref()
                .and_then(|e| e.subject.clone())
                .or_else(|| self.key.clone()),
            correlation_id: event
                .as_ref()
                .and_then(|e| e.correlation_id().map(str::to_owned)),
            traceparent: outgoing_traceparent(event.as_ref().and_then(|e| e.traceparent())),
        }
    }

    /// The span of handling this record: topic, partition, offset, and the saga and step
    /// once known; a child of the record's `traceparent` when spans are exported, so every
    /// hop of a saga is part of the trace that asked for it.
    pub fn span(&self, component: &str) -> tracing::Span {
        let span = tracing::info_span!(
            "saga.message",
            component,
            topic = %self.topic,
            partition = self.partition,
            offset = self.offset,
            saga_id = tracing::field::Empty,
            step = tracing::field::Empty,
        );
        if let Some(traceparent) = self.event().as_ref().and_then(|e| e.traceparent()) {
            civitas_telemetry::continue_trace(&span, traceparent);
        }
        span
    }

    /// The headers as a map (for dead letters).
    /// The dead letter of this record: where it came from, all of it, and why `component`
    /// gave up on it.
    pub fn dead_letter(&self, component: &str, reason: String, now: DateTime<Utc>) -> DeadLetter {
        DeadLetter {
            message_id: uuid::Uuid::new_v4().to_string(),
            component: component.to_owned(),
            reason,
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            key: self.key.clone(),
            payload: String::from_utf8_lossy(&self.payload).into_owned(),
            headers: self.header_map(),
            received_at: now,
        }
    }

    pub fn header_map(&self) -> BTreeMap<String, String> {
        self.headers.iter().cloned().collect()
    }

    pub fn from_message<M: Message>(message: &M) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers: crate::reader::headers_of(message),
            payload: message.payload().unwrap_or_default().to_vec(),
        }
    }
}

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// How long a batch that failed (database down, …) waits before it is processed again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How many times a record may fail the same non-transient way before it goes to the
/// dead-letter topic (default of [`Poison::max_failures`]).
pub const MAX_FAILURES: u32 = 5;

/// What the consume loop does with a record that keeps failing.
pub struct Poison<'a> {
    /// Non-transient failures of one record before it is dead-lettered.
    pub max_failures: u32,
    /// Sends a record to the dead-letter topic with the reason.
    pub dead_letter: &'a (dyn Fn(&Received, String) + Send + Sync),
}

impl std::fmt::Debug for Poison<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poison")
            .field("max_failures", &self.max_failures)
            .finish_non_exhaustive()
    }
}

/// What to do after a failed try of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Wait and try the same batch again.
    Retry,
    /// The batch keeps failing: try its records one by one to find the one at fault.
    Split,
    /// This one record keeps failing: dead-letter it and move on.
    DeadLetter,
}

/// Counts a batch's failures: transient ones (database or broker away) are retried for as
/// long as it takes and logged once; non-transient ones are retried `max_failures` times,
/// then the batch is split, and a single record dead-lettered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    non_transient: u32,
    transient: u32,
}

impl Failures {
    /// Records a failure of a batch of `records`, and says what to do next.
    pub fn record(&mut self, transient: bool, records: usize, max_failures: u32) -> AfterFailure {
        if transient {
            self.transient += 1;
            return AfterFailure::Retry;
        }
        self.non_transient += 1;
        if self.non_transient < max_failures.max(1) {
            AfterFailure::Retry
        } else if records > 1 {
            AfterFailure::Split
        } else {
            AfterFailure::DeadLetter
        }
    }

    /// Whether this is the first transient failure in a row (the only one logged loudly).
    pub fn first_transient(&self) -> bool {
        self.transient == 1
    }
}

/// The at-least-once consume loop: takes what is available (up to `max_batch` records),
/// hands it to `process`, and stores the offsets only when `process` succeeded. A failed
/// batch is retried after a pause, so `process` must be idempotent (it is: dedup by
/// message id, idempotent adapters); unreadable records are `process`'s to dead-letter, and
/// a record that keeps failing the same non-transient way goes there too ([`Poison`]), so
/// one bad record cannot stop its partition (nor, with one loop for all partitions, every
/// partition).
pub async fn consume<F, Fut, E>(
    consumer: StreamConsumer,
    stop: watch::Receiver<bool>,
    max_batch: usize,
    component: &str,
    poison: Poison<'_>,
    process: F,
) where
    F: FnMut(Vec<Received>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Failure,
{
    consume_until(&consumer, stop, max_batch, component, poison, process).await;
    // Closing leaves the group: a blocking call that needs the broker, which may be the
    // embedded one served by this runtime's tasks, so it must not hold a worker thread.
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
}

async fn consume_until<F, Fut, E>(
    consumer: &StreamConsumer,
    mut stop: watch::Receiver<bool>,
    max_batch: usize,
    component: &str,
    poison: Poison<'_>,
    mut process: F,
) where
    F: FnMut(Vec<Received>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Failure,
{
    loop {
        let first = tokio::select! {
            () = stopped(&mut stop) => return,
            message = consumer.recv() => message.map(|m| Received::from_message(&m)),
        };
        let first = match first {
            Ok(first) => first,
            Err(err) => {
                tracing::warn!(component, %err, "Kafka consumer error");
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(Received::from_message(&message)),
                Some(Err(err)) => {
                    tracing::warn!(component, %err, "Kafka consumer error");
                    break;
                }
                None => break,
            }
        }
        // Batches still to process: the whole one, or its records one by one once it has
        // failed the same way too often.
        let mut pending = std::collections::VecDeque::from([batch.clone()]);
        while let Some(part) = pending.pop_front() {
            let mut failures = Failures::default();
            loop {
                let err = match process(part.clone()).await {
                    Ok(()) => {
                        if failures.transient > 0 {
                            tracing::info!(component, "processing works again");
                        }
                        break;
                    }
                    Err(err) => err,
                };
                let transient = err.is_transient();
                match failures.record(transient, part.len(), poison.max_failures) {
                    AfterFailure::Retry if transient => {
                        if failures.first_transient() {
                            tracing::error!(component, error = %error_chain(&err),
                                "processing failed for a reason that should pass (database or broker away); retrying every second until it works, without further ERROR lines");
                        } else {
                            tracing::debug!(component, error = %error_chain(&err), "still failing");
                        }
                    }
                    AfterFailure::Retry => {
                        tracing::warn!(component, error = %error_chain(&err), records = part.len(),
                            failures = failures.non_transient, "processing failed; retrying");
                    }
                    AfterFailure::Split => {
                        tracing::warn!(
                            component,
                            records = part.len(),
                            "a batch keeps failing; handling its records one by one"
                        );
                        for record in part.iter().rev() {
                            pending.push_front(vec![record.clone()]);
                        }
                        break;
                    }
                    AfterFailure::DeadLetter => {
                        let record = &part[0];
                        tracing::error!(component, topic = %record.topic, partition = record.partition,
                            offset = record.offset, error = %error_chain(&err),
                            "a record failed the same way {} times; sent to the dead-letter topic",
                            failures.non_transient);
                        (poison.dead_letter)(
                            record,
                            format!(
                                "UNKNOWN_ERROR(9001): processing failed {} times the same way: {}",
                                failures.non_transient,
                                error_chain(&err)
                            ),
                        );
                        break;
                    }
                }
                tokio::select! {
                    () = stopped(&mut stop) => return,
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                }
            }
        }
        for record in &batch {
            if let Err(err) = consumer.store_offset(&record.topic, record.partition, record.offset)
            {
                tracing::warn!(component, %err, topic = %record.topic, "could not store the offset");
            }
        }
    }
}

/// `error: cause: cause…`, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_failing_the_same_way_is_split_and_a_single_record_dead_lettered() {
        let mut failures = Failures::default();
        for _ in 0..4 {
            assert_eq!(failures.record(false, 10, 5), AfterFailure::Retry);
        }
        assert_eq!(failures.record(false, 10, 5), AfterFailure::Split);
        let mut single = Failures::default();
        for _ in 0..4 {
            assert_eq!(single.record(false, 1, 5), AfterFailure::Retry);
        }
        assert_eq!(single.record(false, 1, 5), AfterFailure::DeadLetter);
    }

    #[test]
    fn transient_failures_are_retried_forever_and_logged_loudly_once() {
        let mut failures = Failures::default();
        assert_eq!(failures.record(true, 1, 5), AfterFailure::Retry);
        assert!(failures.first_transient());
        for _ in 0..100 {
            assert_eq!(failures.record(true, 1, 5), AfterFailure::Retry);
        }
        assert!(!failures.first_transient());
    }
}
