//! Small linear filters around the shaper: the tilt tone control and the DC blocker.

use super::halfband::Lanes;
use super::simd::{Frame, Pair, madd};

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
/// creates: `y[n] = x[n] - x[n-1] + pole * y[n-1]`.
///
/// The recursion is the one thing that waits for the previous sample, and it ran a fused
/// multiply-add's latency per sample, a third of a 1x block. So it is computed in pairs of
/// samples, even and odd by their count since the reset: both from the `y` before the pair,
/// the odd one as `d[o] + pole * d[e] + pole² * y[e-1]` (with `d = x[n] - x[n-1]`), so the wait
/// is one multiply-add per two samples. The pairs follow the sample count, not the block, so the
/// output does not depend on where blocks begin (a block may start or end inside a pair).
#[derive(Clone, Copy, Default)]
pub struct DcBlocker {
    pole: f32,
    /// `pole²`, as the pairs use it.
    pole2: f32,
    x1: Lanes,
    y1: Lanes,
    /// Inside a pair (the next sample is odd): the pair's `y[e-1]` and `d[e]`.
    base: Lanes,
    d_even: Lanes,
    odd: bool,
}

impl DcBlocker {
    pub fn new(sample_rate: f32) -> Self {
        let pole = 1.0 - std::f32::consts::TAU * DC_BLOCKER_HZ / sample_rate;
        Self {
            pole,
            pole2: pole * pole,
            ..Self::default()
        }
    }

    /// One sample (as [`DcBlocker::process`] would filter it).
    pub fn tick(&mut self, x: Lanes) -> Lanes {
        let mut frame = [x];
        self.process::<false>(&mut frame);
        frame[0]
    }

    /// Filters a block in place (with fused multiply-adds in the engine's FMA copy).
    #[inline(always)]
    pub fn process<const FMA: bool>(&mut self, frames: &mut [Lanes]) {
        let (n, at) = (frames.len(), frames.as_mut_ptr());
        // SAFETY: in place: each frame is read before it is written.
        unsafe { self.run::<FMA, Frame>(at, at, n) }
    }

    /// [`DcBlocker::process`] from `input` into `output` (the same length): the copy a tier
    /// makes of its padded output anyway, with the filter in it.
    #[inline(always)]
    pub fn process_into<const FMA: bool>(&mut self, input: &[Lanes], output: &mut [Lanes]) {
        let n = input.len().min(output.len());
        // SAFETY: both hold `n` frames.
        unsafe { self.run::<FMA, Frame>(input.as_ptr(), output.as_mut_ptr(), n) }
    }

    /// The recursion over `n` frames from `input` to `output`, which may be the same memory
    /// (frame `i` is read before frame `i` is written, and nothing else).
    ///
    /// # Safety
    /// `input` must be valid for reading and `output` for writing `n` frames.
    #[inline(always)]
    unsafe fn run<const FMA: bool, V: Pair>(
        &mut self,
        input: *const Lanes,
        output: *mut Lanes,
        n: usize,
    ) {
        // SAFETY (every dereference below): the caller's promise, `i < n`.
        let at = |i: usize| V::load(unsafe { &*input.add(i) });
        let put = |i: usize, y: V| y.store(unsafe { &mut *output.add(i) });
        let (pole, pole2) = (V::splat(self.pole), V::splat(self.pole2));
        let (mut x1, mut y1) = (V::load(&self.x1), V::load(&self.y1));
        let mut i = 0;
        if self.odd && n > 0 {
            // The second half of a pair begun in the last block.
            let x = at(0);
            let t = V::madd::<FMA>(pole, V::load(&self.d_even), x.sub(x1));
            y1 = V::madd::<FMA>(pole2, V::load(&self.base), t);
            put(0, y1);
            (x1, i, self.odd) = (x, 1, false);
        }
        while i + 2 <= n {
            let (xe, xo) = (at(i), at(i + 1));
            let (de, d_odd) = (xe.sub(x1), xo.sub(xe));
            let ye = V::madd::<FMA>(pole, y1, de);
            let t = V::madd::<FMA>(pole, de, d_odd);
            let yo = V::madd::<FMA>(pole2, y1, t);
            put(i, ye);
            put(i + 1, yo);
            (x1, y1) = (xo, yo);
            i += 2;
        }
        if i < n {
            // The first half of a pair the next block ends.
            let x = at(i);
            let de = x.sub(x1);
            y1.store(&mut self.base);
            de.store(&mut self.d_even);
            y1 = V::madd::<FMA>(pole, y1, de);
            put(i, y1);
            (x1, self.odd) = (x, true);
        }
        x1.store(&mut self.x1);
        y1.store(&mut self.y1);
    }

    pub fn reset(&mut self) {
        *self = Self {
            pole: self.pole,
            pole2: self.pole2,
            ..Self::default()
        };
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
    fn dc_blocker_pairs_agree_with_the_plain_recursion() {
        let sr = 48_000.0;
        let pole = 1.0 - std::f64::consts::TAU * DC_BLOCKER_HZ as f64 / sr as f64;
        let mut dc = DcBlocker::new(sr);
        let (mut x1, mut y1) = ([0.0f64; 2], [0.0f64; 2]);
        for i in 0..20_000 {
            let x = [
                0.3 + (i as f32 * 0.1).sin(),
                -0.2 + (i as f32 * 0.0037).cos(),
            ];
            let y = dc.tick(x);
            for c in 0..2 {
                let want = x[c] as f64 - x1[c] + pole * y1[c];
                (x1[c], y1[c]) = (x[c] as f64, want);
                assert!(
                    (y[c] as f64 - want).abs() < 1e-5,
                    "sample {i}: {} vs {want}",
                    y[c]
                );
            }
        }
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
