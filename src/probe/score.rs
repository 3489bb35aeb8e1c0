//! The health score: one number from 0 (in trouble) to 1 (all well) that sums up the probe's
//! signals for the health panel.
//!
//! ```text
//! score = (1 - 0.5 * clamp((load - 0.7) / 0.3, 0, 1))
//!         / (1 + 0.5 * overruns + 0.5 * dropouts + 1.0 * faults + 0.1 * gui_overruns)
//! ```
//!
//! `load` is the smoothed load ratio (each block moves it 10 % of the way); the counts are of
//! recent events, each decaying with a [`SCORE_MEMORY_SECONDS`] time constant. Load below 0.7
//! costs nothing; a saturated load alone halves the score. One recent overrun or dropout takes
//! it to 2/3, an output fault (NaN/Inf, panic) to 1/2; GUI frame overruns weigh little because
//! they never touch the sound.

/// How long an event keeps weighing on the score (time constant), in seconds.
pub const SCORE_MEMORY_SECONDS: f64 = 20.0;
/// The load below which load costs nothing.
pub const LOAD_KNEE: f32 = 0.7;

/// Less than this is nothing: a millionth of an event, or a DC offset 120 dB down.
pub const FORGOTTEN: f32 = 1e-6;

/// `x`, or 0 when it has decayed below [`FORGOTTEN`].
#[inline]
pub fn forget(x: f32) -> f32 {
    if x.abs() < FORGOTTEN { 0.0 } else { x }
}

/// Recent, decaying counts of the events that lower the score.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreInputs {
    pub load: f32,
    pub overruns: f32,
    /// Callback gaps and transport jumps.
    pub dropouts: f32,
    /// NaN/Inf restarts and panics.
    pub faults: f32,
    pub gui_overruns: f32,
}

/// How much of the event counts is kept over `seconds`.
pub fn keep(seconds: f64) -> f32 {
    (1.0 - seconds / SCORE_MEMORY_SECONDS).clamp(0.0, 1.0) as f32
}

impl ScoreInputs {
    /// Ages the counts by `seconds` of audio.
    pub fn decay(&mut self, seconds: f64) {
        self.decay_by(keep(seconds));
    }

    /// Decays the event counts by a factor from [`keep`].
    /// A count that has decayed below [`FORGOTTEN`] becomes 0: left to decay, it would turn
    /// subnormal half an hour after the event, and the probe runs with the host's floating-point
    /// mode, where an operation on a subnormal can cost a microcode assist.
    pub fn decay_by(&mut self, keep: f32) {
        for count in [
            &mut self.overruns,
            &mut self.dropouts,
            &mut self.faults,
            &mut self.gui_overruns,
        ] {
            *count = forget(*count * keep);
        }
    }

    /// Moves the smoothed load towards this block's load.
    pub fn observe_load(&mut self, load: f32) {
        if load.is_finite() {
            self.load += (load - self.load) * 0.1;
        }
    }

    /// The score, 0..=1.
    pub fn score(&self) -> f32 {
        let load_penalty = 0.5 * ((self.load - LOAD_KNEE) / (1.0 - LOAD_KNEE)).clamp(0.0, 1.0);
        let events =
            0.5 * self.overruns + 0.5 * self.dropouts + 1.0 * self.faults + 0.1 * self.gui_overruns;
        ((1.0 - load_penalty) / (1.0 + events.max(0.0))).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decayed_counts_become_zero_not_subnormal() {
        let mut h = ScoreInputs {
            overruns: 1.0,
            dropouts: 3.0,
            ..Default::default()
        };
        // Halving 130 times passes 2^-126, where the subnormals start.
        for _ in 0..130 {
            h.decay_by(0.5);
            assert!(!h.overruns.is_subnormal() && !h.dropouts.is_subnormal());
        }
        assert_eq!((h.overruns, h.dropouts), (0.0, 0.0));
        assert_eq!(h.score(), 1.0);
    }

    #[test]
    fn all_well_is_one() {
        let h = ScoreInputs {
            load: 0.7,
            ..Default::default()
        };
        assert_eq!(h.score(), 1.0);
        assert_eq!(ScoreInputs::default().score(), 1.0);
    }

    #[test]
    fn saturated_load_alone_halves_it() {
        for load in [1.0, 3.0, 100.0] {
            let h = ScoreInputs {
                load,
                ..Default::default()
            };
            assert_eq!(h.score(), 0.5);
        }
        let h = ScoreInputs {
            load: 0.85,
            ..Default::default()
        };
        assert!((h.score() - 0.75).abs() < 1e-6);
    }

    #[test]
    fn single_events_weigh_as_documented() {
        let one = |f: fn(&mut ScoreInputs)| {
            let mut h = ScoreInputs::default();
            f(&mut h);
            h.score()
        };
        assert!((one(|h| h.overruns = 1.0) - 2.0 / 3.0).abs() < 1e-6);
        assert!((one(|h| h.dropouts = 1.0) - 2.0 / 3.0).abs() < 1e-6);
        assert!((one(|h| h.faults = 1.0) - 0.5).abs() < 1e-6);
        assert!((one(|h| h.gui_overruns = 1.0) - 1.0 / 1.1).abs() < 1e-6);
    }

    #[test]
    fn stays_in_range_at_the_extremes() {
        let h = ScoreInputs {
            load: f32::MAX,
            overruns: 1e30,
            dropouts: 1e30,
            faults: 1e30,
            gui_overruns: 1e30,
        };
        assert!(h.score() >= 0.0 && h.score() < 1e-20);
        let mut h = ScoreInputs::default();
        h.observe_load(f32::NAN);
        assert_eq!(h.score(), 1.0);
    }

    #[test]
    fn events_fade_with_time() {
        let mut h = ScoreInputs {
            overruns: 1.0,
            ..Default::default()
        };
        h.decay(SCORE_MEMORY_SECONDS / 2.0);
        assert!((h.overruns - 0.5).abs() < 1e-6);
        h.decay(SCORE_MEMORY_SECONDS * 10.0);
        assert_eq!(h.overruns, 0.0);
        assert_eq!(h.score(), 1.0);
    }
}
