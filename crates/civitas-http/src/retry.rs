//! The retry policy of an outside system — how many tries, how long to wait between them,
//! which statuses are worth another try — and [`retry`], the one loop that applies it (the
//! CRUD service's http connector and the saga's adapters both use it).
//!
//! Wait before retry `n` (1-based): `initial × multiplier^(n-1)`, capped at `max`, then
//! spread by ±`jitter` so that many clients do not retry in step. A `Retry-After` header of
//! a 429/503 (in seconds) lengthens the wait, up to `max`.

use std::time::Duration;

use std::future::Future;

use rand::Rng;

/// A system's retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    pub jitter: f64,
    pub retry_on: Vec<u16>,
}

impl Default for RetryPolicy {
    /// 3 tries, 1 s doubling to at most 30 s, ±20 % jitter, on 429, 502, 503 and 504.
    fn default() -> Self {
        Self {
            attempts: 3,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            retry_on: vec![429, 502, 503, 504],
        }
    }
}

impl RetryPolicy {
    /// Whether a response with `status` is tried again (attempts permitting).
    pub fn retries_status(&self, status: u16) -> bool {
        self.retry_on.contains(&status)
    }

    /// Whether try number `attempt` (1-based) may be followed by another.
    pub fn has_attempt_after(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// The wait before retry `retry` (1-based), with random jitter.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let spread = if self.jitter > 0.0 {
            rand::rng().random_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        self.backoff_with(retry, spread, retry_after)
    }

    /// The wait before retry `retry` with the jitter factor `spread` in `-jitter..=jitter`.
    pub fn backoff_with(&self, retry: u32, spread: f64, retry_after: Option<Duration>) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = base.min(self.max.as_secs_f64());
        let spread = capped * (1.0 + spread);
        let wait = Duration::from_secs_f64(spread.max(0.0)).min(self.max);
        match retry_after {
            Some(after) => wait.max(after.min(self.max)),
            None => wait,
        }
    }
}

/// Whether a failure is worth another try, and how long the other side asked us to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fatal: the same call fails the same way.
    Fatal,
    /// Transient; `Retry-After`, when the answer had one.
    Retry(Option<Duration>),
}

/// Calls `call` until it succeeds, `verdict` calls its error fatal, or `policy`'s attempts
/// are used up, waiting [`RetryPolicy::backoff`] between tries. Returns the outcome and the
/// number of tries.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut call: F,
    verdict: impl Fn(&E) -> Verdict,
) -> (Result<T, E>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return (Ok(value), attempt),
            Err(error) => match verdict(&error) {
                Verdict::Retry(after) if policy.has_attempt_after(attempt) => {
                    let wait = policy.backoff(attempt, after);
                    tracing::info!(attempt, ?wait, "transient failure; trying again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return (Err(error), attempt),
            },
        }
    }
}

/// A `Retry-After` value in seconds (HTTP dates are ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
            multiplier: 2.0,
            jitter: 0.2,
            retry_on: vec![429, 503],
        }
    }

    #[test]
    fn waits_grow_exponentially_and_stop_at_the_maximum() {
        let p = policy();
        let waits: Vec<u128> = (1..=5)
            .map(|n| p.backoff_with(n, 0.0, None).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000]);
    }

    #[test]
    fn jitter_spreads_the_wait_within_its_fraction() {
        let p = policy();
        assert_eq!(p.backoff_with(2, 0.2, None).as_millis(), 240);
        assert_eq!(p.backoff_with(2, -0.2, None).as_millis(), 160);
        for _ in 0..100 {
            let wait = p.backoff(2, None).as_millis();
            assert!((160..=240).contains(&wait), "{wait}");
        }
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_the_maximum() {
        let p = policy();
        assert_eq!(
            p.backoff_with(1, 0.0, Some(Duration::from_millis(500)))
                .as_millis(),
            500
        );
        assert_eq!(
            p.backoff_with(1, 0.0, Some(Duration::from_secs(60)))
                .as_millis(),
            1000
        );
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
    }

    #[test]
    fn only_listed_statuses_are_retried_and_attempts_are_counted_from_one() {
        let p = policy();
        assert!(p.retries_status(429));
        assert!(!p.retries_status(500));
        assert!(p.has_attempt_after(3));
        assert!(!p.has_attempt_after(4));
    }
}
