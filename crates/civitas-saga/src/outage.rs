//! Logging a failure that repeats every tick (the timer's database outage) without flooding the
//! log: the first failure at ERROR, then at most one reminder a minute with how long it has
//! lasted, and one line when it recovers.

use std::time::{Duration, Instant};

/// Time between two reminders of an outage that goes on.
pub const REMINDER_EVERY: Duration = Duration::from_secs(60);

/// What to log for one tick's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Nothing: all is well, or the outage was reported less than a minute ago.
    Quiet,
    /// The first failure after a success (or after start).
    Started,
    /// The outage goes on: it began `lasting` ago, `failures` ticks have failed.
    Continues { lasting: Duration, failures: u64 },
    /// The first success after an outage of `lasted` and `failures` failed ticks.
    Recovered { lasted: Duration, failures: u64 },
}

/// The state of one repeated check.
#[derive(Debug, Default)]
pub struct OutageLog {
    /// Since when it fails, when the last line was logged, how many ticks failed.
    current: Option<(Instant, Instant, u64)>,
}

impl OutageLog {
    /// A failed tick at `now`.
    pub fn failed(&mut self, now: Instant) -> Report {
        match &mut self.current {
            None => {
                self.current = Some((now, now, 1));
                Report::Started
            }
            Some((since, logged, failures)) => {
                *failures += 1;
                if now.duration_since(*logged) >= REMINDER_EVERY {
                    *logged = now;
                    Report::Continues {
                        lasting: now.duration_since(*since),
                        failures: *failures,
                    }
                } else {
                    Report::Quiet
                }
            }
        }
    }

    /// A successful tick at `now`.
    pub fn succeeded(&mut self, now: Instant) -> Report {
        match self.current.take() {
            Some((since, _, failures)) => Report::Recovered {
                lasted: now.duration_since(since),
                failures,
            },
            None => Report::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_of_ten_minutes_at_ten_ticks_a_second_logs_ten_lines_then_its_recovery() {
        let start = Instant::now();
        let mut log = OutageLog::default();
        let mut lines = Vec::new();
        for tick in 0..6_000u64 {
            let report = log.failed(start + Duration::from_millis(100 * tick));
            if report != Report::Quiet {
                lines.push(report);
            }
        }
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert_eq!(lines[0], Report::Started);
        assert_eq!(
            lines[1],
            Report::Continues {
                lasting: Duration::from_secs(60),
                failures: 601
            }
        );
        let recovered = log.succeeded(start + Duration::from_secs(600));
        assert_eq!(
            recovered,
            Report::Recovered {
                lasted: Duration::from_secs(600),
                failures: 6_000
            }
        );
        assert_eq!(
            log.succeeded(start + Duration::from_secs(601)),
            Report::Quiet
        );
    }

    #[test]
    fn a_new_outage_after_a_recovery_is_reported_at_once() {
        let start = Instant::now();
        let mut log = OutageLog::default();
        assert_eq!(log.failed(start), Report::Started);
        log.succeeded(start + Duration::from_secs(1));
        assert_eq!(log.failed(start + Duration::from_secs(2)), Report::Started);
    }
}
