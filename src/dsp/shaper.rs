//! The waveshaping curves: the nonlinearity at the heart of the saturator, run at the oversampled
//! rate.

use super::simd::madd;
use nice_plug::prelude::Enum;

/// The shape of the saturation. Every curve has unity gain for small signals, so changing the
/// curve changes the character, not the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Curve {
    /// `tanh`: round and gradual; odd harmonics.
    #[id = "smooth"]
    #[name = "Smooth"]
    Smooth,
    /// A cubic that reaches full scale at 1.5 and stays there: firmer than `tanh`; odd harmonics.
    #[id = "soft"]
    #[name = "Soft clip"]
    SoftClip,
    /// An offset `tanh`: the positive half saturates earlier than the negative half, which adds
    /// even harmonics like a single-ended tube stage. Its DC is removed after the shaper.
    #[id = "tube"]
    #[name = "Tube"]
    Tube,
    /// A hard clip at full scale: bright and aggressive; odd harmonics.
    #[id = "hard"]
    #[name = "Hard clip"]
    HardClip,
}

impl Curve {
    /// Shapes one sample. Dispatching per sample is only used while two curves crossfade; the
    /// steady state goes through [`Shape::shape`] on a concrete type.
    #[inline]
    pub fn shape(self, x: f32) -> f32 {
        match self {
            Curve::Smooth => Smooth::shape(x),
            Curve::SoftClip => SoftClip::shape(x),
            Curve::Tube => Tube::shape(x),
            Curve::HardClip => HardClip::shape(x),
        }
    }
}

/// A curve as a type, so that the inner loop is compiled once per curve without a branch.
pub trait Shape {
    /// Shapes one sample, with fused multiply-adds in the engine's FMA copy (see
    /// [`super::simd`]).
    fn shape_on<const FMA: bool>(x: f32) -> f32;

    /// Shapes one sample.
    #[inline(always)]
    fn shape(x: f32) -> f32 {
        Self::shape_on::<false>(x)
    }
}

pub struct Smooth;
pub struct SoftClip;
pub struct Tube;
pub struct HardClip;

/// Where the rational `tanh` below reaches 1: beyond it the input is clamped.
const TANH_CLAMP: f32 = 4.97;

/// `tanh` as the 7/6 rational (Lambert continued fraction), clamped where it reaches 1. Within
/// 2e-4 of `tanh` everywhere, monotonic, and several times cheaper than libm's `tanhf`; it has
/// no branches, so loops over it vectorise.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    fast_tanh_on::<false>(x)
}

/// [`fast_tanh`], its polynomials in fused multiply-adds when `FMA`.
#[inline(always)]
fn fast_tanh_on<const FMA: bool>(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let num = x * madd::<FMA>(x2, madd::<FMA>(x2, 378.0 + x2, 17_325.0), 135_135.0);
    let den = madd::<FMA>(
        x2,
        madd::<FMA>(x2, madd::<FMA>(x2, 28.0, 3_150.0), 62_370.0),
        135_135.0,
    );
    (num / den).clamp(-1.0, 1.0)
}

impl Shape for Smooth {
    #[inline(always)]
    fn shape_on<const FMA: bool>(x: f32) -> f32 {
        fast_tanh_on::<FMA>(x)
    }
}

impl Shape for SoftClip {
    #[inline(always)]
    fn shape_on<const FMA: bool>(x: f32) -> f32 {
        // 1.5 u - 0.5 u^3 has slope 1.5 at 0 and reaches 1 at u = 1; scaling the input by 2/3
        // gives unity small-signal gain.
        let u = (x * (2.0 / 3.0)).clamp(-1.0, 1.0);
        u * (1.5 - 0.5 * u * u)
    }
}

/// The offset of the tube curve's operating point.
const TUBE_BIAS: f32 = 0.35;
/// `tanh(TUBE_BIAS)`, so that zero in gives zero out.
const TUBE_TANH_BIAS: f32 = 0.336_375_54;
/// `1 / (1 - tanh(TUBE_BIAS)^2)`: unity small-signal gain.
const TUBE_GAIN: f32 = 1.127_584_5;

impl Shape for Tube {
    #[inline(always)]
    fn shape_on<const FMA: bool>(x: f32) -> f32 {
        (fast_tanh_on::<FMA>(x + TUBE_BIAS) - TUBE_TANH_BIAS) * TUBE_GAIN
    }
}

impl Shape for HardClip {
    #[inline(always)]
    fn shape_on<const FMA: bool>(x: f32) -> f32 {
        x.clamp(-1.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_tracks_tanh() {
        let mut worst = 0.0f32;
        for i in -10_000..=10_000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        assert!(worst < 2e-4, "{worst}");
    }

    #[test]
    fn fast_tanh_is_monotonic_and_bounded() {
        let mut last = -1.0;
        for i in -20_000..=20_000 {
            let y = fast_tanh(i as f32 / 1000.0);
            assert!(y >= last && y.abs() <= 1.0);
            last = y;
        }
    }

    #[test]
    fn tube_constants_match_their_definition() {
        let t = (TUBE_BIAS as f64).tanh();
        assert!((TUBE_TANH_BIAS as f64 - t).abs() < 1e-7);
        assert!((TUBE_GAIN as f64 - 1.0 / (1.0 - t * t)).abs() < 1e-6);
    }

    #[test]
    fn every_curve_passes_zero_with_unity_slope() {
        for curve in [Curve::Smooth, Curve::SoftClip, Curve::Tube, Curve::HardClip] {
            assert!(curve.shape(0.0).abs() < 2e-4, "{curve:?}");
            let slope = (curve.shape(1e-3) - curve.shape(-1e-3)) / 2e-3;
            assert!((slope - 1.0).abs() < 0.02, "{curve:?}: {slope}");
            assert!(curve.shape(100.0) <= 1.01 && curve.shape(-100.0) >= -1.6);
        }
    }

    #[test]
    fn only_the_tube_is_asymmetric() {
        for curve in [Curve::Smooth, Curve::SoftClip, Curve::HardClip] {
            assert_eq!(curve.shape(0.8), -curve.shape(-0.8), "{curve:?}");
        }
        assert!(Curve::Tube.shape(2.0) < -Curve::Tube.shape(-2.0));
    }
}

/// The reference level of [`loudness_match_gain`]: a sine at -18 dBFS RMS, a usual mixing level.
pub const LOUDNESS_REFERENCE_RMS: f32 = 0.125_9;

/// One period of the reference sine, in 64 points.
pub type LoudnessReference = [f32; 64];

/// The reference sine of [`loudness_match_gain`]. Work it out once, off the audio thread (64
/// `sin` calls), and keep it.
pub fn loudness_reference() -> LoudnessReference {
    let amp = LOUDNESS_REFERENCE_RMS * std::f32::consts::SQRT_2;
    std::array::from_fn(|i| amp * (std::f32::consts::TAU * i as f32 / 64.0).sin())
}

/// The gain that brings the reference sine back to its own RMS after `curve` at `drive` (linear),
/// mixed `mix` wet: what "Match loudness" applies, so that turning the drive up changes the
/// character, not the level. Bounded to ±24 dB. Cheap enough (64 shaped points of the kept
/// `reference`) to run when a control changes, never per sample.
pub fn loudness_match_gain(
    reference: &LoudnessReference,
    curve: Curve,
    drive: f32,
    mix: f32,
) -> f32 {
    let (mut sum_in, mut sum_out) = (0.0f32, 0.0f32);
    for &x in reference {
        let y = x + (curve.shape(drive * x) - x) * mix;
        sum_in += x * x;
        sum_out += y * y;
    }
    if sum_out <= 0.0 || !sum_out.is_finite() {
        return 1.0;
    }
    (sum_in / sum_out).sqrt().clamp(0.063, 15.85)
}

#[cfg(test)]
mod loudness_tests {
    use super::*;

    fn db(g: f32) -> f32 {
        20.0 * g.log10()
    }

    #[test]
    fn matching_undoes_the_drive_and_nothing_when_dry() {
        let r = loudness_reference();
        for curve in [Curve::Smooth, Curve::SoftClip, Curve::Tube, Curve::HardClip] {
            // No drive: the curves are near unity at -18 dBFS, so hardly any change.
            assert!(
                db(loudness_match_gain(&r, curve, 1.0, 1.0)).abs() < 1.0,
                "{curve:?}"
            );
            // +24 dB of drive on a fully wet signal: most of it comes back off.
            let g = db(loudness_match_gain(&r, curve, 10f32.powf(24.0 / 20.0), 1.0));
            assert!((-24.0..-10.0).contains(&g), "{curve:?}: {g}");
            // Dry: the drive is not heard, so nothing to match.
            assert_eq!(loudness_match_gain(&r, curve, 15.0, 0.0), 1.0);
        }
    }
}
