//! Polyphase IIR half-band filters: the 2x up- and down-sampling stages that the oversampler
//! cascades.
//!
//! Each stage is an elliptic half-band filter split into two parallel chains of first-order
//! allpass sections running at the lower rate (the structure Laurent de Soras' HIIR made
//! popular). A stage with `N` coefficients costs `N` multiplies per low-rate sample and lane,
//! which is several times cheaper than a linear-phase FIR of the same stop-band attenuation.
//!
//! Samples are processed as [`Lanes`]: the left and right channel side by side, so that both
//! channels share one pass over the coefficients and the compiler can keep them in one register.

use super::simd::madd;

/// One sample of every channel Salve processes (left, right).
pub type Lanes = [f32; 2];

/// Computes the allpass coefficients of an elliptic half-band filter with `coefs.len()`
/// coefficients and the given transition bandwidth (relative to the high sample rate, between 0
/// and 0.25: the pass band ends at `0.25 - transition`, the stop band starts at
/// `0.25 + transition`).
///
/// The maths follows the classic closed form for polyphase allpass half-band filters
/// (Valenzuela & Constantinides, "Digital signal processing schemes for efficient interpolation
/// and decimation", 1983): the coefficients are derived from the Jacobi elliptic functions of the
/// transition's modulus, expanded as fast-converging q-series.
pub fn design(coefs: &mut [f64], transition: f64) {
    debug_assert!(transition > 0.0 && transition < 0.25);
    let (k, q) = transition_params(transition);
    let order = (coefs.len() * 2 + 1) as f64;
    for (index, coef) in coefs.iter_mut().enumerate() {
        let c = (index + 1) as f64;
        let num = series(q, order, c, SeriesKind::Numerator) * q.powf(0.25);
        let den = series(q, order, c, SeriesKind::Denominator) + 0.5;
        let ww = num / den;
        let wwsq = ww * ww;
        let x = ((1.0 - wwsq * k) * (1.0 - wwsq / k)).sqrt() / (1.0 + wwsq);
        *coef = (1.0 - x) / (1.0 + x);
    }
}

/// The selectivity `k` and the nome `q` of the elliptic filter for a transition bandwidth.
fn transition_params(transition: f64) -> (f64, f64) {
    let k = ((1.0 - transition * 2.0) * std::f64::consts::FRAC_PI_4).tan();
    let k = k * k;
    let kksqrt = (1.0 - k * k).powf(0.25);
    let e = 0.5 * (1.0 - kksqrt) / (1.0 + kksqrt);
    let e2 = e * e;
    let e4 = e2 * e2;
    let q = e * (1.0 + e4 * (2.0 + e4 * (15.0 + 150.0 * e4)));
    (k, q)
}

#[derive(Clone, Copy)]
enum SeriesKind {
    Numerator,
    Denominator,
}

/// The theta-function series in the closed form, summed until the terms vanish.
fn series(q: f64, order: f64, c: f64, kind: SeriesKind) -> f64 {
    let mut acc = 0.0;
    let mut sign = 1.0;
    let mut i = match kind {
        SeriesKind::Numerator => 0,
        SeriesKind::Denominator => {
            sign = -1.0;
            1
        }
    };
    loop {
        let term = match kind {
            SeriesKind::Numerator => {
                q.powi(i * (i + 1))
                    * (((i * 2 + 1) as f64) * c * std::f64::consts::PI / order).sin()
            }
            SeriesKind::Denominator => {
                q.powi(i * i) * ((i * 2) as f64 * c * std::f64::consts::PI / order).cos()
            }
        } * sign;
        acc += term;
        sign = -sign;
        i += 1;
        if term.abs() <= 1e-100 || i > 1000 {
            return acc;
        }
    }
}

/// Designs `N` coefficients as `f32`.
pub fn design_f32<const N: usize>(transition: f64) -> [f32; N] {
    let mut coefs = [0.0f64; N];
    design(&mut coefs, transition);
    coefs.map(|c| c as f32)
}

/// The two allpass chains of a half-band filter, even coefficients in one and odd in the other.
/// Section `k` of both chains runs in one step over four values (even left, even right, odd
/// left, odd right), which the compiler maps onto one SIMD register.
#[derive(Clone, Copy)]
struct TwoPaths<const N: usize> {
    /// `[a_2k, a_2k, a_2k+1, a_2k+1]` for section pair `k`; a missing odd section has `a = 0`
    /// and a zero input history, which makes it a pure one-sample delay that is never read.
    coefs: [[f32; 4]; N],
    /// Last input of each section pair.
    x: [[f32; 4]; N],
    /// Last output of each section pair.
    y: [[f32; 4]; N],
}

impl<const N: usize> TwoPaths<N> {
    /// The number of section pairs in use: `ceil(N / 2)`.
    const PAIRS: usize = N.div_ceil(2);

    fn new(coefs: [f32; N]) -> Self {
        let mut pairs = [[0.0; 4]; N];
        for (k, pair) in pairs.iter_mut().take(Self::PAIRS).enumerate() {
            let even = coefs[2 * k];
            let odd = coefs.get(2 * k + 1).copied().unwrap_or(0.0);
            *pair = [even, even, odd, odd];
        }
        Self {
            coefs: pairs,
            x: [[0.0; 4]; N],
            y: [[0.0; 4]; N],
        }
    }

    /// Runs `even` through the even-indexed chain and `odd` through the odd-indexed one.
    #[inline(always)]
    fn tick<const FMA: bool>(&mut self, even: Lanes, odd: Lanes) -> (Lanes, Lanes) {
        let mut v = [even[0], even[1], odd[0], odd[1]];
        for k in 0..Self::PAIRS {
            let (a, x1, y1) = (self.coefs[k], self.x[k], self.y[k]);
            let mut out = [0.0f32; 4];
            for j in 0..4 {
                // y[n] = (a x[n] + x[n-1]) - a y[n-1]: the allpass (a + z^-1) / (1 + a z^-1).
                // Only the last multiply-add waits for the previous sample's output: each
                // section costs one (fused) operation's latency per sample, which is what limits
                // a cascade of recursive filters.
                out[j] = madd::<FMA>(-a[j], y1[j], madd::<FMA>(a[j], v[j], x1[j]));
            }
            self.x[k] = v;
            self.y[k] = out;
            v = out;
        }
        if N % 2 == 1 {
            // The last odd "section" does not exist: the odd chain's value is its input.
            let k = Self::PAIRS - 1;
            v[2] = self.x[k][2];
            v[3] = self.x[k][3];
        }
        ([v[0], v[1]], [v[2], v[3]])
    }

    fn reset(&mut self) {
        self.x = [[0.0; 4]; N];
        self.y = [[0.0; 4]; N];
    }
}

/// Doubles the sample rate: every input sample becomes two output samples.
#[derive(Clone, Copy)]
pub struct Upsampler2x<const N: usize> {
    paths: TwoPaths<N>,
}

impl<const N: usize> Upsampler2x<N> {
    /// An upsampler with the coefficients from [`design_f32`].
    pub fn new(coefs: [f32; N]) -> Self {
        Self {
            paths: TwoPaths::new(coefs),
        }
    }

    /// One input sample in, its two output samples out (in time order).
    #[inline(always)]
    pub fn tick<const FMA: bool>(&mut self, x: Lanes) -> [Lanes; 2] {
        let (even, odd) = self.paths.tick::<FMA>(x, x);
        [even, odd]
    }

    /// Upsamples `input` into `output`, which must be twice as long.
    #[inline(always)]
    pub fn process<const FMA: bool>(&mut self, input: &[Lanes], output: &mut [Lanes]) {
        debug_assert_eq!(output.len(), input.len() * 2);
        for (x, out) in input.iter().zip(output.chunks_exact_mut(2)) {
            [out[0], out[1]] = self.tick::<FMA>(*x);
        }
    }

    /// Clears the filter memory.
    pub fn reset(&mut self) {
        self.paths.reset();
    }
}

/// Halves the sample rate: every two input samples become one output sample.
#[derive(Clone, Copy)]
pub struct Downsampler2x<const N: usize> {
    paths: TwoPaths<N>,
}

impl<const N: usize> Downsampler2x<N> {
    /// A downsampler with the coefficients from [`design_f32`].
    pub fn new(coefs: [f32; N]) -> Self {
        Self {
            paths: TwoPaths::new(coefs),
        }
    }

    /// Two input samples (in time order) in, one output sample out.
    #[inline(always)]
    pub fn tick<const FMA: bool>(&mut self, pair: [Lanes; 2]) -> Lanes {
        let (a, b) = self.paths.tick::<FMA>(pair[1], pair[0]);
        [0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1])]
    }

    /// Downsamples `input` into `output`, which must be half as long.
    #[inline(always)]
    pub fn process<const FMA: bool>(&mut self, input: &[Lanes], output: &mut [Lanes]) {
        debug_assert_eq!(input.len(), output.len() * 2);
        for (pair, out) in input.chunks_exact(2).zip(output.iter_mut()) {
            *out = self.tick::<FMA>([pair[0], pair[1]]);
        }
    }

    /// Clears the filter memory.
    pub fn reset(&mut self) {
        self.paths.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The magnitude response of the half-band filter `0.5 (A0(z^2) + z^-1 A1(z^2))` at the
    /// normalised frequency `f` (cycles per high-rate sample).
    fn magnitude(coefs: &[f64], f: f64) -> f64 {
        use std::f64::consts::TAU;
        let w = TAU * f;
        // z^-2 on the unit circle.
        let (re2, im2) = ((2.0 * w).cos(), -(2.0 * w).sin());
        let mut p = [(1.0f64, 0.0f64); 2];
        for (i, &a) in coefs.iter().enumerate() {
            // (a + z^-2) / (1 + a z^-2)
            let num = (a + re2, im2);
            let den = (1.0 + a * re2, a * im2);
            let d = den.0 * den.0 + den.1 * den.1;
            let h = (
                (num.0 * den.0 + num.1 * den.1) / d,
                (num.1 * den.0 - num.0 * den.1) / d,
            );
            let acc = &mut p[i % 2];
            *acc = (acc.0 * h.0 - acc.1 * h.1, acc.0 * h.1 + acc.1 * h.0);
        }
        // z^-1 on the odd path.
        let (re1, im1) = (w.cos(), -w.sin());
        let odd = (p[1].0 * re1 - p[1].1 * im1, p[1].0 * im1 + p[1].1 * re1);
        let sum = (0.5 * (p[0].0 + odd.0), 0.5 * (p[0].1 + odd.1));
        (sum.0 * sum.0 + sum.1 * sum.1).sqrt()
    }

    fn stopband_db(coefs: &[f64], transition: f64) -> f64 {
        (0..=200)
            .map(|i| 0.25 + transition + (0.25 - transition) * i as f64 / 200.0)
            .map(|f| 20.0 * magnitude(coefs, f.min(0.5)).log10())
            .fold(f64::MIN, f64::max)
    }

    mod design {
        use super::*;

        #[test]
        fn every_stage_reaches_its_stop_band_attenuation() {
            for &(n, transition) in crate::dsp::oversampler::STAGE_DESIGNS {
                let mut coefs = vec![0.0; n];
                design(&mut coefs, transition);
                let atten = stopband_db(&coefs, transition);
                assert!(
                    atten < -crate::dsp::oversampler::STOPBAND_DB,
                    "{n} coefficients at transition {transition}: {atten:.1} dB"
                );
                for f in [0.0, 0.1, 0.25 - transition] {
                    let pass = 20.0 * magnitude(&coefs, f).log10();
                    assert!(pass.abs() < 0.01, "pass band at {f}: {pass} dB");
                }
            }
        }

        #[test]
        fn coefficients_are_stable_allpasses() {
            let mut coefs = [0.0; 12];
            design(&mut coefs, 0.04);
            for c in coefs {
                assert!(c > 0.0 && c < 1.0, "{c}");
            }
            assert!(coefs.windows(2).all(|w| w[0] < w[1]));
        }
    }

    mod up_down {
        use super::*;

        /// Upsampling a sine must produce a clean sine at the high rate: the image at
        /// `fs - f` (relative to the low rate) is suppressed by the stop band.
        #[test]
        fn upsampled_sine_has_no_image() {
            let coefs = design_f32::<8>(0.04);
            let mut up = Upsampler2x::new(coefs);
            let n = 8192;
            // 0.125 cycles per low-rate sample: bin 256 of a 4096-point high-rate window; the
            // image at 0.4375 cycles per high-rate sample is bin 1792.
            let input: Vec<Lanes> = (0..n)
                .map(|i| {
                    let s = (std::f64::consts::TAU * 0.125 * i as f64).sin() as f32;
                    [s, -s]
                })
                .collect();
            let mut output = vec![[0.0; 2]; n * 2];
            up.process::<false>(&input, &mut output);
            let tail: Vec<f64> = output[n * 2 - 4096..].iter().map(|s| s[0] as f64).collect();
            let bin = |k: f64| {
                let (mut re, mut im) = (0.0, 0.0);
                for (i, x) in tail.iter().enumerate() {
                    let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / 4096.0).cos();
                    let ph = std::f64::consts::TAU * k * i as f64 / 4096.0;
                    re += x * w * ph.cos();
                    im -= x * w * ph.sin();
                }
                (re * re + im * im).sqrt()
            };
            let image_db = 20.0 * (bin(1792.0) / bin(256.0)).log10();
            assert!(image_db < -90.0, "{image_db}");
            // Right lane carries the negated signal independently.
            assert!(output.iter().all(|s| (s[0] + s[1]).abs() < 1e-6));
        }

        #[test]
        fn up_then_down_is_transparent_in_the_pass_band() {
            let coefs = design_f32::<12>(0.04);
            let mut up = Upsampler2x::new(coefs);
            let mut down = Downsampler2x::new(coefs);
            let n = 4096;
            let f = 0.05;
            let input: Vec<Lanes> = (0..n)
                .map(|i| [(std::f64::consts::TAU * f * i as f64).sin() as f32; 2])
                .collect();
            let mut hi = vec![[0.0; 2]; n * 2];
            let mut out = vec![[0.0; 2]; n];
            up.process::<false>(&input, &mut hi);
            down.process::<false>(&hi, &mut out);
            let rms = |s: &[Lanes]| {
                (s.iter().map(|x| (x[0] as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
            };
            let ratio = rms(&out[1024..]) / rms(&input[1024..]);
            assert!((ratio - 1.0).abs() < 1e-3, "{ratio}");
        }

        #[test]
        fn reset_clears_memory() {
            let coefs = design_f32::<4>(0.1);
            let mut up = Upsampler2x::new(coefs);
            let mut out = [[0.0; 2]; 2];
            up.process::<false>(&[[1.0, 1.0]], &mut out);
            up.reset();
            up.process::<false>(&[[0.0, 0.0]], &mut out);
            assert_eq!(out, [[0.0; 2]; 2]);
        }
    }
}
