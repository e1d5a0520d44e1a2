//! The one shared producer of a process.
//!
//! `send` never blocks the caller: the record goes to librdkafka's queue and its delivery is
//! tracked by a callback. `send_later` does not even build the record on the caller's
//! thread: it queues a closure that the publisher's builder thread runs in batches, in the
//! order the calls were made (why: `deferred.rs`).
//!
//! A record librdkafka cannot take (queue full) or cannot deliver (after its own retries,
//! `message.timeout.ms`) lands in a bounded in-memory retry queue that a background thread
//! drains; nothing is dropped silently — if even that queue overflows the record is counted
//! in `dropped` and logged at ERROR, because an operator must act. What is in memory is lost on
//! a crash: the CRUD service does not publish through here but through the durable
//! [outbox](crate::outbox); the saga components and the tools do.
//!
//! No record is larger than the producer's `message.max.bytes` (read from its settings, so
//! `--kafka-option message.max.bytes=…` moves it): a larger one is shortened with visible
//! markers first ([`Record::fit`]). A record the broker refuses for a reason a retry cannot
//! fix (too large, invalid topic, not authorized) is not retried: it is logged at ERROR with
//! its topic, key and reason, counted in `rejected`, and never blocks the records behind it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use civitas_events::CloudEvent;
use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::Serialize;

use crate::deferred::{self, DeferredQueue};
use crate::error::KafkaError;
use crate::record::Record;
use crate::settings::KafkaSettings;

/// How many undeliverable records the retry queue holds before it starts dropping (and
/// counting) the newest ones.
pub const RETRY_QUEUE_CAPACITY: usize = 100_000;

/// How often the retry queue is drained back into the producer.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Producer settings the seeds ask for (docs/architecture.md, "Delivery"); passthrough options may override.
pub(crate) const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("queue.buffering.max.messages", "1000000"),
    ("queue.buffering.max.kbytes", "1048576"),
    ("message.timeout.ms", "60000"),
];

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Why the broker (or librdkafka) refused a record for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Larger than `message.max.bytes` even after truncation.
    TooLarge,
    /// The topic name is not valid.
    InvalidTopic,
    /// Our principal may not write the topic.
    Unauthorized,
    /// The broker refuses the record itself (e.g. no key on a compacted topic).
    InvalidRecord,
}

impl Rejection {
    /// The `reason` label of `civitas_publisher_rejected_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::InvalidTopic => "invalid_topic",
            Rejection::Unauthorized => "unauthorized",
            Rejection::InvalidRecord => "invalid_record",
        }
    }

    /// The rejection a librdkafka error means, if retrying cannot fix it.
    pub(crate) fn of(error: &rdkafka::error::KafkaError) -> Option<Self> {
        use rdkafka::types::RDKafkaErrorCode as Code;
        match error.rdkafka_error_code()? {
            Code::MessageSizeTooLarge | Code::InvalidMessageSize => Some(Rejection::TooLarge),
            Code::InvalidRecord => Some(Rejection::InvalidRecord),
            Code::InvalidTopic => Some(Rejection::InvalidTopic),
            Code::TopicAuthorizationFailed | Code::ClusterAuthorizationFailed => {
                Some(Rejection::Unauthorized)
            }
            _ => None,
        }
    }
}

/// Counters of the publisher, for `/metrics` and `crud.metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PublisherStats {
    /// Records handed to `send`.
    pub sent: u64,
    /// Records the broker acknowledged.
    pub delivered: u64,
    /// Delivery attempts that failed (each failure is retried).
    pub failed: u64,
    /// Records re-sent from the retry queue.
    pub retried: u64,
    /// Records lost because the retry queue was full.
    pub dropped: u64,
    /// Records refused for good (too large, invalid topic, not authorized), by reason.
    pub rejected_too_large: u64,
    pub rejected_invalid_topic: u64,
    pub rejected_unauthorized: u64,
    pub rejected_invalid_record: u64,
    /// Records shortened to fit `message.max.bytes`.
    pub truncated: u64,
    /// Seconds since a record was last dropped or rejected; `None` when none ever was.
    pub last_loss_secs_ago: Option<u64>,
    /// Records waiting in the retry queue now.
    pub retry_queue: u64,
    /// Records in librdkafka's queue or on the wire now.
    pub in_flight: u64,
    /// Records queued by `send_later` and not yet built.
    pub deferred: u64,
}

#[derive(Debug)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    rejected: [AtomicU64; 4],
    truncated: AtomicU64,
    /// When a record was last lost, as milliseconds after `started`; 0 = never.
    last_loss_ms: AtomicU64,
    started: Instant,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: Default::default(),
            truncated: AtomicU64::new(0),
            last_loss_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl Counters {
    /// Counts a record lost for good.
    fn lost(&self) {
        let at = (self.started.elapsed().as_millis() as u64).max(1);
        self.last_loss_ms.store(at, Ordering::Relaxed);
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.lost();
    }

    /// Logs and counts a record refused for good.
    fn reject(
        &self,
        rejection: Rejection,
        topic: &str,
        key: Option<&str>,
        reason: &dyn std::fmt::Display,
    ) {
        self.rejected[rejection as usize].fetch_add(1, Ordering::Relaxed);
        self.lost();
        let key = key.map(|k| civitas_events::truncate::truncate_str(k, 200));
        tracing::error!(%topic, ?key, %reason, rejection = rejection.as_str(),
            "record refused by the broker for good; not retried");
    }
}

#[derive(Debug)]
struct RetryQueue {
    records: Mutex<VecDeque<Record>>,
    capacity: usize,
}

impl RetryQueue {
    fn push(&self, record: Record, counters: &Counters, reason: &dyn std::fmt::Display) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= self.capacity {
            counters.drop_one();
            tracing::error!(topic = %record.topic, %reason, capacity = self.capacity,
                "retry queue full: record dropped; the broker has been unreachable for too long");
            return;
        }
        tracing::warn!(topic = %record.topic, %reason, queued = records.len() + 1,
            "record not delivered; kept in the retry queue");
        records.push_back(record);
    }

    fn take_all(&self) -> VecDeque<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn put_back_front(&self, mut rest: VecDeque<Record>) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        rest.extend(records.drain(..));
        *records = rest;
    }

    fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Receives librdkafka's delivery reports.
#[derive(Debug)]
struct DeliveryTracker {
    counters: Arc<Counters>,
    retry: Arc<RetryQueue>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        match result {
            Ok(_) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, message)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                if let Some(rejection) = Rejection::of(err) {
                    let key = message.key().map(String::from_utf8_lossy);
                    self.counters
                        .reject(rejection, message.topic(), key.as_deref(), err);
                    return;
                }
                let record = Record {
                    topic: message.topic().to_owned(),
                    key: message
                        .key()
                        .map(|k| String::from_utf8_lossy(k).into_owned()),
                    headers: message.headers().map(|h| h.detach()).unwrap_or_default(),
                    payload: message.payload().unwrap_or_default().to_vec(),
                };
                self.retry.push(record, &self.counters, err);
            }
        }
    }
}

struct Inner {
    producer: ThreadedProducer<DeliveryTracker>,
    /// The producer's `message.max.bytes`: no record is sent larger.
    max_message_bytes: usize,
    counters: Arc<Counters>,
    retry: Arc<RetryQueue>,
    deferred: Arc<DeferredQueue>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let unbuilt = self.deferred.len();
        if unbuilt > 0 {
            tracing::warn!(
                unbuilt,
                "publisher dropped without a flush: records queued for building are lost"
            );
        }
        self.deferred.close();
    }
}

/// The process's producer. Cheap to clone; every clone shares one librdkafka producer.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl Publisher {
    /// Connects a producer (idempotent, acks=all, lz4, 5 ms linger) to the given cluster.
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        Self::with_retry_capacity(settings, RETRY_QUEUE_CAPACITY)
    }

    /// Like [`connect`](Self::connect) with a custom retry-queue capacity.
    pub fn with_retry_capacity(
        settings: &KafkaSettings,
        capacity: usize,
    ) -> Result<Self, KafkaError> {
        let counters = Arc::new(Counters::default());
        let retry = Arc::new(RetryQueue {
            records: Mutex::new(VecDeque::new()),
            capacity,
        });
        let context = DeliveryTracker {
            counters: counters.clone(),
            retry: retry.clone(),
        };
        let config = settings.client_config_with(PRODUCER_DEFAULTS);
        let max_message_bytes = config
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        let producer =
            config
                .create_with_context(context)
                .map_err(|source| KafkaError::CreateClient {
                    bootstrap: settings.bootstrap_servers.clone(),
                    source: source.into(),
                })?;
        let deferred = Arc::new(DeferredQueue::new(deferred::CAPACITY));
        let inner = Arc::new(Inner {
            producer,
            max_message_bytes,
            counters,
            retry,
            deferred: deferred.clone(),
        });
        spawn_retry_loop(Arc::downgrade(&inner));
        spawn_builder(deferred, Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// Hands a record to the producer without waiting for the broker.
    pub fn send(&self, record: Record) {
        self.inner.counters.sent.fetch_add(1, Ordering::Relaxed);
        self.inner.enqueue(record);
    }

    /// Sends the record `build` makes, built on the publisher's builder thread within about
    /// 10 ms (at once when a flush is waiting), in the order of the calls (records given to
    /// [`send`](Self::send) meanwhile may overtake it). When the builder is 100 000 records behind, the caller
    /// builds its record on the spot instead (ahead of the queued ones; nothing is lost). A
    /// record `build` fails to make is logged at ERROR and counted in `dropped`.
    pub fn send_later<F>(&self, build: F)
    where
        F: FnOnce() -> Result<Record, KafkaError> + Send + 'static,
    {
        if let Err((_, build)) = self
            .inner
            .deferred
            .push((tracing::Span::current(), Box::new(build)))
        {
            self.inner.send_built(build());
        }
    }

    /// Serializes `value` as JSON and sends it with `event`'s CloudEvents headers.
    pub fn publish<T: Serialize>(
        &self,
        topic: &str,
        key: Option<String>,
        event: &CloudEvent,
        value: &T,
    ) -> Result<(), KafkaError> {
        self.send(Record::json(topic, key, &event.attributes(), value)?);
        Ok(())
    }

    /// Waits until every record (including those still to be built and the retry queue) is
    /// delivered, or `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = Instant::now() + timeout;
        let unbuilt = self.inner.deferred.wait_idle(deadline);
        if unbuilt > 0 {
            return Err(KafkaError::FlushTimeout { pending: unbuilt });
        }
        loop {
            self.inner.drain_retry_queue();
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self
                .inner
                .producer
                .flush(left.min(Duration::from_millis(500)));
            let pending =
                self.inner.retry.len() + self.inner.producer.in_flight_count().max(0) as usize;
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(KafkaError::FlushTimeout { pending });
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PublisherStats {
        let c = &self.inner.counters;
        PublisherStats {
            sent: c.sent.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rejected_too_large: c.rejected[Rejection::TooLarge as usize].load(Ordering::Relaxed),
            rejected_invalid_topic: c.rejected[Rejection::InvalidTopic as usize]
                .load(Ordering::Relaxed),
            rejected_unauthorized: c.rejected[Rejection::Unauthorized as usize]
                .load(Ordering::Relaxed),
            rejected_invalid_record: c.rejected[Rejection::InvalidRecord as usize]
                .load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            last_loss_secs_ago: match c.last_loss_ms.load(Ordering::Relaxed) {
                0 => None,
                at => Some((c.started.elapsed().as_millis() as u64).saturating_sub(at) / 1000),
            },
            retry_queue: self.inner.retry.len() as u64,
            in_flight: self.inner.producer.in_flight_count().max(0) as u64,
            deferred: self.inner.deferred.len() as u64,
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("counters", &self.counters)
            .field("retry_queue", &self.retry.len())
            .finish()
    }
}

impl Inner {
    /// Sends what a deferred build made, or counts and logs why there is nothing to send.
    fn send_built(&self, built: Result<Record, KafkaError>) {
        match built {
            Ok(record) => {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                self.enqueue(record);
            }
            Err(error) => {
                self.counters.drop_one();
                tracing::error!(%error, "an event could not be built and is lost");
            }
        }
    }

    /// Sends, or keeps the record in the retry queue when librdkafka refuses it for now;
    /// a record larger than `message.max.bytes` is shortened first.
    fn enqueue(&self, record: Record) {
        let span = tracing::info_span!(
            "kafka.produce",
            topic = %record.topic,
            key = record.key.as_deref(),
            bytes = record.payload.len(),
        );
        let _entered = span.enter();
        let before = record.payload.len();
        let record = match record.fit(self.max_message_bytes) {
            Ok(record) => record,
            Err(too_large) => {
                let reason = format!(
                    "{} bytes, more than message.max.bytes = {} even after truncation",
                    too_large.size, self.max_message_bytes
                );
                let record = too_large.record;
                self.counters.reject(
                    Rejection::TooLarge,
                    &record.topic,
                    record.key.as_deref(),
                    &reason,
                );
                return;
            }
        };
        if record.payload.len() != before {
            self.counters.truncated.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(refused) = self.try_enqueue(record) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            if !self.rejected_for_good(&refused) {
                self.retry
                    .push(refused.record, &self.counters, &refused.error);
            }
        }
    }

    /// Logs and counts a refusal a retry cannot fix; `false` when a retry may.
    fn rejected_for_good(&self, refused: &Refused) -> bool {
        let Some(rejection) = Rejection::of(&refused.error) else {
            return false;
        };
        let record = &refused.record;
        self.counters.reject(
            rejection,
            &record.topic,
            record.key.as_deref(),
            &refused.error,
        );
        true
    }

    /// Hands the record to librdkafka; when it refuses, the record comes back whole.
    fn try_enqueue(&self, record: Record) -> Result<(), Box<Refused>> {
        let Record {
            topic,
            key,
            headers,
            payload,
        } = record;
        let mut base = BaseRecord::to(&topic).payload(&payload).headers(headers);
        if let Some(key) = &key {
            base = base.key(key);
        }
        match self.producer.send(base) {
            Ok(()) => Ok(()),
            Err((error, back)) => {
                let headers = back.headers.unwrap_or_default();
                Err(Box::new(Refused {
                    error,
                    record: Record {
                        topic,
                        key,
                        headers,
                        payload,
                    },
                }))
            }
        }
    }

    /// Re-sends what the retry queue holds; stops at the first record librdkafka refuses.
    fn drain_retry_queue(&self) {
        let mut pending = self.retry.take_all();
        while let Some(record) = pending.pop_front() {
            if let Err(refused) = self.try_enqueue(record) {
                if self.rejected_for_good(&refused) {
                    // Never again: it must not block the records behind it.
                    continue;
                }
                // Still refused (queue full): keep the order and try again later.
                pending.push_front(refused.record);
                self.retry.put_back_front(pending);
                return;
            }
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A record librdkafka would not take, and why.
struct Refused {
    error: rdkafka::error::KafkaError,
    record: Record,
}

/// The builder thread: runs the closures queued by `send_later`, a batch at a time.
fn spawn_builder(queue: Arc<DeferredQueue>, inner: Weak<Inner>) {
    let closer = queue.clone();
    let spawned = std::thread::Builder::new()
        .name("civitas-build".into())
        .spawn(move || {
            while let Some(batch) = queue.next_batch(deferred::LINGER) {
                let Some(inner) = inner.upgrade() else { return };
                for (span, build) in batch {
                    let _caller = span.enter();
                    // A build that panics loses its record, not the thread (and every later one).
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
                        Ok(built) => inner.send_built(built),
                        Err(_) => {
                            inner.counters.drop_one();
                            tracing::error!("building an event panicked; the event is lost");
                        }
                    }
                }
                queue.batch_done();
            }
        });
    if let Err(err) = spawned {
        // A closed queue refuses every job, so callers build their records themselves.
        closer.close();
        tracing::error!(%err, "could not start the builder thread; records are built by their callers");
    }
}

fn spawn_retry_loop(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("civitas-retry".into())
        .spawn(move || {
            loop {
                std::thread::sleep(RETRY_INTERVAL);
                let Some(inner) = inner.upgrade() else { return };
                if inner.retry.len() > 0 {
                    inner.drain_retry_queue();
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!(%err, "could not start the retry thread; undelivered records are retried only on flush");
    }
}
