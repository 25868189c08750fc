//! A circuit breaker for upstream calls: after `threshold` failures in a row it opens
//! and every call fails fast for `cooldown`; then one trial call is let through
//! (half-open) — success closes it, failure opens it again. Time comes from a
//! [`Clock`], so tests drive it with a fake one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the breaker reads the time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// The breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSpec {
    /// Failures in a row that open it.
    pub threshold: u32,
    /// How long it stays open.
    pub cooldown: Duration,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        Self {
            threshold: 5,
            cooldown: Duration::from_secs(1),
        }
    }
}

/// A circuit breaker shared by every request of a server.
pub struct CircuitBreaker {
    spec: BreakerSpec,
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl CircuitBreaker {
    /// A closed breaker on the real clock.
    pub fn new(spec: BreakerSpec) -> Self {
        Self::with_clock(spec, Arc::new(SystemClock))
    }

    /// A closed breaker reading time from `clock`.
    pub fn with_clock(spec: BreakerSpec, clock: Arc<dyn Clock>) -> Self {
        Self {
            spec,
            state: Mutex::new(State::Closed { failures: 0 }),
            clock,
        }
    }

    /// Whether a call may go to the upstream now.
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if self.clock.now() >= until => {
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { trial_in_flight } => {
                if trial_in_flight {
                    false
                } else {
                    *state = State::HalfOpen {
                        trial_in_flight: true,
                    };
                    true
                }
            }
        }
    }

    /// Records how an allowed call ended.
    pub fn record(&self, success: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = State::Open {
            until: self.clock.now() + self.spec.cooldown,
        };
        *state = match (*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= self.spec.threshold => open,
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { .. }, false) => open,
            (State::Open { until }, false) => State::Open { until },
        };
    }

    /// `closed`, `open` or `half-open`, for messages.
    pub fn state_name(&self) -> &'static str {
        match *self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half-open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that moves only when told.
    struct FakeClock(Mutex<Instant>);

    impl FakeClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn opens_after_the_threshold_then_half_opens_and_closes() {
        let clock = Arc::new(FakeClock(Mutex::new(Instant::now())));
        let spec = BreakerSpec {
            threshold: 3,
            cooldown: Duration::from_secs(2),
        };
        let breaker = CircuitBreaker::with_clock(spec, clock.clone());
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record(false);
        }
        assert_eq!(
            breaker.state_name(),
            "closed",
            "two failures are under the threshold"
        );
        assert!(breaker.allow());
        breaker.record(false);
        assert_eq!(breaker.state_name(), "open");
        assert!(!breaker.allow(), "open: fail fast");
        clock.advance(Duration::from_millis(1_999));
        assert!(!breaker.allow(), "still cooling down");
        clock.advance(Duration::from_millis(1));
        assert!(breaker.allow(), "one trial after the cooldown");
        assert_eq!(breaker.state_name(), "half-open");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.record(true);
        assert_eq!(breaker.state_name(), "closed");
        assert!(breaker.allow());
    }

    #[test]
    fn a_failed_trial_opens_it_again_and_a_success_resets_the_count() {
        let clock = Arc::new(FakeClock(Mutex::new(Instant::now())));
        let breaker = CircuitBreaker::with_clock(
            BreakerSpec {
                threshold: 2,
                cooldown: Duration::from_secs(1),
            },
            clock.clone(),
        );
        breaker.record(false);
        breaker.record(true);
        breaker.record(false);
        assert_eq!(
            breaker.state_name(),
            "closed",
            "the success reset the count"
        );
        breaker.record(false);
        assert_eq!(breaker.state_name(), "open");
        clock.advance(Duration::from_secs(1));
        assert!(breaker.allow());
        breaker.record(false);
        assert_eq!(breaker.state_name(), "open");
        assert!(!breaker.allow());
    }
}
