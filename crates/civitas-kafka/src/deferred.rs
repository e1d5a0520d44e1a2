//! Records built off the caller's thread, in batches (`Publisher::send_later`).
//!
//! Building an event (envelope, masking, JSON, headers) takes about 2 µs in a tight loop but
//! about three times that on a request's thread, between HTTP parsing and database calls,
//! where the serializer's code and data are never warm (`civitas bench publish` against
//! `civitas bench execute`). So a request only queues the parts of its event: one thread
//! wakes at most every [`LINGER`], builds everything queued, in order, and hands the records
//! to librdkafka. Waking once per batch matters as much as the batch itself: on these
//! machines a thread woken per event costs more than building the event. The wake-ups of
//! the builder cost even per batch: the request that queues a batch's first event makes a
//! system call to wake it, and on 2 cores the builder then preempts a server thread. With
//! `civitas bench execute` (2 cores), the process's extra CPU per request with events was
//! 8.5 µs with 1 ms batches, 6.0 µs with 4 ms, 5.1 µs with 10 ms and 5.1 µs with 20 ms, while
//! the builder's own CPU per event stayed the same. A flush or a shutdown does not wait for
//! the linger to end.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::KafkaError;
use crate::record::Record;

/// How long the builder waits after the first record of a batch arrives, so that more
/// arrive with it. Beyond 10 ms the cost per event no longer falls (see above); an event
/// reaches librdkafka at most this late, and its broker at most `linger.ms` (5 ms) later.
pub(crate) const LINGER: Duration = Duration::from_millis(10);

/// How many records may wait to be built; beyond that the caller builds its own.
pub(crate) const CAPACITY: usize = 100_000;

/// Makes one record; runs on the builder thread, in the span of the caller that queued it
/// (so the record's `kafka.produce` span belongs to the command that caused it).
pub(crate) type Build = (
    tracing::Span,
    Box<dyn FnOnce() -> Result<Record, KafkaError> + Send>,
);

/// The queue between callers and the builder thread.
pub(crate) struct DeferredQueue {
    state: Mutex<State>,
    /// The builder waits here for work.
    work: Condvar,
    /// Flushes wait here for the builder to finish what was queued.
    idle: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Build>,
    /// Jobs taken by the builder and not yet handed over.
    building: usize,
    builder_waiting: bool,
    /// A flush is waiting: the builder ends its linger at once.
    hurry: bool,
    closed: bool,
}

impl DeferredQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`, or gives it back when the queue is full (or closed).
    pub(crate) fn push(&self, job: Build) -> Result<(), Build> {
        let mut state = self.lock();
        if state.closed || state.jobs.len() >= self.capacity {
            return Err(job);
        }
        state.jobs.push_back(job);
        if state.builder_waiting {
            state.builder_waiting = false;
            self.work.notify_one();
        }
        Ok(())
    }

    /// Jobs queued or being built.
    pub(crate) fn len(&self) -> usize {
        let state = self.lock();
        state.jobs.len() + state.building
    }

    /// Waits until everything queued so far has been built and handed over, or until
    /// `deadline`; returns how many jobs are still waiting.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> usize {
        let mut state = self.lock();
        loop {
            if !state.jobs.is_empty() && !state.hurry {
                state.hurry = true;
                self.work.notify_all();
            }
            let pending = state.jobs.len() + state.building;
            let left = deadline.saturating_duration_since(Instant::now());
            if pending == 0 || left.is_zero() || state.closed {
                return pending;
            }
            state = self
                .idle
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes the builder for good: it returns once the queue is empty.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.work.notify_all();
        self.idle.notify_all();
    }

    /// The builder's next batch, after waiting for the first job and then `linger` (cut
    /// short by a flush or by closing); `None` once closed and empty.
    pub(crate) fn next_batch(&self, linger: Duration) -> Option<VecDeque<Build>> {
        let mut state = self.lock();
        while state.jobs.is_empty() {
            if state.closed {
                return None;
            }
            state.builder_waiting = true;
            state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
            state.builder_waiting = false;
        }
        let deadline = Instant::now() + linger;
        while !state.closed && !state.hurry {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .work
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        state.hurry = false;
        let batch = std::mem::take(&mut state.jobs);
        state.building = batch.len();
        Some(batch)
    }

    /// The builder has handed over its batch.
    pub(crate) fn batch_done(&self) {
        let mut state = self.lock();
        state.building = 0;
        if state.jobs.is_empty() {
            self.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: usize) -> Build {
        (
            tracing::Span::none(),
            Box::new(move || Ok(Record::new("t", Some(n.to_string()), [], Vec::new()))),
        )
    }

    #[test]
    fn a_full_queue_gives_the_job_back() {
        let queue = DeferredQueue::new(2);
        assert!(queue.push(job(1)).is_ok());
        assert!(queue.push(job(2)).is_ok());
        assert!(queue.push(job(3)).is_err());
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn batches_come_in_order_and_waiting_ends_when_they_are_done() {
        let queue = DeferredQueue::new(10);
        for n in 0..3 {
            assert!(queue.push(job(n)).is_ok());
        }
        let batch = queue.next_batch(Duration::ZERO).unwrap();
        let keys: Vec<String> = batch
            .into_iter()
            .map(|(_, build)| build().unwrap().key.unwrap())
            .collect();
        assert_eq!(keys, ["0", "1", "2"]);
        assert_eq!(queue.len(), 3, "still being built");
        queue.batch_done();
        assert_eq!(queue.wait_idle(Instant::now()), 0);
    }

    #[test]
    fn a_flush_does_not_wait_for_the_linger() {
        let queue = std::sync::Arc::new(DeferredQueue::new(10));
        assert!(queue.push(job(1)).is_ok());
        let builder = queue.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let batch = builder.next_batch(Duration::from_secs(600)).unwrap();
            builder.batch_done();
            batch.len()
        });
        let left = queue.wait_idle(Instant::now() + Duration::from_secs(300));
        assert_eq!(left, 0);
        assert_eq!(thread.join().unwrap(), 1);
        assert!(started.elapsed() < Duration::from_secs(300));
    }

    #[test]
    fn waiting_for_idle_gives_up_at_the_deadline() {
        let queue = DeferredQueue::new(10);
        assert!(queue.push(job(1)).is_ok());
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(queue.wait_idle(deadline), 1);
    }

    #[test]
    fn a_closed_queue_refuses_jobs_and_ends_the_builder_once_empty() {
        let queue = DeferredQueue::new(10);
        assert!(queue.push(job(1)).is_ok());
        queue.close();
        assert!(queue.push(job(2)).is_err());
        assert_eq!(queue.next_batch(Duration::ZERO).map(|b| b.len()), Some(1));
        queue.batch_done();
        assert!(queue.next_batch(Duration::ZERO).is_none());
    }
}
