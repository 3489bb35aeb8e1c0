//! The safety limiter: the last stage before the host, holding the output below +6 dBFS whatever
//! the settings or the input.

use super::halfband::Lanes;

/// The ceiling, linear (+6 dBFS).
pub const CEILING: f32 = 1.995_262_3;
/// How fast the gain recovers after a peak, in seconds (time constant).
pub const RELEASE_SECONDS: f32 = 0.05;

/// A stereo-linked peak limiter with instant attack: a sample that would exceed the ceiling
/// sets the gain that puts it exactly on the ceiling, so nothing ever passes above it; the gain
/// then recovers exponentially.
#[derive(Clone, Copy)]
pub struct SafetyLimiter {
    gain: f32,
    release: f32,
}

impl SafetyLimiter {
    pub fn new(sample_rate: f32) -> Self {
        Self {
            gain: 1.0,
            release: (-1.0 / (RELEASE_SECONDS * sample_rate)).exp(),
        }
    }

    /// Limits one frame; the flag says whether the limiter had to act on it.
    #[inline(always)]
    pub fn tick(&mut self, x: Lanes) -> (Lanes, bool) {
        let peak = x[0].abs().max(x[1].abs());
        let over = peak * self.gain > CEILING;
        if over {
            self.gain = CEILING / peak;
        }
        let y = [
            (x[0] * self.gain).clamp(-CEILING, CEILING),
            (x[1] * self.gain).clamp(-CEILING, CEILING),
        ];
        if !over {
            self.gain = 1.0 - (1.0 - self.gain) * self.release;
            if self.gain > 0.999_999 {
                self.gain = 1.0;
            }
        }
        (y, over)
    }

    /// Whether the limiter is at rest (unity gain): then a chunk whose peak is below the ceiling
    /// passes unchanged and need not go through [`SafetyLimiter::tick`].
    pub fn is_idle(&self) -> bool {
        self.gain >= 1.0
    }

    pub fn reset(&mut self) {
        self.gain = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_passes_above_the_ceiling() {
        let mut lim = SafetyLimiter::new(48_000.0);
        for i in 0..10_000 {
            let x = (i as f32 * 0.1).sin() * 100.0;
            let (y, _) = lim.tick([x, -x * 0.5]);
            assert!(y[0].abs() <= CEILING && y[1].abs() <= CEILING);
        }
    }

    #[test]
    fn quiet_signals_pass_untouched_and_gain_recovers() {
        let mut lim = SafetyLimiter::new(48_000.0);
        let (y, over) = lim.tick([0.5, -0.25]);
        assert_eq!((y, over), ([0.5, -0.25], false));
        let (_, over) = lim.tick([10.0, 0.0]);
        assert!(over);
        for _ in 0..48_000 {
            lim.tick([0.0, 0.0]);
        }
        let (y, _) = lim.tick([1.0, 1.0]);
        assert!((y[0] - 1.0).abs() < 1e-4);
    }
}
