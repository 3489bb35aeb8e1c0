//! "Match loudness" on the audio thread: the gain of [`super::shaper::loudness_match_gain`],
//! worked out again only when the curve, the drive or the mix is set anew (not per sample), and
//! glided to over 50 ms so that a change never clicks.

use super::shaper::{Curve, LoudnessReference, loudness_match_gain, loudness_reference};
use nice_plug::prelude::{Smoother, SmoothingStyle};

/// How long the compensation takes to follow a change, in milliseconds.
const GLIDE_MS: f32 = 50.0;

pub struct LoudnessMatch {
    /// What the gain was worked out for: on, curve, drive and mix (their targets).
    key: Option<(bool, Curve, f32, f32)>,
    gain: Smoother<f32>,
    /// The reference sine, worked out at creation (not on the audio thread).
    reference: LoudnessReference,
}

impl Default for LoudnessMatch {
    fn default() -> Self {
        let gain = Smoother::new(SmoothingStyle::Linear(GLIDE_MS));
        gain.reset(1.0);
        Self {
            key: None,
            gain,
            reference: loudness_reference(),
        }
    }
}

impl LoudnessMatch {
    /// Sets the target for this block (call once per block, before the controls are filled).
    /// Real-time safe: at most 64 shaped points, when a control changed.
    pub fn update(&mut self, sample_rate: f32, on: bool, curve: Curve, drive: f32, mix: f32) {
        let key = Some((on, curve, drive, mix));
        if self.key == key {
            return;
        }
        let first = self.key.is_none();
        self.key = key;
        let target = if on {
            loudness_match_gain(&self.reference, curve, drive, mix)
        } else {
            1.0
        };
        if first {
            self.gain.reset(target);
        } else {
            self.gain.set_target(sample_rate, target);
        }
    }

    /// Whether the gain still glides to its target.
    pub fn is_smoothing(&self) -> bool {
        self.gain.is_smoothing()
    }

    /// Jumps to the target (at `reset`, when there is no sound to glide).
    pub fn settle(&mut self) {
        self.key = None;
    }

    /// Multiplies the next `gains.len()` output gains by the compensation.
    #[inline]
    pub fn apply(&self, gains: &mut [f32]) {
        if self.gain.is_smoothing() {
            for g in gains {
                *g *= self.gain.next();
            }
        } else {
            let c = self.gain.next();
            if c != 1.0 {
                gains.iter_mut().for_each(|g| *g *= c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gain_glides_to_a_new_target_and_is_unity_when_off() {
        let mut m = LoudnessMatch::default();
        m.update(48_000.0, true, Curve::Smooth, 8.0, 1.0);
        let target = loudness_match_gain(&loudness_reference(), Curve::Smooth, 8.0, 1.0);
        let mut g = [1.0f32; 64];
        m.apply(&mut g);
        assert!(
            g.iter().all(|&x| (x - target).abs() < 1e-6),
            "starts at its target"
        );
        // Switched off: it glides back to unity over 50 ms (2400 samples), never jumping.
        m.update(48_000.0, false, Curve::Smooth, 8.0, 1.0);
        let mut last = target;
        for _ in 0..40 {
            let mut g = [1.0f32; 64];
            m.apply(&mut g);
            for x in g {
                assert!(x >= last && x - last < 0.01);
                last = x;
            }
        }
        assert_eq!(last, 1.0);
    }
}
