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
        match self.factor {
            Factor::X1 => {}
            Factor::X2 => self.upsample_frames::<1, 0, FMA>(&a[..n], &mut b[..2 * n], &mut []),
            Factor::X4 => self.upsample_frames::<2, 0, FMA>(&a[..n], &mut b[..4 * n], &mut []),
            Factor::X8 => self.upsample_frames::<3, 0, FMA>(&a[..n], &mut b[..8 * n], &mut []),
            Factor::X16 => self.upsample_frames::<4, 0, FMA>(&a[..n], &mut b[..16 * n], &mut []),
        }
        let len = n << self.factor.stages();
        if self.factor == Factor::X1 {
            &mut a[..len]
        } else {
            &mut b[..len]
        }
    }

    /// [`Oversampler::upsample`] that also leaves the signal after the first `tap` stages in
    /// `tapped` (`n << tap` samples), for a lower tier to take up from there (see
    /// [`Oversampler::take_up_state`]). `tap` is 1 to one less than the factor's stages.
    #[inline(always)]
    pub fn upsample_tapped<'a, const FMA: bool>(
        &mut self,
        n: usize,
        a: &'a mut [Lanes],
        b: &'a mut [Lanes],
        tap: usize,
        tapped: &mut [Lanes],
    ) -> &'a mut [Lanes] {
        let len = n << self.factor.stages();
        let (x, y) = (&a[..n], &mut b[..len]);
        match (self.factor, tap) {
            (Factor::X4, 1) => self.upsample_frames::<2, 1, FMA>(x, y, tapped),
            (Factor::X8, 1) => self.upsample_frames::<3, 1, FMA>(x, y, tapped),
            (Factor::X8, 2) => self.upsample_frames::<3, 2, FMA>(x, y, tapped),
            (Factor::X16, 1) => self.upsample_frames::<4, 1, FMA>(x, y, tapped),
            (Factor::X16, 2) => self.upsample_frames::<4, 2, FMA>(x, y, tapped),
            (Factor::X16, 3) => self.upsample_frames::<4, 3, FMA>(x, y, tapped),
            _ => unreachable!("a tap below the factor's stages"),
        }
        &mut b[..len]
    }

    /// Takes the memory of the first `stages` upsampling stages from `other`: the two then
    /// upsample the same input alike through those stages, bit for bit (the stages' designs do
    /// not depend on the factor).
    pub fn take_up_state(&mut self, other: &Oversampler, stages: usize) {
        if stages >= 1 {
            self.up1 = other.up1;
        }
        if stages >= 2 {
            self.up2 = other.up2;
        }
        if stages >= 3 {
            self.up3 = other.up3;
        }
        if stages >= 4 {
            self.up4 = other.up4;
        }
    }

    /// The inverse of [`Oversampler::upsample`]: takes `n * factor` samples from the buffer
    /// `upsample` returned (`a` at 1x, else `b`) down to `n` samples in `a`.
    #[inline(always)]
    pub fn downsample<const FMA: bool>(&mut self, n: usize, a: &mut [Lanes], b: &mut [Lanes]) {
        match self.factor {
            Factor::X1 => {}
            Factor::X2 => self.downsample_frames::<1, FMA>(&b[..2 * n], &mut a[..n]),
            Factor::X4 => self.downsample_frames::<2, FMA>(&b[..4 * n], &mut a[..n]),
            Factor::X8 => self.downsample_frames::<3, FMA>(&b[..8 * n], &mut a[..n]),
            Factor::X16 => self.downsample_frames::<4, FMA>(&b[..16 * n], &mut a[..n]),
        }
    }

    /// Runs every stage frame by frame: one base-rate sample through all `STAGES` stages, then
    /// the next. Each stage is a recursion that waits on its own last output, so a stage run over
    /// a whole block before the next one starts costs the sum of the stages' waits; interleaved
    /// like this, the stages' waits overlap and the dearest (the last stage's) sets the pace.
    /// Each stage still sees its samples in the same order, so the output is the same bit for bit.
    ///
    /// With `TAP` above 0, the signal after the first `TAP` stages also goes to `tapped`.
    #[inline(always)]
    fn upsample_frames<const STAGES: usize, const TAP: usize, const FMA: bool>(
        &mut self,
        input: &[Lanes],
        output: &mut [Lanes],
        tapped: &mut [Lanes],
    ) {
        // The filter memory in locals for the block. Worked on in place through `&mut self`,
        // each stage's state went to memory after every sample and came back for the next: the
        // store-to-load forwarding sat in every section's recursion and doubled its wait. As
        // locals, the stages stay in registers; the stages the factor does not use are never
        // read, so their copies go.
        let (mut up1, mut up2, mut up3, mut up4) = (self.up1, self.up2, self.up3, self.up4);
        for (k, (x, out)) in input
            .iter()
            .zip(output.chunks_exact_mut(1 << STAGES))
            .enumerate()
        {
            let mut s2 = [[0.0f32; 2]; 4];
            let mut s3 = [[0.0f32; 2]; 8];
            let s1 = up1.tick::<FMA>(*x);
            if TAP == 1 {
                tapped[2 * k..][..2].copy_from_slice(&s1);
            }
            if STAGES == 1 {
                out.copy_from_slice(&s1);
                continue;
            }
            for (i, &x) in s1.iter().enumerate() {
                [s2[2 * i], s2[2 * i + 1]] = up2.tick::<FMA>(x);
            }
            if TAP == 2 {
                tapped[4 * k..][..4].copy_from_slice(&s2);
            }
            if STAGES == 2 {
                out.copy_from_slice(&s2);
                continue;
            }
            for (i, &x) in s2.iter().enumerate() {
                [s3[2 * i], s3[2 * i + 1]] = up3.tick::<FMA>(x);
            }
            if TAP == 3 {
                tapped[8 * k..][..8].copy_from_slice(&s3);
            }
            if STAGES == 3 {
                out.copy_from_slice(&s3);
                continue;
            }
            for (i, &x) in s3.iter().enumerate() {
                [out[2 * i], out[2 * i + 1]] = up4.tick::<FMA>(x);
            }
        }
        self.up1 = up1;
        if STAGES >= 2 {
            self.up2 = up2;
        }
        if STAGES >= 3 {
            self.up3 = up3;
        }
        if STAGES >= 4 {
            self.up4 = up4;
        }
    }

    /// [`Oversampler::upsample_frames`] the other way.
    #[inline(always)]
    fn downsample_frames<const STAGES: usize, const FMA: bool>(
        &mut self,
        input: &[Lanes],
        output: &mut [Lanes],
    ) {
        // The filter memory in locals for the block (see `upsample_frames`).
        let (mut down1, mut down2, mut down3, mut down4) =
            (self.down1, self.down2, self.down3, self.down4);
        for (frame, out) in input.chunks_exact(1 << STAGES).zip(output.iter_mut()) {
            let mut s3 = [[0.0f32; 2]; 8];
            let mut s2 = [[0.0f32; 2]; 4];
            let mut s1 = [[0.0f32; 2]; 2];
            if STAGES == 4 {
                for (i, y) in s3.iter_mut().enumerate() {
                    *y = down4.tick::<FMA>([frame[2 * i], frame[2 * i + 1]]);
                }
            } else if STAGES == 3 {
                s3.copy_from_slice(frame);
            }
            if STAGES >= 3 {
                for (i, y) in s2.iter_mut().enumerate() {
                    *y = down3.tick::<FMA>([s3[2 * i], s3[2 * i + 1]]);
                }
            } else if STAGES == 2 {
                s2.copy_from_slice(frame);
            }
            if STAGES >= 2 {
                for (i, y) in s1.iter_mut().enumerate() {
                    *y = down2.tick::<FMA>([s2[2 * i], s2[2 * i + 1]]);
                }
            } else {
                s1.copy_from_slice(frame);
            }
            *out = down1.tick::<FMA>(s1);
        }
        self.down1 = down1;
        if STAGES >= 2 {
            self.down2 = down2;
        }
        if STAGES >= 3 {
            self.down3 = down3;
        }
        if STAGES >= 4 {
            self.down4 = down4;
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

    /// One stage run over a whole block.
    type Stage<'a> = &'a mut dyn FnMut(&[Lanes], &mut [Lanes]);

    /// The frame-by-frame cascade gives exactly what running each stage over the whole block,
    /// one stage after the other, gives.
    #[test]
    fn frame_by_frame_equals_stage_by_stage_bit_for_bit() {
        let n = 64;
        let input: Vec<Lanes> = (0..n)
            .map(|i| [(i as f32 * 0.3).sin(), (i as f32 * 0.11).cos()])
            .collect();
        for factor in Factor::ALL {
            let mut fused = Oversampler::new(factor);
            let mut staged = Oversampler::new(factor);
            let (mut a, mut b) = (
                vec![[0.0; 2]; n * MAX_FACTOR],
                vec![[0.0; 2]; n * MAX_FACTOR],
            );
            for _block in 0..3 {
                a[..n].copy_from_slice(&input);
                let hi = fused.upsample::<false>(n, &mut a, &mut b).to_vec();

                // Stage by stage over the whole block.
                let mut x = input.clone();
                let s = factor.stages();
                let ups: [Stage; 4] = [
                    &mut |i, o| staged.up1.process::<false>(i, o),
                    &mut |i, o| staged.up2.process::<false>(i, o),
                    &mut |i, o| staged.up3.process::<false>(i, o),
                    &mut |i, o| staged.up4.process::<false>(i, o),
                ];
                for up in ups.into_iter().take(s) {
                    let mut y = vec![[0.0; 2]; x.len() * 2];
                    up(&x, &mut y);
                    x = y;
                }
                assert_eq!(hi, x, "{factor:?} up");

                let shaped: Vec<Lanes> = hi.iter().map(|v| [v[0].tanh(), v[1] * 0.5]).collect();
                let hi_buf = if factor == Factor::X1 { &mut a } else { &mut b };
                hi_buf[..shaped.len()].copy_from_slice(&shaped);
                fused.downsample::<false>(n, &mut a, &mut b);
                let downs: [Stage; 4] = [
                    &mut |i, o| staged.down1.process::<false>(i, o),
                    &mut |i, o| staged.down2.process::<false>(i, o),
                    &mut |i, o| staged.down3.process::<false>(i, o),
                    &mut |i, o| staged.down4.process::<false>(i, o),
                ];
                let mut x = shaped;
                for down in downs.into_iter().take(s).rev() {
                    let mut y = vec![[0.0; 2]; x.len() / 2];
                    down(&x, &mut y);
                    x = y;
                }
                assert_eq!(a[..n], x[..], "{factor:?} down");
            }
        }
    }

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
