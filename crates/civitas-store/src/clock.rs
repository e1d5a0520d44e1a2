//! The clock that durable deadlines (saga steps, workflow timers) are read against: wall time that follows tokio's clock (so it stops under
//! `tokio::time::pause()`), plus an offset tests can move forward with [`Clock::advance`]
//! while real I/O (the database) keeps running on real time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock time read through tokio's (pausable) clock. Clones share the offset.
#[derive(Debug, Clone)]
pub struct Clock {
    base: DateTime<Utc>,
    start: Instant,
    offset_ms: Arc<AtomicI64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock that starts at the current wall time.
    pub fn new() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A clock that reads `base` now and advances with tokio's clock.
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        Self {
            base,
            start: Instant::now(),
            offset_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.start);
        self.base
            + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
            + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_clock_follows_tokio_time_and_manual_advances() {
        let base = Utc::now();
        let clock = Clock::starting_at(base);
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.clone().advance(Duration::from_secs(2));
        assert_eq!(clock.now() - base, chrono::Duration::seconds(7));
    }
}
