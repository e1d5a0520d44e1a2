//! The writer: group commit. It waits for the first queued event, takes everything queued
//! by then, builds the records, writes them in one transaction and publishes the highest
//! ticket stored. While a commit runs, the next batch gathers: under load a commit carries
//! as many events as arrived during the previous one, so the database sees one transaction
//! per round trip, not one per request.
//!
//! When the database refuses, the batch is kept and written again (100 ms, doubling to
//! 2 s), and [`Outbox::admit`](super::Outbox::admit) refuses new commands meanwhile.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::AnyPool;

use super::rows::{self, Stored, ToStore};
use super::{Shared, lock};
use crate::error::KafkaError;
use crate::record::Record;

/// Makes one record (on the writer's task).
pub(crate) type Build = Box<dyn FnOnce() -> Result<Record, KafkaError> + Send>;

/// How long the writer lets a batch grow after a batch of at least [`BUSY`] events: the
/// first event of an idle moment is stored at once, events under load wait this long more.
const LINGER: Duration = Duration::from_millis(1);
/// A batch this large means load.
const BUSY: usize = 4;

/// Events queued for the writer, in ticket order.
#[derive(Default)]
pub(crate) struct Queue {
    state: std::sync::Mutex<QueueState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<(u64, Build)>,
    last_ticket: u64,
}

impl Queue {
    /// Queues `build`; returns its ticket.
    pub(crate) fn push(&self, build: Build) -> u64 {
        let mut state = lock(&self.state);
        state.last_ticket += 1;
        let ticket = state.last_ticket;
        state.jobs.push_back((ticket, build));
        ticket
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.state).jobs.len()
    }

    /// The last ticket given out.
    pub(crate) fn last_ticket(&self) -> u64 {
        lock(&self.state).last_ticket
    }

    fn take(&self) -> VecDeque<(u64, Build)> {
        std::mem::take(&mut lock(&self.state).jobs)
    }
}

pub(crate) struct Writer {
    pool: AnyPool,
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn new(pool: AnyPool, shared: Arc<Shared>) -> Self {
        Self { pool, shared }
    }

    /// Stores `rows` one at a time after the database refused them together; a row it
    /// refuses alone is logged at ERROR, counted as rejected (lost) and left out.
    async fn store_one_by_one(&self, rows: &mut Vec<ToStore>, kept_at: i64, error: &sqlx::Error) {
        tracing::warn!(%error, events = rows.len(), "the database refused a batch of events; storing them one by one");
        let mut stored = Vec::with_capacity(rows.len());
        for row in rows.drain(..) {
            match rows::insert(&self.pool, std::slice::from_ref(&row), kept_at).await {
                Ok(()) => stored.push(row),
                Err(error) => {
                    self.shared.counters.lost(true);
                    tracing::error!(%error, topic = %row.record.topic, key = ?row.record.key,
                        "the database refused an event; it is lost");
                }
            }
        }
        *rows = stored;
    }

    pub(crate) async fn run(mut self) {
        rows::seq_at_least(rows::last_seq(&self.pool).await.unwrap_or(0));
        let mut stop = self.shared.stop.subscribe();
        let mut busy = false;
        loop {
            if busy && !*stop.borrow() {
                // Under load, let the batch grow for a moment: one commit is a round trip to
                // the database's thread whatever it carries (see LINGER).
                tokio::time::sleep(LINGER).await;
            }
            let batch = self.shared.queue.take();
            if batch.is_empty() {
                busy = false;
                if *stop.borrow() {
                    return;
                }
                tokio::select! {
                    () = self.shared.queue.wake.notified() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            busy = batch.len() >= BUSY;
            self.store(batch).await;
        }
    }

    /// Builds and stores one batch; returns once it is stored (retrying meanwhile).
    async fn store(&mut self, batch: VecDeque<(u64, Build)>) {
        let counters = &self.shared.counters;
        let mut last_ticket = 0;
        let mut rows: Vec<ToStore> = Vec::with_capacity(batch.len());
        for (ticket, build) in batch {
            last_ticket = ticket;
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build));
            let record = match built {
                Ok(Ok(record)) => record,
                Ok(Err(error)) => {
                    counters.lost(false);
                    tracing::error!(%error, "an event could not be built and is lost");
                    continue;
                }
                Err(_) => {
                    counters.lost(false);
                    tracing::error!("building an event panicked; the event is lost");
                    continue;
                }
            };
            let record = match record.fit(self.shared.max_message_bytes) {
                Ok(record) => record,
                Err(too_large) => {
                    counters.lost(true);
                    tracing::error!(topic = %too_large.record.topic, size = too_large.size,
                        limit = self.shared.max_message_bytes,
                        "event larger than message.max.bytes even after truncation; not stored");
                    continue;
                }
            };
            rows.push(ToStore {
                id: uuid::Uuid::now_v7().to_string(),
                seq: rows::next_seq(),
                record,
            });
        }
        let kept_at = rows::now_ms();
        let mut backoff = Duration::from_millis(100);
        loop {
            match rows::insert(&self.pool, &rows, kept_at).await {
                Ok(()) => break,
                Err(error) if !civitas_store::is_unavailable(&error) => {
                    // The database answers but refuses the batch: a row it cannot take must
                    // not block everything behind it forever.
                    self.store_one_by_one(&mut rows, kept_at, &error).await;
                    break;
                }
                Err(error) => {
                    let message = error.to_string();
                    if lock(&self.shared.database_error).replace(message).is_none() {
                        tracing::error!(%error, events = rows.len(),
                            "the outbox cannot store events; commands are refused until it can");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        if lock(&self.shared.database_error).take().is_some() {
            tracing::info!("the outbox stores events again");
        }
        let bytes: usize = rows.iter().map(|r| r.record.payload.len()).sum();
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters
            .stored
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        counters
            .stored_backlog
            .fetch_add(rows.len() as i64, Ordering::Relaxed);
        counters
            .stored_backlog_bytes
            .fetch_add(bytes as i64, Ordering::Relaxed);
        let _ = counters.oldest_ms.compare_exchange(
            0,
            rows::now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.shared.committed.send_replace(last_ticket);
        // The relay sends these without reading them back, when it is caught up.
        lock(&self.shared.fresh).extend(rows.into_iter().map(|row| Stored {
            id: row.id,
            seq: row.seq,
            record: row.record,
            kept_at,
        }));
        self.shared.stored.notify_one();
    }
}
