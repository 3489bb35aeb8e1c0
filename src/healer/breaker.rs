//! Circuit breakers: one per quality level and one for the visualizer. A breaker opens when its
//! feature fails, stays open for a backoff that doubles with every failed trial, then lets one
//! trial through (half-open); a trial that holds closes it again.

use serde::{Deserialize, Serialize};

/// The first backoff after a failure, in seconds.
pub const BASE_BACKOFF_S: f64 = 1.0;
/// The longest backoff, in seconds: short enough that quality returns within seconds of a fault
/// ending (trials are also gated by the predicted load, so a lasting fault does not keep
/// triggering them).
pub const MAX_BACKOFF_S: f64 = 8.0;
/// The longest wait a restored breaker keeps, in seconds: a minute, as long as a crash loop's
/// safe-mode hold, so that no saved time (an older Salve's, a hostile one) keeps a level off
/// for long.
pub const MAX_RESTORED_WAIT_S: f64 = 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum BreakerState {
    /// Working.
    Closed,
    /// Failed: no use until `until_s`.
    Open { until_s: f64 },
    /// On trial.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub state: BreakerState,
    /// The backoff the next failure will impose, in seconds.
    pub backoff_s: f64,
    /// Failures since the breaker last closed for good.
    pub failures: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            backoff_s: BASE_BACKOFF_S,
            failures: 0,
        }
    }
}

impl Breaker {
    /// The feature failed at `now_s`: open, and double the next backoff.
    pub fn trip(&mut self, now_s: f64) {
        self.state = BreakerState::Open {
            until_s: now_s + self.backoff_s,
        };
        self.backoff_s = (self.backoff_s * 2.0).min(MAX_BACKOFF_S);
        self.failures += 1;
    }

    /// The same breaker on another time base: written when the old clock read `from_s`, now
    /// read at `to_s`. An open breaker keeps its remaining time, never more than
    /// [`MAX_RESTORED_WAIT_S`] (a checkpoint from an older Salve, or a hostile one, cannot keep
    /// a level closed for long), nor less than nothing.
    pub fn moved(self, from_s: f64, to_s: f64) -> Self {
        let state = match self.state {
            BreakerState::Open { until_s } => {
                let remaining = until_s - from_s;
                let remaining = if remaining.is_finite() {
                    remaining.clamp(0.0, MAX_RESTORED_WAIT_S)
                } else {
                    MAX_RESTORED_WAIT_S
                };
                BreakerState::Open {
                    until_s: to_s + remaining,
                }
            }
            other => other,
        };
        let backoff_s = if self.backoff_s.is_finite() {
            self.backoff_s.clamp(BASE_BACKOFF_S, MAX_BACKOFF_S)
        } else {
            MAX_BACKOFF_S
        };
        Self {
            state,
            backoff_s,
            ..self
        }
    }

    /// Whether a trial may start at `now_s`.
    pub fn allows_trial(&self, now_s: f64) -> bool {
        match self.state {
            BreakerState::Closed | BreakerState::HalfOpen => true,
            BreakerState::Open { until_s } => now_s >= until_s,
        }
    }

    pub fn start_trial(&mut self) {
        if matches!(self.state, BreakerState::Open { .. }) {
            self.state = BreakerState::HalfOpen;
        }
    }

    /// The trial held: close and forget the backoff.
    pub fn succeed(&mut self) {
        *self = Self::default();
    }

    pub fn is_closed(&self) -> bool {
        self.state == BreakerState::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_until_the_cap_and_success_resets_it() {
        let mut b = Breaker::default();
        let mut now = 0.0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            b.trip(now);
            let BreakerState::Open { until_s } = b.state else {
                panic!()
            };
            waits.push(until_s - now);
            assert!(!b.allows_trial(now + 0.5));
            now = until_s;
            assert!(b.allows_trial(now));
            b.start_trial();
            assert_eq!(b.state, BreakerState::HalfOpen);
        }
        assert_eq!(waits, [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        b.succeed();
        assert!(b.is_closed());
        assert_eq!(b.backoff_s, BASE_BACKOFF_S);
    }
}
