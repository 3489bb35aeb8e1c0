//! Small linear filters around the shaper: the tilt tone control and the DC blocker.

use super::halfband::Lanes;
use super::simd::madd;

/// The pivot of the tilt tone control, in Hz: below it the tilt cuts or boosts the lows, above it
/// the highs, in opposite directions.
pub const TILT_PIVOT_HZ: f32 = 700.0;
/// How far the tilt goes at either end of the tone control, in dB for each side.
pub const TILT_RANGE_DB: f32 = 6.0;
/// The corner of the DC blocker, in Hz: low enough to keep every audible bass note.
pub const DC_BLOCKER_HZ: f32 = 5.0;

/// The low and high gains of the tilt for a tone setting in -1 (dark) ..= 1 (bright).
#[inline]
pub fn tilt_gains(tone: f32) -> (f32, f32) {
    let high = (tone.clamp(-1.0, 1.0) * TILT_RANGE_DB * std::f32::consts::LN_10 / 20.0).exp();
    (1.0 / high, high)
}

/// A tilt equaliser: a one-pole low-pass splits the signal at the pivot; the low part and the rest
/// get opposite gains.
#[derive(Clone, Copy, Default)]
pub struct Tilt {
    coef: f32,
    low: Lanes,
}

impl Tilt {
    /// A tilt for a signal at `sample_rate`.
    pub fn new(sample_rate: f32) -> Self {
        Self {
            coef: 1.0 - (-std::f32::consts::TAU * TILT_PIVOT_HZ / sample_rate).exp(),
            low: [0.0; 2],
        }
    }

    #[inline(always)]
    pub fn tick(&mut self, x: Lanes, low_gain: f32, high_gain: f32) -> Lanes {
        self.tick_on::<false>(x, low_gain, high_gain)
    }

    /// [`Tilt::tick`], with fused multiply-adds in the engine's FMA copy (the low-pass's
    /// recursion is then a subtraction and one fused operation).
    #[inline(always)]
    pub fn tick_on<const FMA: bool>(&mut self, x: Lanes, low_gain: f32, high_gain: f32) -> Lanes {
        let mut out = [0.0; 2];
        for c in 0..2 {
            self.low[c] = madd::<FMA>(x[c] - self.low[c], self.coef, self.low[c]);
            out[c] = madd::<FMA>(self.low[c], low_gain, (x[c] - self.low[c]) * high_gain);
        }
        out
    }

    /// Sets the state as if the filter had settled on `x`, while it is bypassed.
    pub fn follow(&mut self, x: Lanes) {
        self.low = x;
    }

    pub fn reset(&mut self) {
        self.low = [0.0; 2];
    }
}

/// A one-pole, one-zero high-pass at [`DC_BLOCKER_HZ`] that removes the DC the asymmetric curve
/// creates.
#[derive(Clone, Copy, Default)]
pub struct DcBlocker {
    pole: f32,
    x1: Lanes,
    y1: Lanes,
}

impl DcBlocker {
    pub fn new(sample_rate: f32) -> Self {
        Self {
            pole: 1.0 - std::f32::consts::TAU * DC_BLOCKER_HZ / sample_rate,
            x1: [0.0; 2],
            y1: [0.0; 2],
        }
    }

    #[inline(always)]
    pub fn tick(&mut self, x: Lanes) -> Lanes {
        let mut y = [0.0; 2];
        for c in 0..2 {
            y[c] = x[c] - self.x1[c] + self.pole * self.y1[c];
        }
        self.x1 = x;
        self.y1 = y;
        y
    }

    /// Filters a block in place, the recursion as one multiply-add (fused where the engine runs
    /// its FMA copy), which is all that waits for the previous sample. (Unrolling it over groups
    /// of samples would be faster but would make the output depend on where blocks begin.)
    #[inline(always)]
    pub fn process<const FMA: bool>(&mut self, frames: &mut [Lanes]) {
        let (mut x1, mut y1) = (self.x1, self.y1);
        for x in frames {
            let mut y = [0.0; 2];
            for c in 0..2 {
                y[c] = madd::<FMA>(self.pole, y1[c], x[c] - x1[c]);
            }
            x1 = *x;
            y1 = y;
            *x = y;
        }
        (self.x1, self.y1) = (x1, y1);
    }

    pub fn reset(&mut self) {
        self.x1 = [0.0; 2];
        self.y1 = [0.0; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_tilt_is_transparent() {
        let mut tilt = Tilt::new(48_000.0);
        let (lo, hi) = tilt_gains(0.0);
        for i in 0..1000 {
            let x = [(i as f32 * 0.37).sin(), 1.0];
            let y = tilt.tick(x, lo, hi);
            assert!((y[0] - x[0]).abs() < 1e-5 && (y[1] - x[1]).abs() < 1e-5);
        }
    }

    #[test]
    fn bright_tilt_lifts_highs_and_cuts_lows() {
        let (lo, hi) = tilt_gains(1.0);
        assert!((20.0 * hi.log10() - TILT_RANGE_DB).abs() < 1e-4);
        let mut tilt = Tilt::new(48_000.0);
        // DC settles to the low gain.
        let mut y = [0.0; 2];
        for _ in 0..48_000 {
            y = tilt.tick([1.0, 1.0], lo, hi);
        }
        assert!((y[0] - lo).abs() < 1e-3);
    }

    #[test]
    fn dc_blocker_blocks_match_the_sample_by_sample_filter_across_any_split() {
        let mut one = DcBlocker::new(48_000.0);
        let mut block = DcBlocker::new(48_000.0);
        let input: Vec<Lanes> = (0..1000)
            .map(|i| [0.3 + (i as f32 * 0.1).sin(), -0.2 + (i as f32 * 0.37).cos()])
            .collect();
        let expected: Vec<Lanes> = input.iter().map(|&x| one.tick(x)).collect();
        let mut got = input.clone();
        // Uneven blocks: groups of four and remainders, across calls.
        let mut rest = &mut got[..];
        for len in [7, 64, 1, 3, 128, 5].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at_mut((*len).min(rest.len()));
            block.process::<false>(now);
            rest = later;
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn dc_blocker_removes_dc() {
        let mut dc = DcBlocker::new(48_000.0);
        let mut y = [0.0; 2];
        for _ in 0..48_000 {
            y = dc.tick([0.5, -0.5]);
        }
        assert!(y[0].abs() < 1e-4 && y[1].abs() < 1e-4);
    }
}
