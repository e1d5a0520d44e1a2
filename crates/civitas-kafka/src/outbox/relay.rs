//! The relay: sends the stored rows, oldest first, through its own idempotent producer, and
//! takes a row out of the backlog only once the broker acknowledged it.
//!
//! - At most [`WINDOW`] records are in flight. Once the relay has caught up with the table,
//!   the rows this instance's writer just stored are sent as they are, without reading them
//!   back (a round trip to the database per commit costs more than the commit). The table is
//!   still read from its head every [`SCAN`] (and whenever the relay is not caught up: at
//!   start, after a failure), skipping rows in flight or acknowledged-but-not-yet-removed, so
//!   rows of other instances, or committed late with an older `seq`, are found.
//! - Acknowledged rows are removed in batches, at most every [`REMOVE_EVERY`].
//! - A failed delivery pauses sending: every record in flight comes back first, then, after
//!   a back-off (1 s doubling to 30 s), sending starts again at the oldest undelivered row.
//!   Within a partition the idempotent producer delivers in order or not at all, so one
//!   key's events keep their order through retries; records after the failed one may be
//!   sent twice (at-least-once).
//! - A record the broker refuses for good (too large, invalid topic, not authorized) is
//!   logged at ERROR with its topic and key, counted in `rejected` and removed: it must not
//!   block everything behind it.
//! - Only the holder of the relay lease sends ([`LEASE`], renewed every [`RENEW`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use sqlx::AnyPool;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::rows::{self, Stored};
use super::{Shared, lock};
use crate::error::KafkaError;
use crate::publisher::{PRODUCER_DEFAULTS, Rejection};
use crate::settings::KafkaSettings;

/// Records in flight at most.
const WINDOW: usize = 5_000;
/// How long the relay lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(15);
/// How often the lease is renewed (or, by a standby, tried).
const RENEW: Duration = Duration::from_secs(5);
/// How often the table is read from its head (rows of other instances, late commits).
const SCAN: Duration = Duration::from_millis(250);
/// How long acknowledged rows wait to be removed together.
const REMOVE_EVERY: Duration = Duration::from_millis(20);
/// How often the backlog is counted in the database.
const RECOUNT: Duration = Duration::from_secs(2);

/// One delivery report.
struct Delivery {
    id: String,
    error: Option<rdkafka::error::KafkaError>,
    topic: String,
    key: Option<String>,
}

struct Tracker {
    reports: mpsc::UnboundedSender<Delivery>,
    shared: Arc<Shared>,
}

impl ClientContext for Tracker {
    /// librdkafka's client errors: "all brokers down" tells `/health` at once, not only when
    /// a delivery times out (a minute later). A delivery clears it.
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let unreachable = matches!(
            error.rdkafka_error_code(),
            Some(Code::AllBrokersDown | Code::BrokerTransportFailure | Code::Resolve)
        );
        if unreachable {
            *lock(&self.shared.broker_error) =
                Some((format!("{error}: {reason}"), std::time::Instant::now()));
        }
        tracing::warn!(%error, %reason, "the outbox's producer reports an error");
    }
}

impl ProducerContext for Tracker {
    type DeliveryOpaque = Box<String>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<String>) {
        let (error, message) = match result {
            Ok(message) => (None, message),
            Err((error, message)) => (Some(error.clone()), message),
        };
        let _ = self.reports.send(Delivery {
            id: *id,
            error,
            topic: message.topic().to_owned(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
        });
    }
}

pub(crate) struct Relay {
    pool: AnyPool,
    producer: ThreadedProducer<Tracker>,
    reports: mpsc::UnboundedReceiver<Delivery>,
    shared: Arc<Shared>,
    owner: String,
    in_flight: HashSet<String>,
    /// Acknowledged (or refused for good) and not yet removed from the table.
    done: HashSet<String>,
    /// Rows whose delivery failed: counted in `retried` when sent again.
    failed: HashSet<String>,
    /// After a failure: no sending before this, nor while records are in flight.
    paused_until: Option<Instant>,
    backoff: Duration,
    /// Every stored row older than the writer's fresh ones is in flight or done: fresh rows
    /// may go straight to the producer without breaking the order.
    caught_up: bool,
    /// The highest `seq` the last scan read: fresh rows up to it were in that scan (or
    /// committed after it, and the next scan finds them), so they are not sent again.
    scanned_upto: i64,
}

impl Relay {
    pub(crate) fn connect(
        pool: AnyPool,
        kafka: &KafkaSettings,
        shared: Arc<Shared>,
    ) -> Result<Self, KafkaError> {
        let (sender, reports) = mpsc::unbounded_channel();
        let producer = kafka
            .client_config_with(PRODUCER_DEFAULTS)
            .create_with_context(Tracker {
                reports: sender,
                shared: shared.clone(),
            })
            .map_err(|source| KafkaError::CreateClient {
                bootstrap: kafka.bootstrap_servers.clone(),
                source: Box::new(source),
            })?;
        let owner = shared
            .settings
            .instance
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(Self {
            pool,
            producer,
            reports,
            shared,
            owner,
            in_flight: HashSet::new(),
            done: HashSet::new(),
            failed: HashSet::new(),
            paused_until: None,
            backoff: Duration::from_secs(1),
            caught_up: false,
            scanned_upto: i64::MIN,
        })
    }

    pub(crate) async fn run(mut self) {
        let mut stop = self.shared.stop.subscribe();
        let now = Instant::now();
        let (mut next_lease, mut next_recount) = (now, now + RECOUNT);
        let (mut next_scan, mut next_remove) = (now, now);
        let mut held = false;
        loop {
            let now = Instant::now();
            if now >= next_lease {
                held = match rows::lease(&self.pool, &self.owner, LEASE).await {
                    Ok(held) => held,
                    Err(error) => {
                        tracing::warn!(%error, "the outbox relay could not renew its lease; not sending");
                        false
                    }
                };
                self.shared.relaying.store(held, Ordering::Relaxed);
                self.caught_up &= held;
                next_lease = now + RENEW;
            }
            if now >= next_recount {
                if let Err(error) = rows::recount(&self.pool, &self.shared.counters).await {
                    tracing::debug!(%error, "the outbox backlog could not be counted");
                }
                next_recount = now + RECOUNT;
            }
            let fresh = std::mem::take(&mut *lock(&self.shared.fresh));
            // Checked after taking the fresh rows: a row a caller's transaction stored is
            // flagged before any later fresh row exists, so it is never overtaken.
            if self.shared.rescan.swap(false, Ordering::SeqCst) {
                self.caught_up = false;
            }
            let sending = held && self.may_send();
            if sending && self.caught_up {
                // Rows not sent here (the producer's queue is full) are found by a scan.
                let scanned = self.scanned_upto;
                self.caught_up = fresh
                    .into_iter()
                    .filter(|row| row.seq > scanned)
                    .all(|row| self.send(row));
            }
            if sending && (!self.caught_up || now >= next_scan) {
                self.caught_up = self.fill().await;
                next_scan = now + SCAN;
            }
            let removing =
                self.done.len() >= 1_000 || (!self.done.is_empty() && now >= next_remove);
            if removing {
                self.remove_done().await;
                next_remove = now + REMOVE_EVERY;
            }
            let stopping = *stop.borrow();
            if stopping && (!held || self.finished()) {
                self.remove_done().await;
                if held {
                    let _ = rows::release(&self.pool, &self.owner).await;
                }
                self.shared.relaying.store(false, Ordering::Relaxed);
                return;
            }
            let wake = if self.done.is_empty() {
                next_scan
            } else {
                next_scan.min(next_remove)
            };
            tokio::select! {
                Some(report) = self.reports.recv() => self.handle(report),
                () = self.shared.stored.notified() => {}
                () = tokio::time::sleep_until(wake.max(Instant::now() + Duration::from_millis(1))) => {}
                _ = stop.changed(), if !stopping => {}
            }
            while let Ok(report) = self.reports.try_recv() {
                self.handle(report);
            }
        }
    }

    /// Nothing left to send: the writer stored everything, no row waits, none is in flight.
    fn finished(&self) -> bool {
        self.caught_up
            && self.in_flight.is_empty()
            && self.shared.queue.len() == 0
            && *self.shared.committed.borrow() == self.shared.queue.last_ticket()
    }

    fn may_send(&mut self) -> bool {
        match self.paused_until {
            None => true,
            Some(until) if Instant::now() >= until && self.in_flight.is_empty() => {
                self.paused_until = None;
                true
            }
            Some(_) => false,
        }
    }

    /// Hands the next rows to the producer; `true` when no stored row is left unsent.
    async fn fill(&mut self) -> bool {
        let room = WINDOW.saturating_sub(self.in_flight.len());
        if room == 0 {
            return false;
        }
        let skip = self.in_flight.len() + self.done.len();
        let rows = match rows::pending(&self.pool, skip + room).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "the outbox relay could not read the stored events");
                return false;
            }
        };
        let caught_up = rows.len() < skip + room;
        if let Some(last) = rows.last() {
            self.scanned_upto = self.scanned_upto.max(last.seq);
        }
        for row in rows {
            if self.in_flight.contains(&row.id) || self.done.contains(&row.id) {
                continue;
            }
            if !self.send(row) {
                return false;
            }
        }
        caught_up
    }

    /// Hands one row to the producer; `false` when its queue is full (try later).
    fn send(&mut self, row: Stored) -> bool {
        let Stored {
            id,
            record,
            kept_at,
            ..
        } = row;
        if self.in_flight.contains(&id) || self.done.contains(&id) {
            return true;
        }
        // The record's own `traceparent` (the request's span) is the parent: the send shows
        // up in the trace of the request that made the event, however much later it leaves.
        let span = tracing::info_span!(
            "kafka.produce",
            topic = %record.topic,
            key = record.key.as_deref(),
            bytes = record.payload.len(),
        );
        if let Some(traceparent) = record.header("traceparent") {
            civitas_telemetry::continue_trace(&span, traceparent);
        }
        let _entered = span.enter();
        let mut base = BaseRecord::with_opaque_to(&record.topic, Box::new(id.clone()))
            .payload(&record.payload)
            .headers(record.headers.clone())
            .timestamp(kept_at);
        if let Some(key) = &record.key {
            base = base.key(key);
        }
        match self.producer.send(base) {
            Ok(()) => {
                if self.failed.remove(&id) {
                    self.shared.counters.retried.fetch_add(1, Ordering::Relaxed);
                }
                self.in_flight.insert(id);
                true
            }
            Err((error, _)) => {
                if let Some(rejection) = Rejection::of(&error) {
                    self.refused(rejection, &record.topic, record.key.as_deref(), &error);
                    self.done.insert(id);
                    return true;
                }
                false
            }
        }
    }

    fn refused(
        &self,
        rejection: Rejection,
        topic: &str,
        key: Option<&str>,
        error: &rdkafka::error::KafkaError,
    ) {
        self.shared.counters.lost(true);
        let key = key.map(|k| civitas_events::truncate::truncate_str(k, 200));
        tracing::error!(%topic, ?key, %error, rejection = rejection.as_str(),
            "event refused by the broker for good; removed from the outbox");
    }

    fn handle(&mut self, report: Delivery) {
        self.in_flight.remove(&report.id);
        let counters = &self.shared.counters;
        let Some(error) = report.error else {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            self.backoff = Duration::from_secs(1);
            lock(&self.shared.broker_error).take();
            self.done.insert(report.id);
            return;
        };
        counters.failed.fetch_add(1, Ordering::Relaxed);
        if let Some(rejection) = Rejection::of(&error) {
            self.refused(rejection, &report.topic, report.key.as_deref(), &error);
            self.done.insert(report.id);
            return;
        }
        self.caught_up = false;
        if self.paused_until.is_none() {
            tracing::warn!(%error, topic = %report.topic, backoff = ?self.backoff,
                "event not delivered; the outbox keeps it and sends again from the oldest undelivered event");
            self.paused_until = Some(Instant::now() + self.backoff);
            self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
        }
        *lock(&self.shared.broker_error) = Some((error.to_string(), std::time::Instant::now()));
        self.failed.insert(report.id);
    }

    /// Takes acknowledged rows out of the backlog; on a database error they are kept for the
    /// next round (they are skipped meanwhile, not sent twice).
    async fn remove_done(&mut self) {
        if self.done.is_empty() {
            return;
        }
        let ids: Vec<String> = self.done.iter().cloned().collect();
        match rows::remove(&self.pool, &ids).await {
            Ok(removed) => {
                let counters = &self.shared.counters;
                let left = counters
                    .stored_backlog
                    .fetch_sub(removed as i64, Ordering::Relaxed)
                    - removed as i64;
                if left <= 0 {
                    counters.stored_backlog_bytes.store(0, Ordering::Relaxed);
                    counters.oldest_ms.store(0, Ordering::Relaxed);
                }
                self.done.clear();
            }
            Err(error) => {
                tracing::warn!(%error, rows = ids.len(), "delivered events could not be taken out of the outbox yet");
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Whatever is still in flight stays in the table: the next start sends it.
        let _ = self.producer.flush(Duration::from_millis(100));
    }
}
