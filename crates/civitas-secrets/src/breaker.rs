//! The circuit breaker in front of a vault: after `failures` consecutive failures it opens
//! and refuses at once for `pause` (a dead vault does not add its timeout to every request);
//! then one lookup may try (half-open): a success closes it, a failure opens it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    consecutive_failures: u32,
    /// Set while open.
    open_until: Option<Instant>,
    /// A half-open trial is running: others are still refused.
    trial: bool,
}

/// The breaker's state, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// 0 closed, 1 open, 2 half-open (the gauge's value).
    pub fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    failures: u32,
    pause: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(failures: u32, pause: Duration) -> Self {
        Self {
            failures: failures.max(1),
            pause,
            state: Mutex::new(State {
                consecutive_failures: 0,
                open_until: None,
                trial: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May a lookup go to the vault now? `Err(wait)`: no, the breaker is open for `wait`.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        let Some(until) = state.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < until {
            return Err(until - now);
        }
        if state.trial {
            // One trial at a time; the others wait for its verdict a pause at most.
            return Err(self.pause);
        }
        state.trial = true;
        Ok(())
    }

    /// The vault answered (even "not found": it is alive).
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.consecutive_failures = 0;
        state.open_until = None;
        state.trial = false;
    }

    /// The vault did not answer usefully (transport failure, timeout, 5xx).
    pub fn failed(&self) {
        let mut state = self.lock();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        if state.trial || state.consecutive_failures >= self.failures {
            state.open_until = Some(Instant::now() + self.pause);
        }
        state.trial = false;
    }

    pub fn state(&self) -> BreakerState {
        let state = self.lock();
        match state.open_until {
            None => BreakerState::Closed,
            Some(_) if state.trial => BreakerState::HalfOpen,
            Some(until) if Instant::now() >= until => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn it_opens_after_n_failures_and_lets_one_trial_through_after_the_pause() {
        let breaker = Breaker::new(3, Duration::from_secs(30));
        for _ in 0..2 {
            assert!(breaker.admit().is_ok());
            breaker.failed();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.failed();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.admit().is_err());

        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(breaker.admit().is_ok(), "the trial");
        assert!(breaker.admit().is_err(), "only one trial");
        breaker.failed();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed trial opens again"
        );

        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(breaker.admit().is_ok());
        breaker.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.admit().is_ok());
    }
}
