//! The durable outbox (docs/operations.md "Delivery guarantees"): acknowledged means
//! durable.
//!
//! ```text
//! request ──append──▶ queue ──writer (group commit)──▶ kafka_outbox ──relay──▶ broker
//!    │                                  │                   ▲               │
//!    └──── waits for its ticket ◀── committed              └── removed ◀──── ack
//! ```
//!
//! - [`Outbox::append`] queues a record (or [`Outbox::append_later`] a closure that builds
//!   it) under a ticket. The writer (`writer.rs`) takes everything queued, stores it with one
//!   statement and publishes the highest ticket stored: one commit carries every request
//!   that arrived meanwhile (group commit), not one row per request.
//! - [`Outbox::store_in`] stores records in a caller's own transaction instead (the built-in
//!   directory: the change and its events commit together).
//! - A request that appended runs inside [`track`]; before it is answered it waits
//!   ([`Outbox::durable`]) until its last ticket is committed. `kill -9` after that loses
//!   nothing: the row is in the database.
//! - The relay (`relay.rs`) reads the undelivered rows in order and hands them to its own
//!   idempotent producer; a row leaves the table only after the broker acknowledged it. On a failed delivery it stops,
//!   lets every record in flight come back, and starts again from the oldest undelivered
//!   row: per key (one partition) the order holds; a record may arrive twice
//!   (at-least-once; consumers deduplicate by `event_id` / `ce_id`).
//! - One relay per database sends at a time: it holds a lease in `kafka_outbox_relay`, so
//!   several instances on one PostgreSQL database do not send a row twice.
//! - The backlog is bounded ([`OutboxSettings`]): when it is full, or the database does
//!   not take rows, [`Outbox::admit`] refuses new commands (policy `refuse`, the default:
//!   no command without its audit event) or lets them through and counts the events it
//!   drops (policy `accept`).

mod relay;
mod rows;
mod writer;

pub(crate) use rows::placeholders;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::AnyPool;

use crate::error::KafkaError;
use crate::record::Record;
use crate::settings::KafkaSettings;

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// What the service does when the backlog is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FullPolicy {
    /// New commands are refused with 503 until the backlog shrinks.
    #[default]
    Refuse,
    /// Commands run; their events are dropped and counted (`dropped`).
    Accept,
}

impl std::str::FromStr for FullPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "refuse" => Ok(FullPolicy::Refuse),
            "accept" => Ok(FullPolicy::Accept),
            other => Err(format!(
                "{other:?} is not a backlog policy: use refuse (the default) or accept"
            )),
        }
    }
}

/// How the outbox is bounded and how long a request waits for its events.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Undelivered events (stored or queued) at which the backlog is full.
    pub max_events: u64,
    /// Undelivered payload bytes at which the backlog is full.
    pub max_bytes: u64,
    pub when_full: FullPolicy,
    /// How long a request waits for its events to be stored before it answers 503.
    pub durable_timeout: Duration,
    /// Who holds the relay lease: a name that stays the same when this instance restarts
    /// (`host@listen address`), so a restart after `kill -9` relays at once instead of
    /// waiting for its own lease to run out. Two live instances must never share it.
    /// `None`: a random one (the restart waits up to the lease's 15 s).
    pub instance: Option<String>,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            max_events: 1_000_000,
            max_bytes: 1 << 30,
            when_full: FullPolicy::Refuse,
            durable_timeout: Duration::from_secs(5),
            instance: None,
        }
    }
}

/// Why a command may not run now.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the event backlog is full ({events} undelivered events, {bytes} bytes; limits {max_events} events, {max_bytes} bytes): the broker does not take events fast enough; no command runs without its audit event"
    )]
    Full {
        events: u64,
        bytes: u64,
        max_events: u64,
        max_bytes: u64,
    },
    #[error(
        "events cannot be stored: the database does not take them ({0}); no command runs without its audit event"
    )]
    Unavailable(String),
}

/// Why a request's events are not known to be stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the request's events were not stored within {waited:?} ({reason}); what the request did may have taken effect: look for its correlation id"
)]
pub struct NotDurable {
    pub waited: Duration,
    pub reason: String,
}

/// Figures of the outbox, for `/health`, `/metrics` and `crud.metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    /// Events handed to the outbox.
    pub appended: u64,
    /// Events written to the database.
    pub stored: u64,
    /// Commits of the writer (each carries every event queued meanwhile).
    pub commits: u64,
    /// Events the broker acknowledged (by this instance's relay).
    pub delivered: u64,
    /// Deliveries that failed (each is sent again).
    pub failed: u64,
    /// Events sent again after a failed delivery.
    pub retried: u64,
    /// Events dropped: the backlog was full under the `accept` policy, or the event could
    /// not be built.
    pub dropped: u64,
    /// Events the broker refused for good (too large, invalid topic, not authorized).
    pub rejected: u64,
    /// Commands refused because the backlog was full or the database did not take events.
    pub refused: u64,
    /// Undelivered events: stored and not yet acknowledged, plus queued for the writer.
    pub backlog_events: u64,
    /// The payload bytes of the stored ones.
    pub backlog_bytes: u64,
    /// Seconds since the oldest undelivered event was stored; 0 when none waits.
    pub oldest_undelivered_secs: u64,
    /// Whether this instance holds the relay lease (one instance per database sends).
    pub relaying: bool,
    /// Seconds since an event was last dropped or rejected; `None` when none ever was.
    pub last_loss_secs_ago: Option<u64>,
    /// Why the writer cannot store events now, if it cannot.
    pub database_error: Option<String>,
    /// The last delivery error and how long ago, while deliveries fail.
    pub broker_error: Option<String>,
}

/// Counters shared by the writer, the relay and the callers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    appended: AtomicU64,
    stored: AtomicU64,
    commits: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    refused: AtomicU64,
    /// Undelivered rows in the table as last counted, corrected by what happened since.
    stored_backlog: AtomicI64,
    stored_backlog_bytes: AtomicI64,
    /// Epoch milliseconds of the oldest undelivered row; 0 = none.
    oldest_ms: AtomicI64,
    /// Epoch milliseconds of the last dropped or rejected event; 0 = never.
    last_loss_ms: AtomicI64,
}

impl Counters {
    /// Counts one event dropped (`rejected`: refused by the broker for good).
    pub(crate) fn lost(&self, rejected: bool) {
        let counter = if rejected {
            &self.rejected
        } else {
            &self.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_loss_ms.store(rows::now_ms(), Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// The highest ticket the current request appended.
    static TICKET: Cell<u64>;
}

/// Runs `request`, and returns with its output the highest ticket it appended (0: none).
pub async fn track<F: Future>(request: F) -> (F::Output, u64) {
    TICKET
        .scope(Cell::new(0), async move {
            let output = request.await;
            (output, TICKET.with(Cell::get))
        })
        .await
}

/// The durable outbox of one process. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) settings: OutboxSettings,
    /// The producer's `message.max.bytes`: no stored record is larger.
    pub(crate) max_message_bytes: usize,
    pub(crate) counters: Counters,
    pub(crate) queue: writer::Queue,
    /// The highest ticket committed.
    pub(crate) committed: tokio::sync::watch::Sender<u64>,
    /// Why the writer cannot store events, if it cannot.
    pub(crate) database_error: std::sync::Mutex<Option<String>>,
    pub(crate) broker_error: std::sync::Mutex<Option<(String, Instant)>>,
    pub(crate) relaying: std::sync::atomic::AtomicBool,
    /// Wakes the relay after a commit.
    pub(crate) stored: tokio::sync::Notify,
    /// Rows just stored by this instance, for the relay to send without reading them back.
    pub(crate) fresh: std::sync::Mutex<Vec<rows::Stored>>,
    /// Set after a caller's transaction stored rows ([`Outbox::store_in`]): the relay reads
    /// the table before it sends fresh rows again, so those rows keep their place.
    pub(crate) rescan: std::sync::atomic::AtomicBool,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Outbox {
    /// Starts the writer and the relay on `pool` (migrated), sending to the cluster of
    /// `kafka`. Rows left by an earlier run are sent first.
    pub async fn start(
        pool: AnyPool,
        kafka: &KafkaSettings,
        settings: OutboxSettings,
    ) -> Result<Self, KafkaError> {
        let (stop, _) = tokio::sync::watch::channel(false);
        let max_message_bytes = kafka
            .client_config()
            .get("message.max.bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        let shared = Arc::new(Shared {
            settings,
            max_message_bytes,
            counters: Counters::default(),
            queue: writer::Queue::default(),
            committed: tokio::sync::watch::channel(0).0,
            database_error: std::sync::Mutex::new(None),
            broker_error: std::sync::Mutex::new(None),
            relaying: std::sync::atomic::AtomicBool::new(false),
            stored: tokio::sync::Notify::new(),
            fresh: std::sync::Mutex::new(Vec::new()),
            rescan: std::sync::atomic::AtomicBool::new(false),
            stop,
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        rows::recount(&pool, &shared.counters)
            .await
            .map_err(|source| KafkaError::Outbox {
                action: "count the undelivered events",
                source,
            })?;
        let relay = relay::Relay::connect(pool.clone(), kafka, shared.clone())?;
        let writer = writer::Writer::new(pool, shared.clone());
        let handles = vec![tokio::spawn(writer.run()), tokio::spawn(relay.run())];
        *lock(&shared.tasks) = handles;
        Ok(Self { shared })
    }

    /// Queues `record` for the database; its ticket is recorded for the request [`track`]ed.
    pub fn append(&self, record: Record) {
        self.append_with(Box::new(move || Ok(record)));
    }

    /// Like [`append`](Self::append) for a record built by the writer, in its batch, off
    /// the caller's thread (building costs the caller nothing but the closure).
    pub fn append_later<F>(&self, build: F)
    where
        F: FnOnce() -> Result<Record, KafkaError> + Send + 'static,
    {
        self.append_with(Box::new(build));
    }

    fn append_with(&self, build: writer::Build) {
        let counters = &self.shared.counters;
        counters.appended.fetch_add(1, Ordering::Relaxed);
        let settings = &self.shared.settings;
        let over = self.backlog_events() >= settings.max_events.saturating_mul(2)
            || (settings.when_full == FullPolicy::Accept && self.full().is_some());
        if over {
            // Under `refuse` commands stop at the limit; only a database that takes nothing
            // for long lets the queue reach twice the limit (memory is bounded too).
            counters.lost(false);
            tracing::error!(
                backlog = self.backlog_events(),
                limit = settings.max_events,
                "event backlog full: event dropped (see /health)"
            );
            return;
        }
        let ticket = self.shared.queue.push(build);
        self.shared.queue.wake();
        let _ = TICKET.try_with(|t| t.set(t.get().max(ticket)));
    }

    /// Stores `records` in the caller's transaction on this outbox's database (a transactional
    /// outbox: the change and its events commit together, or neither does). After the
    /// commit the caller calls [`stored_elsewhere`](Self::stored_elsewhere). A record that
    /// cannot fit `message.max.bytes` even truncated is refused with the transaction.
    pub async fn store_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        records: Vec<Record>,
    ) -> Result<usize, sqlx::Error> {
        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            let record = record
                .fit(self.shared.max_message_bytes)
                .map_err(|too_large| {
                    sqlx::Error::Protocol(format!(
                        "an event for {} is {} bytes even truncated, more than message.max.bytes",
                        too_large.record.topic, too_large.size
                    ))
                })?;
            rows.push(rows::ToStore {
                id: uuid::Uuid::now_v7().to_string(),
                seq: rows::next_seq(),
                record,
            });
        }
        for chunk in rows.chunks(rows::CHUNK) {
            rows::insert_chunk(conn, chunk, rows::now_ms()).await?;
        }
        Ok(rows.len())
    }

    /// After the commit of a transaction that [`store_in`](Self::store_in) wrote `count`
    /// events into: counts them and has the relay read them from the table, in order.
    pub fn stored_elsewhere(&self, count: usize) {
        let counters = &self.shared.counters;
        counters.appended.fetch_add(count as u64, Ordering::Relaxed);
        counters.stored.fetch_add(count as u64, Ordering::Relaxed);
        counters
            .stored_backlog
            .fetch_add(count as i64, Ordering::Relaxed);
        self.shared.rescan.store(true, Ordering::SeqCst);
        self.shared.stored.notify_one();
    }

    /// Whether a command may run now: `Err` when the backlog is full (policy `refuse`) or
    /// the database does not take events. A refusal is counted in `refused`.
    pub fn admit(&self) -> Result<(), Refusal> {
        let verdict = self.would_admit();
        if verdict.is_err() {
            self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    /// What [`admit`](Self::admit) would answer now, without counting (health checks).
    pub fn would_admit(&self) -> Result<(), Refusal> {
        if let Some(error) = lock(&self.shared.database_error).clone() {
            return Err(Refusal::Unavailable(error));
        }
        match self.shared.settings.when_full {
            FullPolicy::Refuse => self.full().map_or(Ok(()), Err),
            FullPolicy::Accept => Ok(()),
        }
    }

    fn full(&self) -> Option<Refusal> {
        let settings = &self.shared.settings;
        let (events, bytes) = (self.backlog_events(), self.backlog_bytes());
        (events >= settings.max_events || bytes >= settings.max_bytes).then_some(Refusal::Full {
            events,
            bytes,
            max_events: settings.max_events,
            max_bytes: settings.max_bytes,
        })
    }

    /// Waits until every event up to `ticket` is stored, or the durable timeout.
    pub async fn durable(&self, ticket: u64) -> Result<(), NotDurable> {
        let waited = self.shared.settings.durable_timeout;
        let mut committed = self.shared.committed.subscribe();
        match tokio::time::timeout(waited, committed.wait_for(|c| *c >= ticket)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(NotDurable {
                waited,
                reason: "the outbox stopped".to_owned(),
            }),
            Err(_) => Err(NotDurable {
                waited,
                reason: lock(&self.shared.database_error)
                    .clone()
                    .unwrap_or_else(|| "the database is slow".to_owned()),
            }),
        }
    }

    fn backlog_events(&self) -> u64 {
        let stored = self.shared.counters.stored_backlog.load(Ordering::Relaxed);
        stored.max(0) as u64 + self.shared.queue.len() as u64
    }

    fn backlog_bytes(&self) -> u64 {
        let stored = self
            .shared
            .counters
            .stored_backlog_bytes
            .load(Ordering::Relaxed);
        stored.max(0) as u64
    }

    /// A snapshot of the figures.
    pub fn stats(&self) -> OutboxStats {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let oldest = c.oldest_ms.load(Ordering::Relaxed);
        OutboxStats {
            appended: load(&c.appended),
            stored: load(&c.stored),
            commits: load(&c.commits),
            delivered: load(&c.delivered),
            failed: load(&c.failed),
            retried: load(&c.retried),
            dropped: load(&c.dropped),
            rejected: load(&c.rejected),
            refused: load(&c.refused),
            backlog_events: self.backlog_events(),
            backlog_bytes: self.backlog_bytes(),
            oldest_undelivered_secs: if oldest > 0 {
                (rows::now_ms().saturating_sub(oldest) / 1000).max(0) as u64
            } else {
                0
            },
            relaying: self.shared.relaying.load(Ordering::Relaxed),
            last_loss_secs_ago: match c.last_loss_ms.load(Ordering::Relaxed) {
                0 => None,
                at => Some((rows::now_ms().saturating_sub(at) / 1000).max(0) as u64),
            },
            database_error: lock(&self.shared.database_error).clone(),
            broker_error: lock(&self.shared.broker_error)
                .as_ref()
                .map(|(error, at)| format!("{error} ({} s ago)", at.elapsed().as_secs())),
        }
    }

    /// Stops taking events, stores what is queued, and lets the relay deliver for up to
    /// `timeout`; what the broker has not acknowledged by then stays in the database for
    /// the next start. Returns the undelivered backlog left behind.
    pub async fn shutdown(&self, timeout: Duration) -> OutboxStats {
        let deadline = tokio::time::Instant::now() + timeout;
        // The writer stores what is queued, then the relay sends until the backlog is empty.
        let _ = self.shared.stop.send(true);
        self.shared.queue.wake();
        let handles = std::mem::take(&mut *lock(&self.shared.tasks));
        for mut handle in handles {
            if tokio::time::timeout_at(deadline, &mut handle)
                .await
                .is_err()
            {
                // What is not delivered by now stays in the database for the next start.
                handle.abort();
            }
        }
        self.stats()
    }
}

pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
