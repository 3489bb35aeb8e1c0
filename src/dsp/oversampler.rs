//! The oversampler: a cascade of up to four 2x half-band stages, taking a block to 1x-16x its
//! sample rate and back.
//!
//! The first stage (next to the base rate) needs the steepest filter, because its pass band has to
//! reach 20 kHz at 44.1 kHz; each stage further up only has to keep the images of the audio band
//! away, so it gets by with a wider transition band and fewer coefficients. Every stage reaches at
//! least [`STOPBAND_DB`] of stop-band attenuation (see the designer's test).

use super::halfband::{Downsampler2x, Lanes, Upsampler2x, design_f32};
use super::simd::Simd;

/// The stop-band attenuation every stage must reach, in dB.
pub const STOPBAND_DB: f64 = 96.0;

/// The largest oversampling factor.
pub const MAX_FACTOR: usize = 16;

/// Coefficient counts of the four stages, lowest rate first.
const N1: usize = 8;
const N2: usize = 5;
const N3: usize = 4;
const N4: usize = 4;

/// Transition bandwidths of the four stages, relative to each stage's high rate. Stage 1 passes up
/// to 0.42 of the base rate (20.2 kHz at 48 kHz); stage `s` only has to pass that same band, which
/// is a smaller fraction of its higher rate.
const TW1: f64 = 0.04;
const TW2: f64 = 0.145;
const TW3: f64 = 0.197;
const TW4: f64 = 0.22;

/// `(coefficients, transition)` of every stage, for the designer's tests.
pub const STAGE_DESIGNS: &[(usize, f64)] = &[(N1, TW1), (N2, TW2), (N3, TW3), (N4, TW4)];

/// The supported factors: `1 << stages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Factor {
    X1,
    X2,
    X4,
    X8,
    X16,
}

impl Factor {
    /// Every factor, lowest first.
    pub const ALL: [Factor; 5] = [Factor::X1, Factor::X2, Factor::X4, Factor::X8, Factor::X16];

    /// The number of 2x stages.
    pub fn stages(self) -> usize {
        self as usize
    }

    /// The factor as a multiplier of the sample rate.
    pub fn ratio(self) -> usize {
        1 << self.stages()
    }

    /// The factor with the given number of stages (clamped to 0..=4).
    pub fn from_stages(stages: usize) -> Self {
        Self::ALL[stages.min(4)]
    }
}

/// Up- and downsampling filters for one factor. Each tier of the engine owns one, so that
/// switching tiers never disturbs the filter memory of another.
pub struct Oversampler {
    factor: Factor,
    up1: Upsampler2x<N1>,
    up2: Upsampler2x<N2>,
    up3: Upsampler2x<N3>,
    up4: Upsampler2x<N4>,
    down1: Downsampler2x<N1>,
    down2: Downsampler2x<N2>,
    down3: Downsampler2x<N3>,
    down4: Downsampler2x<N4>,
}

/// The coefficients of every stage, designed once.
struct Designs {
    c1: [f32; N1],
    c2: [f32; N2],
    c3: [f32; N3],
    c4: [f32; N4],
}

impl Designs {
    fn new() -> Self {
        Self {
            c1: design_f32(TW1),
            c2: design_f32(TW2),
            c3: design_f32(TW3),
            c4: design_f32(TW4),
        }
    }
}

impl Oversampler {
    /// An oversampler for `factor`.
    pub fn new(factor: Factor) -> Self {
        let d = Designs::new();
        Self {
            factor,
            up1: Upsampler2x::new(d.c1),
            up2: Upsampler2x::new(d.c2),
            up3: Upsampler2x::new(d.c3),
            up4: Upsampler2x::new(d.c4),
            down1: Downsampler2x::new(d.c1),
            down2: Downsampler2x::new(d.c2),
            down3: Downsampler2x::new(d.c3),
            down4: Downsampler2x::new(d.c4),
        }
    }

    pub fn factor(&self) -> Factor {
        self.factor
    }

    /// Clears every filter's memory.
    pub fn reset(&mut self) {
        self.up1.reset();
        self.up2.reset();
        self.up3.reset();
        self.up4.reset();
        self.down1.reset();
        self.down2.reset();
        self.down3.reset();
        self.down4.reset();
    }

    /// Upsamples the first `n` samples of `a` by the factor. `a` and `b` are scratch buffers of
    /// at least `n * factor` samples; the result is in the returned one, `n * factor` long.
    #[inline(always)]
    pub fn upsample<'a, const FMA: bool>(
        &mut self,
        n: usize,
        a: &'a mut [Lanes],
        b: &'a mut [Lanes],
    ) -> &'a mut [Lanes] {
        let stages = self.factor.stages();
        if stages >= 1 {
            self.up1.process::<FMA>(&a[..n], &mut b[..2 * n]);
        }
        if stages >= 2 {
            self.up2.process::<FMA>(&b[..2 * n], &mut a[..4 * n]);
        }
        if stages >= 3 {
            self.up3.process::<FMA>(&a[..4 * n], &mut b[..8 * n]);
        }
        if stages >= 4 {
            self.up4.process::<FMA>(&b[..8 * n], &mut a[..16 * n]);
        }
        let len = n << stages;
        if stages % 2 == 1 {
            &mut b[..len]
        } else {
            &mut a[..len]
        }
    }

    /// The inverse of [`Oversampler::upsample`]: takes `n * factor` samples from the buffer
    /// `upsample` returned (`a` for an even number of stages, `b` for an odd one) down to `n`
    /// samples in `a`.
    #[inline(always)]
    pub fn downsample<const FMA: bool>(&mut self, n: usize, a: &mut [Lanes], b: &mut [Lanes]) {
        let stages = self.factor.stages();
        if stages >= 4 {
            self.down4.process::<FMA>(&a[..16 * n], &mut b[..8 * n]);
        }
        if stages >= 3 {
            self.down3.process::<FMA>(&b[..8 * n], &mut a[..4 * n]);
        }
        if stages >= 2 {
            self.down2.process::<FMA>(&a[..4 * n], &mut b[..2 * n]);
        }
        if stages >= 1 {
            self.down1.process::<FMA>(&b[..2 * n], &mut a[..n]);
        }
    }
}

impl Oversampler {
    /// Takes `n` samples up by the factor and straight back down, in `a` (the cascade alone,
    /// with nothing in between: what the anchor benchmark measures), on `simd`'s instructions.
    pub fn round_trip(&mut self, simd: Simd, n: usize, a: &mut [Lanes], b: &mut [Lanes]) {
        #[cfg(target_arch = "x86_64")]
        if simd.supported() == Simd::Avx2Fma {
            // SAFETY: `supported` checked that the CPU has AVX2 and FMA.
            unsafe { self.round_trip_avx2_fma(n, a, b) };
            return;
        }
        self.upsample::<false>(n, a, b);
        self.downsample::<false>(n, a, b);
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn round_trip_avx2_fma(&mut self, n: usize, a: &mut [Lanes], b: &mut [Lanes]) {
        self.upsample::<true>(n, a, b);
        self.downsample::<true>(n, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_a_low_sine_for_every_factor() {
        for factor in Factor::ALL {
            let mut os = Oversampler::new(factor);
            let n = 64;
            let mut a = vec![[0.0; 2]; n * MAX_FACTOR];
            let mut b = vec![[0.0; 2]; n * MAX_FACTOR];
            let mut out = Vec::new();
            let mut input = Vec::new();
            for block in 0..32 {
                for (i, lanes) in a[..n].iter_mut().enumerate() {
                    let t = (block * n + i) as f64;
                    let s = (std::f64::consts::TAU * 0.01 * t).sin() as f32;
                    *lanes = [s, s];
                    input.push(s);
                }
                let hi = os.upsample::<false>(n, &mut a, &mut b);
                assert_eq!(hi.len(), n * factor.ratio());
                os.downsample::<false>(n, &mut a, &mut b);
                out.extend(a[..n].iter().map(|l| l[0]));
            }
            let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
            let ratio = rms(&out[512..]) / rms(&input[512..]);
            assert!((ratio - 1.0).abs() < 1e-3, "{factor:?}: {ratio}");
        }
    }
}
