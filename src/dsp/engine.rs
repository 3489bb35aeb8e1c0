//! The saturator engine: one tier per oversampling factor, all delay-compensated to the same
//! latency, with click-free switching between them.
//!
//! Signal flow of a tier, at its oversampled rate:
//! `input -> upsample -> [drive -> curve -> tilt] mixed with the upsampled dry -> pad -> downsample -> pad`.
//! Mixing dry and wet *before* the downsampler means both go through the very same filters, so
//! any mix setting is phase-aligned (no comb filtering at 50 %). Each tier ends with a DC blocker
//! at the base rate; after the tiers come the output gain and the safety limiter.
//!
//! Everything is allocated in [`Engine::new`]; [`Engine::process`] only touches memory it owns
//! and handles any block length by working in chunks of [`CHUNK`] samples.

use super::declick::Declicker;
use super::delay::Delay;
use super::filters::{DcBlocker, Tilt};
use super::halfband::Lanes;
use super::limiter::{CEILING, SafetyLimiter};
use super::oversampler::{Factor, MAX_FACTOR, Oversampler};
use super::shaper::{Curve, HardClip, Shape, Smooth, SoftClip, Tube};
use super::simd::{Simd, madd};

/// The engine processes long blocks in chunks of this many samples, so its scratch memory is
/// fixed whatever block size a host sends.
pub const CHUNK: usize = 64;

/// The longest latency a tier may need, in base-rate samples (the base padding's capacity).
const MAX_LATENCY: usize = 64;

/// How long a tier change crossfades, in seconds.
pub const TIER_CROSSFADE_SECONDS: f32 = 0.010;
/// How long a curve change crossfades, in seconds.
pub const CURVE_CROSSFADE_SECONDS: f32 = 0.005;
/// How many samples a newly started tier runs silently before it fades in, beyond its latency, so
/// that its filters have settled (unless the switch is urgent).
pub(crate) const WARM_UP_EXTRA: usize = 128;
/// How much signal a new tier has run on before it is heard: long enough for the steepest
/// half-band stage's start-up transient to decay (its slowest pole has a time constant of tens of
/// samples). A tier started from rest clicks under a short fade.
pub(crate) const SETTLE: usize = 4 * CHUNK;
/// An urgent switch (the reflex, already overrunning) runs the new tier unheard on one chunk of
/// live input, takes the heard tier's DC-blocker state at the start of the next, and fades the
/// new tier in over that chunk: two blocks, each with the two tiers' work and no more, and no
/// more than the tiers' own difference in the output
/// (`a_switch_adds_nothing_beyond_the_difference_of_its_tiers`). It used to prime the new tier
/// with the last chunk of input in the switch's first block, which ran the cheaper tier twice
/// (1.7x the dearer tier's steady block from 16x to 8x).
pub(crate) const URGENT_WARM: usize = CHUNK;
pub(crate) const URGENT_FADE: usize = 64;

/// Inputs beyond +60 dBFS are clamped before anything else sees them.
pub const MAX_INPUT: f32 = 1000.0;
/// After a restart (NaN/Inf or a panic), the output fades in over this many seconds.
pub const RESTART_FADE_SECONDS: f32 = 0.005;

/// A processing path: one oversampling tier, or the safe path (the input delayed by the
/// latency, nothing else), which is what safe mode plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    Tier(Factor),
    Safe,
}

impl Path {
    /// How many paths there are: one per factor, and the safe path.
    pub const COUNT: usize = Factor::ALL.len() + 1;

    /// A distinct index below [`Path::COUNT`].
    pub fn index(self) -> usize {
        match self {
            Path::Tier(f) => f.stages(),
            Path::Safe => Factor::ALL.len(),
        }
    }
}

/// What the engine's last `process()` call saw at its output, gathered in the output loop it
/// runs anyway (so that the probe does not scan the block again).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutputStats {
    /// The largest absolute output sample (after the limiter).
    pub peak: f32,
    /// The mean of the output (both channels): its DC offset.
    pub mean: f32,
    /// The DSP produced NaN or infinity: the block was replaced by silence and the DSP restarted.
    pub restarted: bool,
    /// The safety limiter acted on at least one sample.
    pub limited: bool,
    /// How many input samples were subnormal (flushed to zero on the way in).
    pub subnormal_inputs: u32,
    /// The output's mean square over both channels (for the meters).
    pub power: f32,
    /// The largest absolute input sample and the input's mean square (as the engine received
    /// them, after NaN and absurd levels were taken out).
    pub input_peak: f32,
    pub input_power: f32,
}

/// Orders the paths by cost: the safe path, then the tiers by factor.
fn rank(p: Path) -> usize {
    match p {
        Path::Tier(f) => f.stages() + 1,
        Path::Safe => 0,
    }
}

/// Faults the tests and the chaos runner can inject into the DSP (only in their builds).
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// NaN inside the oversampled signal, which poisons the filters' state.
    Nan,
    /// A panic inside the DSP.
    Panic,
}

/// The per-sample control values for one chunk, prepared by the caller (from its parameter
/// smoothers) so that the engine does not depend on where they come from.
#[derive(Clone)]
pub struct Controls {
    /// Input gain into the curve, linear.
    pub drive: [f32; CHUNK],
    /// Wet share, 0..=1.
    pub mix: [f32; CHUNK],
    /// Tilt gain below the pivot, linear.
    pub tilt_low: [f32; CHUNK],
    /// Tilt gain above the pivot, linear.
    pub tilt_high: [f32; CHUNK],
    /// Output gain, linear.
    pub output: [f32; CHUNK],
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            drive: [1.0; CHUNK],
            mix: [1.0; CHUNK],
            tilt_low: [1.0; CHUNK],
            tilt_high: [1.0; CHUNK],
            output: [1.0; CHUNK],
        }
    }
}

impl Controls {
    /// Sets every sample of the chunk to constant values.
    pub fn fill(&mut self, drive: f32, mix: f32, tone: f32, output: f32) {
        let (lo, hi) = super::filters::tilt_gains(tone);
        self.drive.fill(drive);
        self.mix.fill(mix);
        self.tilt_low.fill(lo);
        self.tilt_high.fill(hi);
        self.output.fill(output);
    }

    /// The first sample's values: all of them when the controls stand still.
    pub fn first(&self) -> ControlValues {
        ControlValues {
            drive: self.drive[0],
            mix: self.mix[0],
            tilt_low: self.tilt_low[0],
            tilt_high: self.tilt_high[0],
            output: self.output[0],
        }
    }

    /// Every sample at `values`.
    pub fn splat(values: ControlValues) -> Self {
        Self {
            drive: [values.drive; CHUNK],
            mix: [values.mix; CHUNK],
            tilt_low: [values.tilt_low; CHUNK],
            tilt_high: [values.tilt_high; CHUNK],
            output: [values.output; CHUNK],
        }
    }
}

/// One sample's worth of [`Controls`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlValues {
    pub drive: f32,
    pub mix: f32,
    pub tilt_low: f32,
    pub tilt_high: f32,
    pub output: f32,
}

/// The state of a curve change.
#[derive(Clone, Copy)]
struct CurveState {
    current: Curve,
    previous: Curve,
    /// The crossfade from `previous` to `current`, in base-rate samples.
    fade: Declicker,
}

/// One oversampling factor's processing path.
struct Tier {
    os: Oversampler,
    tilt: Tilt,
    /// The part of the padding finer than a base-rate sample, at the oversampled rate.
    hi_pad: Delay<MAX_FACTOR>,
    /// The rest of the padding, at the base rate.
    base_pad: Delay<MAX_LATENCY>,
    /// Removes the DC the asymmetric curve creates (not on the safe path, which stays bit-exact).
    dc: DcBlocker,
    /// Off only while the tier's delay is measured (a DC blocker has no DC gain to measure by).
    dc_enabled: bool,
    /// The safe path: only the padding runs.
    safe: bool,
}

impl Tier {
    fn new(factor: Factor, sample_rate: f32) -> Self {
        Self {
            os: Oversampler::new(factor),
            tilt: Tilt::new(sample_rate * factor.ratio() as f32),
            hi_pad: Delay::new(0),
            base_pad: Delay::new(0),
            dc: DcBlocker::new(sample_rate),
            dc_enabled: true,
            safe: false,
        }
    }

    fn safe_path(sample_rate: f32) -> Self {
        Self {
            safe: true,
            ..Self::new(Factor::X1, sample_rate)
        }
    }

    fn reset(&mut self) {
        self.os.reset();
        self.tilt.reset();
        self.hi_pad.reset();
        self.base_pad.reset();
        self.dc.reset();
    }

    /// Processes `input` into `out` (both `n` long) with the oversampled scratch memory; `FMA`
    /// in the engine's AVX2 copy (see [`Engine::process`]). `shared` says whether this tier
    /// leaves its upsampled signal for a lower tier, or takes it from a higher one.
    #[inline(always)]
    fn process_on<const FMA: bool>(
        &mut self,
        input: &[Lanes],
        out: &mut [Lanes],
        ctl: &Controls,
        curve: CurveState,
        hi_rate: &mut HiRate,
        shared: Shared,
    ) {
        let n = input.len();
        if self.safe {
            out.copy_from_slice(input);
            self.base_pad.process(out);
            return;
        }
        // The base-rate signal lies in `a` after room for the base-rate padding, which goes in
        // front of it (see below) instead of moving it.
        let base = &mut hi_rate.a[MAX_LATENCY..];
        base[..n].copy_from_slice(input);
        let ratio = self.os.factor().ratio();
        // Above 1x the oversampled signal lands in `b` after room for the padding finer than a
        // base-rate sample, which goes in front of it likewise.
        let hi = match shared {
            Shared::Alone => self
                .os
                .upsample::<FMA>(n, base, &mut hi_rate.b[MAX_FACTOR..]),
            Shared::Give(stages) => self.os.upsample_tapped::<FMA>(
                n,
                base,
                &mut hi_rate.b[MAX_FACTOR..],
                stages,
                &mut hi_rate.shared,
            ),
            Shared::Take(stages) => {
                debug_assert_eq!(stages, self.os.factor().stages());
                let hi = &mut hi_rate.b[MAX_FACTOR..][..n << stages];
                hi.copy_from_slice(&hi_rate.shared[..n << stages]);
                hi
            }
        };
        let flat = |g: &[f32]| g[..n].iter().fold(true, |flat, &g| flat & (g == 1.0));
        if !curve.fade.is_settled() {
            kernel_fading(hi, ratio, ctl, &mut self.tilt, curve);
        } else if flat(&ctl.tilt_low) && flat(&ctl.tilt_high) {
            kernel_for::<false, FMA>(curve.current, hi, ratio, ctl, &mut self.tilt);
        } else {
            kernel_for::<true, FMA>(curve.current, hi, ratio, ctl, &mut self.tilt);
        }
        #[cfg(any(test, feature = "fault-injection"))]
        if let Some(InjectedFault::Nan) = hi_rate.fault.take() {
            hi[0] = [f32::NAN; 2];
        }
        let d = self.hi_pad.delay();
        if ratio > 1 {
            self.hi_pad
                .process_in_front(&mut hi_rate.b, MAX_FACTOR, n * ratio);
        }
        self.os.downsample::<FMA>(
            n,
            &mut hi_rate.a[MAX_LATENCY..],
            &mut hi_rate.b[MAX_FACTOR - d..],
        );
        self.base_pad
            .process_in_front(&mut hi_rate.a, MAX_LATENCY, n);
        let padded = &hi_rate.a[MAX_LATENCY - self.base_pad.delay()..][..n];
        if self.dc_enabled {
            self.dc.process_into::<FMA>(padded, out);
        } else {
            out.copy_from_slice(padded);
        }
    }
}

/// The shaper, tilt and dry/wet mix over an oversampled chunk: `ratio` samples per control value.
/// With `TILT` false (the tone control at its centre for the whole chunk) the tilt filter is
/// skipped; its state then follows the signal, so that turning the tone away from the centre
/// starts without a transient (its output depends on the state only through `low - high` gain,
/// which starts at zero).
#[inline(always)]
fn kernel<S: Shape, const TILT: bool, const FMA: bool>(
    hi: &mut [Lanes],
    ratio: usize,
    ctl: &Controls,
    tilt: &mut Tilt,
) {
    let mut last = [0.0; 2];
    if !TILT && constant(&ctl.drive[..hi.len() / ratio]) && constant(&ctl.mix[..hi.len() / ratio]) {
        // The usual case, no knob moving: one loop over every sample of both channels, which
        // the compiler spreads over full SIMD registers whatever the factor.
        let (drive, mix) = (ctl.drive[0], ctl.mix[0]);
        // The tilt follows the last shaped sample, from the dry one (the loop overwrites it).
        let last_dry = hi.last().copied();
        for x in hi.as_flattened_mut() {
            let dry = *x;
            *x = madd::<FMA>(S::shape_on::<FMA>(dry * drive) - dry, mix, dry);
        }
        if let Some(l) = last_dry {
            tilt.follow([
                S::shape_on::<FMA>(l[0] * drive),
                S::shape_on::<FMA>(l[1] * drive),
            ]);
        }
        return;
    }
    for (i, frame) in hi.chunks_exact_mut(ratio).enumerate() {
        let (drive, mix) = (ctl.drive[i], ctl.mix[i]);
        let (lo, hg) = (ctl.tilt_low[i], ctl.tilt_high[i]);
        for s in frame {
            let dry = *s;
            let shaped = [
                S::shape_on::<FMA>(dry[0] * drive),
                S::shape_on::<FMA>(dry[1] * drive),
            ];
            let wet = if TILT {
                tilt.tick_on::<FMA>(shaped, lo, hg)
            } else {
                last = shaped;
                shaped
            };
            for c in 0..2 {
                s[c] = madd::<FMA>(wet[c] - dry[c], mix, dry[c]);
            }
        }
    }
    if !TILT {
        tilt.follow(last);
    }
}

/// Whether every value is the first (a fold, not a short-circuit, so that it vectorises).
#[inline(always)]
fn constant(values: &[f32]) -> bool {
    let first = values.first().copied().unwrap_or(0.0);
    values.iter().fold(true, |same, &v| same & (v == first))
}

/// Runs [`kernel`] for the curve's type.
#[inline(always)]
fn kernel_for<const TILT: bool, const FMA: bool>(
    curve: Curve,
    hi: &mut [Lanes],
    ratio: usize,
    ctl: &Controls,
    tilt: &mut Tilt,
) {
    match curve {
        Curve::Smooth => kernel::<Smooth, TILT, FMA>(hi, ratio, ctl, tilt),
        Curve::SoftClip => kernel::<SoftClip, TILT, FMA>(hi, ratio, ctl, tilt),
        Curve::Tube => kernel::<Tube, TILT, FMA>(hi, ratio, ctl, tilt),
        Curve::HardClip => kernel::<HardClip, TILT, FMA>(hi, ratio, ctl, tilt),
    }
}

/// [`kernel`] while one curve crossfades into another.
fn kernel_fading(hi: &mut [Lanes], ratio: usize, ctl: &Controls, tilt: &mut Tilt, c: CurveState) {
    for (i, frame) in hi.chunks_exact_mut(ratio).enumerate() {
        let (drive, mix) = (ctl.drive[i], ctl.mix[i]);
        let g = c.fade.gain_at(i);
        let shape = |x: f32| c.previous.shape(x) + (c.current.shape(x) - c.previous.shape(x)) * g;
        for s in frame {
            let dry = *s;
            let wet = tilt.tick(
                [shape(dry[0] * drive), shape(dry[1] * drive)],
                ctl.tilt_low[i],
                ctl.tilt_high[i],
            );
            for ch in 0..2 {
                s[ch] = dry[ch] + (wet[ch] - dry[ch]) * mix;
            }
        }
    }
}

/// How a tier's upsampling goes while two tiers crossfade. Every stage of the cascade has the
/// same design at any factor, so a lower tier's whole upsampled signal is a step of a higher
/// tier's cascade: the higher tier leaves it, the lower one takes it, and a switch costs one
/// cascade up instead of two (the two tiers' up-stage memories are kept equal, see
/// [`share_up_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shared {
    /// Upsample on its own.
    Alone,
    /// Upsample, leaving the signal after this many stages in [`HiRate::shared`].
    Give(usize),
    /// Take the upsampled signal (this many stages: all of this tier's) from there.
    Take(usize),
}

/// Oversampled scratch memory, shared by the tiers (they run one after the other).
struct HiRate {
    /// The instruction set the tiers run on.
    simd: Simd,
    /// Room for the base-rate padding ([`MAX_LATENCY`] samples), then a chunk at up to the
    /// highest rate.
    a: Box<[Lanes]>,
    /// Room for the padding finer than a base-rate sample ([`MAX_FACTOR`] samples), then a chunk
    /// at up to the highest rate.
    b: Box<[Lanes]>,
    /// A lower tier's upsampled signal, left by a higher one during a switch (see [`Shared`]).
    shared: Box<[Lanes]>,
    /// A fault to inject into the next tier that runs (tests and chaos runs only).
    #[cfg(any(test, feature = "fault-injection"))]
    fault: Option<InjectedFault>,
}

/// Base-rate scratch memory for one chunk.
struct Chunk {
    input: [Lanes; CHUNK],
    /// The output of the tier heard, and after the chunk, the engine's output.
    out_active: [Lanes; CHUNK],
    /// The output of the tier being switched to.
    out_next: [Lanes; CHUNK],
    /// The output gain of the safe path, sample by sample: the output control, moving to unity
    /// as the bypass comes in (a bypassed Salve passes its input unchanged).
    safe_gain: [f32; CHUNK],
}

/// Where a tier change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    Steady,
    /// The next path runs unheard while its filters settle (the fade's wait), then fades in.
    Switching {
        to: Path,
        fade: Declicker,
    },
}

impl Switch {
    /// The path a change in progress goes to.
    fn to(&self) -> Option<Path> {
        match *self {
            Switch::Switching { to, .. } => Some(to),
            Switch::Steady => None,
        }
    }
}

/// The saturator for one plugin instance at one sample rate.
pub struct Engine {
    sample_rate: f32,
    tiers: Vec<Tier>,
    latency: usize,
    active: Path,
    /// The factor asked for (heard unless safe mode is on).
    factor: Factor,
    safe_mode: bool,
    /// The host's bypass: the safe path at unity gain.
    bypass: bool,
    /// How far the safe path's gain has moved from the output control to unity (0..=1); it
    /// moves over the tier crossfade's length.
    bypass_amount: f32,
    switch: Switch,
    tier_fade_len: usize,
    /// The next switch is urgent (see [`Engine::set_urgent`]).
    urgent: bool,
    /// The switch under way still has to hand the heard tier's DC-blocker state to the new tier.
    dc_pending: bool,
    curve: CurveState,
    /// The length of a curve change's crossfade, in samples.
    curve_fade_len: usize,
    limiter: SafetyLimiter,
    /// The fade-in after a restart, and its length.
    restart_fade: Declicker,
    restart_fade_len: usize,
    hi_rate: HiRate,
    chunk: Box<Chunk>,
    /// Two crossfading tiers share their common up-stages (see [`Shared`]); off only in the
    /// test that checks sharing changes nothing.
    share_up: bool,
}

impl Engine {
    /// Builds every tier for `sample_rate` and measures their delays to pad them to a common
    /// latency. Allocates; call it from `activate`, never from the audio thread.
    pub fn new(sample_rate: f32, factor: Factor) -> Self {
        Self::with_simd(sample_rate, factor, Simd::detect())
    }

    /// [`Engine::new`] on a given instruction set (the baseline where the CPU lacks it), to
    /// compare the two.
    pub fn with_simd(sample_rate: f32, factor: Factor, simd: Simd) -> Self {
        let sample_rate = if sample_rate.is_finite() && sample_rate > 0.0 {
            sample_rate
        } else {
            48_000.0
        };
        let tiers = Factor::ALL
            .iter()
            .map(|&f| Tier::new(f, sample_rate))
            .chain([Tier::safe_path(sample_rate)])
            .collect();
        let mut engine = Self {
            sample_rate,
            tiers,
            latency: 0,
            active: Path::Tier(factor),
            factor,
            safe_mode: false,
            bypass: false,
            bypass_amount: 0.0,
            switch: Switch::Steady,
            tier_fade_len: ((TIER_CROSSFADE_SECONDS * sample_rate) as usize).max(1),
            urgent: false,
            dc_pending: false,
            curve: CurveState {
                current: Curve::Smooth,
                previous: Curve::Smooth,
                fade: Declicker::SETTLED,
            },
            curve_fade_len: ((CURVE_CROSSFADE_SECONDS * sample_rate) as usize).max(1),
            limiter: SafetyLimiter::new(sample_rate),
            restart_fade: Declicker::SETTLED,
            restart_fade_len: ((RESTART_FADE_SECONDS * sample_rate) as usize).max(1),
            hi_rate: HiRate {
                simd: simd.supported(),
                a: vec![[0.0; 2]; MAX_LATENCY + CHUNK * MAX_FACTOR].into_boxed_slice(),
                b: vec![[0.0; 2]; CHUNK * MAX_FACTOR + MAX_FACTOR].into_boxed_slice(),
                shared: vec![[0.0; 2]; CHUNK * MAX_FACTOR / 2].into_boxed_slice(),
                #[cfg(any(test, feature = "fault-injection"))]
                fault: None,
            },
            chunk: Box::new(Chunk {
                input: [[0.0; 2]; CHUNK],
                out_active: [[0.0; 2]; CHUNK],
                out_next: [[0.0; 2]; CHUNK],
                safe_gain: [1.0; CHUNK],
            }),
            share_up: true,
        };
        engine.align_tiers();
        engine.reset();
        engine
    }

    /// Measures each tier's delay (the centre of mass of its impulse response, which is its group
    /// delay at low frequencies) and pads every tier to the longest, rounded up to whole samples.
    /// The padding is split into base-rate samples and a remainder at the oversampled rate, so
    /// every tier lands within half an oversampled sample of the common latency.
    fn align_tiers(&mut self) {
        // The impulse responses decay into subnormal numbers, which took the scalar arithmetic
        // 35 ms an engine (an activation; 100 instances loading: 3.5 s); flushed to zero, 0.9 ms.
        // SAFETY: flushing only changes values below 1e-38, far below what the delay sums; the
        // guard restores the caller's floating-point mode, also on unwinding.
        let delays: Vec<f64> = unsafe {
            no_denormals::no_denormals(|| {
                Factor::ALL.iter().map(|&f| self.measure_delay(f)).collect()
            })
        };
        let latency = delays.iter().cloned().fold(0.0, f64::max).ceil() as usize;
        assert!(
            latency < MAX_LATENCY,
            "tier latency {latency} exceeds the padding"
        );
        self.latency = latency;
        for (tier, (&f, d)) in self.tiers.iter_mut().zip(Factor::ALL.iter().zip(delays)) {
            let ratio = f.ratio();
            let pad_hi = ((latency as f64 - d) * ratio as f64).round().max(0.0) as usize;
            tier.base_pad = Delay::new(pad_hi / ratio);
            tier.hi_pad = Delay::new(pad_hi % ratio);
        }
        self.tiers[Path::Safe.index()].base_pad = Delay::new(latency);
    }

    /// The low-frequency group delay of a tier's filters, in base-rate samples.
    fn measure_delay(&mut self, factor: Factor) -> f64 {
        let mut ctl = Controls::default();
        ctl.fill(1.0, 0.0, 0.0, 1.0);
        let curve = self.curve;
        let tier = &mut self.tiers[factor.stages()];
        tier.reset();
        tier.dc_enabled = false;
        let (mut moment, mut sum) = (0.0f64, 0.0f64);
        for chunk in 0..64 {
            let mut input = [[0.0f32; 2]; CHUNK];
            if chunk == 0 {
                input[0] = [1.0, 1.0];
            }
            let mut out = [[0.0f32; 2]; CHUNK];
            // The baseline's arithmetic: the delay is the same on every instruction set.
            tier.process_on::<false>(
                &input,
                &mut out,
                &ctl,
                curve,
                &mut self.hi_rate,
                Shared::Alone,
            );
            for (i, s) in out.iter().enumerate() {
                let n = (chunk * CHUNK + i) as f64;
                moment += n * s[0] as f64;
                sum += s[0] as f64;
            }
        }
        tier.reset();
        tier.dc_enabled = true;
        moment / sum
    }

    /// The latency every tier has, in samples: report it to the host once, it never changes.
    pub fn latency(&self) -> u32 {
        self.latency as u32
    }

    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// The path currently heard (the one fading out, during a switch).
    pub fn active_path(&self) -> Path {
        self.active
    }

    /// Asks for the memory the next block reads and writes, at once (see [`crate::cache`]):
    /// the heard tier's state, its padding and the chunk's buffers. The tier's filter stages
    /// come in order, where the hardware's own prefetch follows them.
    #[inline]
    pub fn prefetch(&self) {
        use crate::cache::{prefetch, prefetch_value};
        // (Outside the block's guard against panics: nothing here may index out of bounds.)
        if let Some(tier) = self.tiers.get(self.active.index()) {
            prefetch(&tier.os as *const Oversampler, 64);
            prefetch_value(&tier.tilt);
            prefetch_value(&tier.dc);
            prefetch_value(&tier.safe);
            prefetch_value(&tier.hi_pad);
            prefetch_value(&tier.base_pad);
        }
        prefetch_value(&self.chunk.input);
        prefetch_value(&self.chunk.out_active);
        let a = &self.hi_rate.a;
        prefetch(
            a.as_ptr(),
            size_of_val(&a[..a.len().min(MAX_LATENCY + CHUNK)]),
        );
    }

    /// The factor currently heard; `None` while the safe path plays.
    pub fn active_factor(&self) -> Option<Factor> {
        match self.active {
            Path::Tier(f) => Some(f),
            Path::Safe => None,
        }
    }

    /// Whether a path change is in progress.
    pub fn is_switching(&self) -> bool {
        self.switch != Switch::Steady
    }

    /// The path a change in progress goes to (it runs beside the heard one until the change ends).
    pub fn switching_to(&self) -> Option<Path> {
        self.switch.to()
    }

    /// Asks for a factor; the engine switches to it click-free, at chunk boundaries.
    pub fn set_factor(&mut self, factor: Factor) {
        self.factor = factor;
    }

    /// Makes the next switch as short as possible (no settling beyond the latency, a 32-sample
    /// fade): for a step down while already overrunning, where a longer overlap of two tiers
    /// would only cost more overruns.
    pub fn set_urgent(&mut self) {
        self.urgent = true;
    }

    /// A step down has been asked for and has not started yet (no switch is under way): the
    /// moment to make it urgent when the block before it was already close to its deadline.
    pub fn step_down_pending(&self) -> bool {
        self.switch == Switch::Steady && rank(self.requested()) < rank(self.active)
    }

    /// Safe mode plays the clean bypass (same latency) instead of any tier; switching in and out
    /// crossfades like a tier change.
    pub fn set_safe_mode(&mut self, on: bool) {
        self.safe_mode = on;
    }

    /// The host's bypass: the input passes unchanged, delayed by the same latency. Switching in
    /// and out crossfades like a tier change, and the output control fades to unity with it.
    pub fn set_bypass(&mut self, on: bool) {
        self.bypass = on;
    }

    pub fn safe_mode(&self) -> bool {
        self.safe_mode
    }

    fn requested(&self) -> Path {
        if self.safe_mode || self.bypass {
            Path::Safe
        } else {
            Path::Tier(self.factor)
        }
    }

    /// Changes the curve, crossfading from the current one.
    pub fn set_curve(&mut self, curve: Curve) {
        if curve != self.curve.current {
            self.curve.previous = self.curve.current;
            self.curve.current = curve;
            self.curve.fade = Declicker::start(0, self.curve_fade_len);
        }
    }

    /// Forgets all signal history and jumps straight to the requested path and curve.
    pub fn reset(&mut self) {
        for tier in &mut self.tiers {
            tier.reset();
        }
        self.limiter.reset();
        self.restart_fade = Declicker::SETTLED;
        // Straight to the requested path, and to its gain: a bypass starts dry.
        self.bypass_amount = if self.bypass { 1.0 } else { 0.0 };
        self.active = self.requested();
        self.switch = Switch::Steady;
        self.curve.previous = self.curve.current;
        self.curve.fade = Declicker::SETTLED;
    }

    /// The "restart component" recovery, on the audio thread: forget all signal history (which
    /// may hold NaN) and fade the output back in from silence.
    pub fn restart(&mut self) {
        self.reset();
        self.restart_fade = Declicker::start(0, self.restart_fade_len);
    }

    /// Arms a fault for the next processed chunk (tests and chaos runs only).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_fault(&mut self, fault: InjectedFault) {
        self.hi_rate.fault = Some(fault);
    }

    /// Processes one or two channels in place. `left` and `right` (when present) have the same
    /// length, which may be anything; `next_controls` fills the controls of each chunk given its
    /// length (the caller's smoothers advance by exactly that many samples).
    pub fn process(
        &mut self,
        left: &mut [f32],
        right: Option<&mut [f32]>,
        ctl: &mut Controls,
        next_controls: impl FnMut(&mut Controls, usize),
    ) -> OutputStats {
        #[cfg(target_arch = "x86_64")]
        if self.hi_rate.simd == Simd::Avx2Fma {
            // SAFETY: `Simd::supported` only gives `Avx2Fma` on a CPU that has both.
            return unsafe { self.process_avx2_fma(left, right, ctl, next_controls) };
        }
        self.process_on::<false>(left, right, ctl, next_controls)
    }

    /// [`Engine::process`] compiled for AVX2 and FMA: every pass over the block, not only the
    /// tiers, gets the wider registers.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2_fma(
        &mut self,
        left: &mut [f32],
        right: Option<&mut [f32]>,
        ctl: &mut Controls,
        next_controls: impl FnMut(&mut Controls, usize),
    ) -> OutputStats {
        self.process_on::<true>(left, right, ctl, next_controls)
    }

    #[inline(always)]
    fn process_on<const FMA: bool>(
        &mut self,
        left: &mut [f32],
        mut right: Option<&mut [f32]>,
        ctl: &mut Controls,
        mut next_controls: impl FnMut(&mut Controls, usize),
    ) -> OutputStats {
        let total = left.len();
        let mut stats = OutputStats::default();
        let mut sum = 0.0f32;
        let mut sum_sq = 0.0f32;
        let mut in_peak_bits = 0u32;
        let mut in_sum_sq = 0.0f32;
        let mut bad = false;
        let mut start = 0;
        while start < total {
            let n = (total - start).min(CHUNK);
            next_controls(ctl, n);
            let l = &left[start..start + n];
            stats.subnormal_inputs += match right.as_deref() {
                Some(r) => sanitize_into(&mut self.chunk.input[..n], l, &r[start..start + n], 1),
                // Mono: the one channel on both lanes, its subnormals counted once.
                None => sanitize_into(&mut self.chunk.input[..n], l, l, 0),
            };
            let input = &self.chunk.input[..n];
            in_peak_bits = in_peak_bits.max(max_magnitude_bits(input));
            in_sum_sq += lane_sum_sq(input);
            #[cfg(any(test, feature = "fault-injection"))]
            if let Some(InjectedFault::Panic) = self.hi_rate.fault {
                self.hi_rate.fault = None;
                panic!("fault injected into Salve's DSP");
            }
            self.process_chunk::<FMA>(n, ctl);
            let out = &mut self.chunk.out_active[..n];
            let mut magnitude = max_magnitude_bits(out);
            if magnitude > CEILING.to_bits() || !self.limiter.is_idle() {
                for y in out.iter_mut() {
                    let (limited, over) = self.limiter.tick(*y);
                    *y = limited;
                    stats.limited |= over;
                }
                magnitude = max_magnitude_bits(out);
            }
            // Any NaN or infinity has magnitude bits at or above those of infinity.
            bad |= magnitude >= f32::INFINITY.to_bits();
            stats.peak = stats.peak.max(f32::from_bits(magnitude));
            sum += lane_sum(out);
            sum_sq += lane_sum_sq(out);
            let l = &mut left[start..start + n];
            match right.as_deref_mut() {
                Some(r) => {
                    for ((y, l), r) in out.iter().zip(l).zip(&mut r[start..start + n]) {
                        (*l, *r) = (y[0], y[1]);
                    }
                }
                None => {
                    for (y, l) in out.iter().zip(l) {
                        *l = y[0];
                    }
                }
            }
            start += n;
        }
        let per_sample = if total > 0 {
            // Both channels (a mono block counts its one channel twice).
            1.0 / (total as f32 * 2.0)
        } else {
            0.0
        };
        stats.mean = sum * per_sample;
        stats.power = sum_sq * per_sample;
        stats.input_peak = f32::from_bits(in_peak_bits);
        stats.input_power = in_sum_sq * per_sample;
        if bad {
            // The DSP produced NaN/Inf: nothing of this block reaches the host.
            left.fill(0.0);
            if let Some(r) = right {
                r.fill(0.0);
            }
            self.restart();
            return OutputStats {
                peak: 0.0,
                mean: 0.0,
                power: 0.0,
                restarted: true,
                ..stats
            };
        }
        stats
    }

    /// Processes `chunk.input[..n]` into `chunk.out_active[..n]`.
    #[inline(always)]
    fn process_chunk<const FMA: bool>(&mut self, n: usize, ctl: &Controls) {
        let requested = self.requested();
        if self.switch == Switch::Steady && requested != self.active {
            let to = requested;
            self.tiers[to.index()].reset();
            // The up-stages the two tiers have in common start from the heard tier's memory:
            // settled at once, and equal, so that the two can share them (see [`Shared`]).
            share_up_state(&mut self.tiers, self.active, to);
            let down = rank(to) < rank(self.active);
            let urgent = down && self.urgent;
            let (warm, len) = if urgent {
                (URGENT_WARM, URGENT_FADE)
            } else {
                (
                    (self.latency + WARM_UP_EXTRA).max(SETTLE),
                    self.tier_fade_len,
                )
            };
            self.dc_pending = true;
            self.urgent = false;
            self.switch = Switch::Switching {
                to,
                fade: Declicker::start(warm, len),
            };
        }

        let Chunk {
            input,
            out_active,
            out_next,
            safe_gain,
        } = &mut *self.chunk;
        if let Switch::Switching { to, fade } = self.switch
            && self.dc_pending
            && fade.waiting() < n
        {
            // The new tier is heard from within this chunk: its DC blocker goes on from the heard
            // tier's state, on the same (now settled) signal and at the same point in time, the
            // chunk's start: before the heard tier runs the chunk. (Taken after it, the state was
            // a chunk ahead of the new tier's input, which left an offset of up to 1.8 % of the
            // signal decaying over 30 ms at every switch.) Through the tier's start-up it would
            // have picked up an offset that decays as slowly.
            let dc = self.tiers[self.active.index()].dc;
            self.tiers[to.index()].dc = dc;
            self.dc_pending = false;
        }
        let curve = self.curve;
        let next = self.switch.to();
        // While two tiers crossfade, the higher one leaves its upsampled signal at the lower
        // one's rate, and runs first to do so.
        let common = match next {
            Some(to) if self.share_up => common_up_stages(self.active, to),
            _ => 0,
        };
        let (active_up, next_up) = match next {
            Some(to) if common > 0 && rank(self.active) > rank(to) => {
                (Shared::Give(common), Shared::Take(common))
            }
            Some(_) if common > 0 => (Shared::Take(common), Shared::Give(common)),
            _ => (Shared::Alone, Shared::Alone),
        };
        // The higher tier first when they share (see above); otherwise the order does not
        // matter. (A loop, not a closure: a closure is compiled without the AVX2 and FMA
        // features of the function it sits in, and the engine ran 10-40 times slower through
        // one.)
        let next_first = !matches!(next_up, Shared::Take(_));
        let order = match next {
            Some(to) if next_first => [Some((to, true)), Some((self.active, false))],
            Some(to) => [Some((self.active, false)), Some((to, true))],
            None => [Some((self.active, false)), None],
        };
        for (path, is_next) in order.into_iter().flatten() {
            let (out, shared) = if is_next {
                (&mut out_next[..n], next_up)
            } else {
                (&mut out_active[..n], active_up)
            };
            self.tiers[path.index()].process_on::<FMA>(
                &input[..n],
                out,
                ctl,
                curve,
                &mut self.hi_rate,
                shared,
            );
        }

        // The safe path's gain: the output control, or unity as far as the bypass has come in.
        let safe_heard = self.active == Path::Safe || next == Some(Path::Safe);
        if safe_heard || self.bypass_amount > 0.0 {
            let target = if self.bypass { 1.0 } else { 0.0 };
            let step = 1.0 / self.tier_fade_len as f32;
            for (i, g) in safe_gain[..n].iter_mut().enumerate() {
                let b = &mut self.bypass_amount;
                *b += (target - *b).clamp(-step, step);
                *g = ctl.output[i] + (1.0 - ctl.output[i]) * *b;
            }
        }
        let gains = |path: Path| {
            if path == Path::Safe {
                &safe_gain[..n]
            } else {
                &ctl.output[..n]
            }
        };

        if let Switch::Switching { to, mut fade } = self.switch {
            if next_up != Shared::Alone {
                // The lower tier took its upsampled signal without running its own up-stages:
                // their memory goes on from the higher tier's, as if it had.
                let (higher, lower) = if matches!(next_up, Shared::Take(_)) {
                    (self.active, to)
                } else {
                    (to, self.active)
                };
                share_up_state(&mut self.tiers, higher, lower);
            }
            // Each path at its own gain, then the crossfade.
            apply_gain(&mut out_active[..n], gains(self.active));
            apply_gain(&mut out_next[..n], gains(to));
            for i in 0..n {
                let g = fade.next_gain();
                if g == 0.0 {
                    // Unheard: the new path only settles (whatever its output).
                    continue;
                }
                for c in 0..2 {
                    let a = out_active[i][c];
                    out_active[i][c] = a + (out_next[i][c] - a) * g;
                }
            }
            self.switch = if fade.is_settled() {
                // The fade may end inside the chunk: the rest of it already is the new path.
                self.active = to;
                Switch::Steady
            } else {
                Switch::Switching { to, fade }
            };
        }

        self.curve.fade.skip(n);

        if next.is_none() {
            apply_gain(&mut out_active[..n], gains(self.active));
        }
        if !self.restart_fade.is_settled() {
            for y in out_active[..n].iter_mut() {
                let g = self.restart_fade.next_gain();
                *y = [y[0] * g, y[1] * g];
            }
        }
    }
}

/// The upsampling stages two paths have in common: those of the lower factor, when both are
/// oversampled tiers (the safe path and 1x have none).
fn common_up_stages(a: Path, b: Path) -> usize {
    match (a, b) {
        (Path::Tier(x), Path::Tier(y)) if x != y => x.stages().min(y.stages()),
        _ => 0,
    }
}

/// Copies the memory of the up-stages paths `from` and `to` have in common from one to the other.
fn share_up_state(tiers: &mut [Tier], from: Path, to: Path) {
    let stages = common_up_stages(from, to);
    if stages == 0 {
        return;
    }
    let (i, j) = (from.index(), to.index());
    let (source, target) = if i < j {
        let (low, high) = tiers.split_at_mut(j);
        (&low[i], &mut high[0])
    } else {
        let (low, high) = tiers.split_at_mut(i);
        (&high[0], &mut low[j])
    };
    target.os.take_up_state(&source.os, stages);
}

/// Multiplies each frame by its gain.
#[inline]
fn apply_gain(frames: &mut [Lanes], gains: &[f32]) {
    for (y, &g) in frames.iter_mut().zip(gains) {
        *y = [y[0] * g, y[1] * g];
    }
}

/// The largest magnitude in a chunk, as the bits of the absolute value: for finite values their
/// order is the floats' order, and NaN and infinity sort above every finite value. Integer
/// maxima vectorise where float maxima (with their NaN rules) do not.
#[inline(always)]
fn max_magnitude_bits(frames: &[Lanes]) -> u32 {
    frames
        .as_flattened()
        .iter()
        .fold(0u32, |m, x| m.max(x.to_bits() & 0x7fff_ffff))
}

/// The sum of `f` of every sample of both lanes over a chunk, in sixteen independent partial
/// sums (two AVX registers: the adds of one sample do not wait for the previous sample's).
#[inline(always)]
fn lane_fold(frames: &[Lanes], f: impl Fn(f32) -> f32) -> f32 {
    let flat = frames.as_flattened();
    let mut acc = [0.0f32; 16];
    let mut blocks = flat.chunks_exact(16);
    for b in &mut blocks {
        for (a, &x) in acc.iter_mut().zip(b) {
            *a += f(x);
        }
    }
    let tail: f32 = blocks.remainder().iter().map(|&x| f(x)).sum();
    acc.iter().sum::<f32>() + tail
}

/// The sum of both lanes over a chunk.
#[inline(always)]
fn lane_sum(frames: &[Lanes]) -> f32 {
    lane_fold(frames, |x| x)
}

/// The sum of the squares of both lanes over a chunk.
#[inline(always)]
fn lane_sum_sq(frames: &[Lanes]) -> f32 {
    lane_fold(frames, |x| x * x)
}

/// Interleaves `left` and `right` into `frames`, replacing NaN and infinities by silence,
/// flushing subnormals and clamping absurd levels, so nothing downstream ever sees them; returns
/// how many subnormals were flushed (the right channel's counted `right_counts` times: 0 when it
/// is the left one again). Subnormals are recognised by their bits, which works whatever the
/// CPU's denormals-are-zero mode; the loop has no branch, so it runs in SIMD registers.
#[inline(always)]
fn sanitize_into(frames: &mut [Lanes], left: &[f32], right: &[f32], right_counts: u32) -> u32 {
    let mut subnormal = 0u32;
    for ((frame, &l), &r) in frames.iter_mut().zip(left).zip(right) {
        let (l, sl) = sanitize(l);
        let (r, sr) = sanitize(r);
        subnormal += sl as u32 + sr as u32 * right_counts;
        *frame = [l, r];
    }
    subnormal
}

/// One sample of [`sanitize_into`]: the clean value, and whether it was subnormal.
#[inline(always)]
fn sanitize(x: f32) -> (f32, bool) {
    let magnitude = x.to_bits() & 0x7fff_ffff;
    let subnormal = (magnitude != 0) & (magnitude < 0x0080_0000);
    // Finite (below infinity's bits) and not subnormal.
    let keep = (magnitude < 0x7f80_0000) & !subnormal;
    let clamped = x.clamp(-MAX_INPUT, MAX_INPUT);
    (if keep { clamped } else { 0.0 }, subnormal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the tone centred the tilt is skipped but follows the shaped signal, so that turning
    /// the tone starts without a jump; the flat loop (no knob moving) must leave it where the
    /// frame-by-frame loop (a knob moving) does.
    #[test]
    fn the_skipped_tilt_follows_the_shaped_signal_in_either_loop() {
        let dry: Vec<Lanes> = (0..128)
            .map(|i| [(i as f32 * 0.3).sin() * 0.9, (i as f32 * 0.2).cos() * 0.7])
            .collect();
        let mut ctl = Controls::default();
        ctl.fill(3.0, 0.5, 0.0, 1.0);
        let mut flat = Tilt::new(96_000.0);
        kernel::<Smooth, false, false>(&mut dry.clone(), 2, &ctl, &mut flat);
        // A drive that differs in the first frame takes the frame-by-frame loop; the last
        // frame's shaped sample is what the tilt must follow either way.
        let mut moving = Tilt::new(96_000.0);
        let mut ctl_moving = ctl.clone();
        ctl_moving.drive[0] = 2.9;
        kernel::<Smooth, false, false>(&mut dry.clone(), 2, &ctl_moving, &mut moving);
        let (lo, hi) = crate::dsp::filters::tilt_gains(1.0);
        assert_eq!(
            flat.tick([0.1, -0.1], lo, hi),
            moving.tick([0.1, -0.1], lo, hi)
        );
    }

    fn run(engine: &mut Engine, input: &[f32], ctl: &mut Controls) -> Vec<f32> {
        let mut l = input.to_vec();
        let mut r = input.to_vec();
        engine.process(&mut l, Some(&mut r), ctl, |_, _| {});
        l
    }

    #[test]
    fn both_instruction_sets_sound_the_same_and_each_repeats_itself_exactly() {
        let input: Vec<f32> = (0..2048)
            .map(|i| (i as f32 * 0.031).sin() * 0.8 + (i as f32 * 0.47).sin() * 0.2)
            .collect();
        let render = |simd: Simd, factor: Factor| {
            let mut engine = Engine::with_simd(48_000.0, factor, simd);
            engine.set_curve(Curve::Tube);
            let mut ctl = Controls::default();
            ctl.fill(6.0, 0.8, 0.4, 0.7);
            let mut out = Vec::new();
            for block in input.chunks(100) {
                out.extend(run(&mut engine, block, &mut ctl));
            }
            out
        };
        for factor in Factor::ALL {
            let plain = render(Simd::Baseline, factor);
            let best = render(Simd::detect(), factor);
            assert_eq!(
                best,
                render(Simd::detect(), factor),
                "{factor:?} is not repeatable"
            );
            let worst = plain
                .iter()
                .zip(&best)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Rounding only (about 1e-6 here): below -100 dBFS, under the 16-bit floor.
            assert!(worst < 4e-6, "{factor:?}: {worst}");
        }
    }

    #[test]
    fn injected_nan_is_silenced_in_the_same_block_and_restarts() {
        let mut engine = Engine::new(48_000.0, Factor::X4);
        let mut ctl = Controls::default();
        ctl.fill(2.0, 1.0, 0.0, 1.0);
        let input: Vec<f32> = (0..256).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let mut l = input.clone();
        engine.process(&mut l, None, &mut ctl, |_, _| {});
        engine.inject_fault(InjectedFault::Nan);
        let mut l = input.clone();
        let stats = engine.process(&mut l, None, &mut ctl, |_, _| {});
        assert!(stats.restarted);
        assert!(l.iter().all(|&x| x == 0.0));
        // The next block fades in from silence and is clean.
        let mut l = input.clone();
        let stats = engine.process(&mut l, None, &mut ctl, |_, _| {});
        assert!(!stats.restarted && l.iter().all(|x| x.is_finite()));
        assert!(l[0].abs() < 1e-3 && l[200].abs() > 0.1);
    }

    #[test]
    fn subnormal_inputs_are_counted_and_flushed() {
        let mut engine = Engine::new(48_000.0, Factor::X1);
        let mut ctl = Controls::default();
        let mut l = vec![1e-40f32; 100];
        let mut r = vec![0.0f32; 100];
        let stats = engine.process(&mut l, Some(&mut r), &mut ctl, |_, _| {});
        assert_eq!(stats.subnormal_inputs, 100);
        assert!(l.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn output_never_exceeds_plus_6_dbfs() {
        let mut engine = Engine::new(48_000.0, Factor::X2);
        let mut ctl = Controls::default();
        ctl.fill(1.0, 0.0, 0.0, 15.0); // dry at +23.5 dB output gain
        let mut l: Vec<f32> = (0..4800).map(|i| (i as f32 * 0.01).sin() * 100.0).collect();
        let stats = engine.process(&mut l, None, &mut ctl, |_, _| {});
        assert!(stats.limited);
        assert!(l.iter().all(|x| x.abs() <= super::super::limiter::CEILING));
    }

    /// The largest second difference: a discontinuity stands out against a smooth wave.
    fn roughness(signal: &[f32]) -> f32 {
        signal
            .windows(3)
            .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn short_and_urgent_switches_down_do_not_click() {
        let input: Vec<f32> = (0..48_000)
            .map(|i| (std::f32::consts::TAU * 220.0 * i as f32 / 48_000.0).sin() * 0.5)
            .collect();
        let mut ctl = Controls::default();
        ctl.fill(2.0, 1.0, 0.0, 1.0);
        let mut reference = 0.0f32;
        for f in Factor::ALL {
            let mut e = Engine::new(48_000.0, f);
            reference = reference.max(roughness(&run(&mut e, &input, &mut ctl)[4800..]));
        }
        for urgent in [false, true] {
            let mut e = Engine::new(48_000.0, Factor::X16);
            let mut out = Vec::new();
            let order = [Factor::X8, Factor::X16, Factor::X1, Factor::X16, Factor::X2];
            for (i, block) in input.chunks(64).enumerate() {
                if i % 75 == 0 && i > 0 {
                    e.set_factor(order[(i / 75) % order.len()]);
                    if urgent {
                        e.set_urgent();
                    }
                }
                out.extend(run(&mut e, block, &mut ctl));
            }
            let r = roughness(&out[4800..]);
            assert!(
                r <= reference * 1.5 + 1e-4,
                "urgent {urgent}: {r} vs {reference}"
            );
        }
    }

    /// A switch crossfades between two tiers whose outputs differ only by their aliasing; what
    /// it adds beyond that is a click or a thump. Each switch runs next to both tiers played
    /// steadily, and the switching output must stay within -60 dBFS of one of them.
    #[test]
    fn a_switch_adds_nothing_beyond_the_difference_of_its_tiers() {
        let input: Vec<f32> = (0..160 * 64)
            .map(|i| (std::f32::consts::TAU * 220.0 * i as f32 / 48_000.0).sin() * 0.5)
            .collect();
        let mut ctl = Controls::default();
        ctl.fill(2.0, 1.0, 0.0, 1.0);
        let pairs = [
            (Factor::X16, Factor::X8),
            (Factor::X2, Factor::X1),
            (Factor::X16, Factor::X1),
            (Factor::X8, Factor::X16),
        ];
        for urgent in [false, true] {
            for (from, to) in pairs {
                let mut switching = Engine::new(48_000.0, from);
                let (mut old, mut new) = (Engine::new(48_000.0, from), Engine::new(48_000.0, to));
                let mut worst = 0.0f32;
                for (i, block) in input.chunks(64).enumerate() {
                    if i == 100 {
                        switching.set_factor(to);
                        if urgent {
                            switching.set_urgent();
                        }
                    }
                    let y = run(&mut switching, block, &mut ctl);
                    let (a, b) = (
                        run(&mut old, block, &mut ctl),
                        run(&mut new, block, &mut ctl),
                    );
                    for k in 0..block.len() {
                        worst = worst.max((y[k] - a[k]).abs().min((y[k] - b[k]).abs()));
                    }
                }
                assert!(
                    worst < 1e-3,
                    "{from:?} to {to:?}, urgent {urgent}: {worst:e} from both tiers"
                );
            }
        }
    }

    #[test]
    fn safe_mode_plays_the_delayed_input() {
        let mut engine = Engine::new(48_000.0, Factor::X8);
        engine.set_safe_mode(true);
        engine.reset();
        let mut ctl = Controls::default();
        ctl.fill(20.0, 1.0, 0.5, 1.0);
        let input = click(512, 100);
        let out = run(&mut engine, &input, &mut ctl);
        let latency = engine.latency() as usize;
        for i in 0..400 {
            assert!((out[i + latency] - input[i]).abs() < 1e-3, "{i}");
        }
        assert_eq!(engine.active_path(), Path::Safe);
    }

    /// A Hann-windowed sinc click band-limited to a tenth of the sample rate, centred at `at`.
    pub(crate) fn click(len: usize, at: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let t = i as f64 - at as f64;
                if t.abs() > 32.0 {
                    return 0.0;
                }
                let x = std::f64::consts::PI * 0.2 * t;
                let sinc = if t == 0.0 { 1.0 } else { x.sin() / x };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * t / 32.0).cos();
                (0.1 * sinc * w) as f32
            })
            .collect()
    }

    /// The lag that maximises the cross-correlation of `output` with `input`, refined by a
    /// parabola through the peak.
    pub(crate) fn correlation_delay(input: &[f32], output: &[f32], max_lag: usize) -> f64 {
        let xc = |lag: usize| -> f64 {
            input
                .iter()
                .zip(&output[lag..])
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum()
        };
        let values: Vec<f64> = (0..max_lag).map(xc).collect();
        let (peak, _) =
            values.iter().enumerate().fold(
                (0, f64::MIN),
                |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
            );
        if peak == 0 || peak + 1 >= values.len() {
            return peak as f64;
        }
        let (a, b, c) = (values[peak - 1], values[peak], values[peak + 1]);
        peak as f64 + 0.5 * (a - c) / (a - 2.0 * b + c)
    }

    #[test]
    fn every_tier_has_the_same_delay_at_any_mix() {
        for mix in [0.0, 0.5, 1.0] {
            for f in Factor::ALL {
                let mut engine = Engine::new(48_000.0, f);
                let mut ctl = Controls::default();
                // Drive at unity and a quiet click keep the curve in its linear region.
                ctl.fill(1.0, mix, 0.0, 1.0);
                let input = click(1024, 100);
                let out = run(&mut engine, &input, &mut ctl);
                let delay = correlation_delay(&input, &out, 200);
                assert!(
                    (delay - engine.latency() as f64).abs() < 0.3,
                    "{f:?} at mix {mix}: {delay} vs {}",
                    engine.latency()
                );
            }
        }
    }

    #[test]
    fn nan_and_inf_input_never_reach_the_output() {
        let mut engine = Engine::new(48_000.0, Factor::X4);
        let mut ctl = Controls::default();
        ctl.fill(8.0, 1.0, 0.0, 1.0);
        let input: Vec<f32> = (0..1000)
            .map(|i| match i % 7 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                3 => 1e30,
                _ => 0.5,
            })
            .collect();
        assert!(
            run(&mut engine, &input, &mut ctl)
                .iter()
                .all(|x| x.is_finite())
        );
    }

    #[test]
    fn odd_block_lengths_match_one_long_block() {
        let input: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.05).sin() * 0.8).collect();
        let mut ctl = Controls::default();
        ctl.fill(4.0, 0.7, 0.3, 0.9);
        let mut a = Engine::new(44_100.0, Factor::X8);
        let whole = run(&mut a, &input, &mut ctl);
        let mut b = Engine::new(44_100.0, Factor::X8);
        let mut pieces = Vec::new();
        let mut start = 0;
        for len in [1, 7, 64, 65, 3, 500].iter().cycle() {
            if start >= input.len() {
                break;
            }
            let end = (start + len).min(input.len());
            pieces.extend(run(&mut b, &input[start..end], &mut ctl));
            start = end;
        }
        assert_eq!(whole, pieces);
    }

    /// Two crossfading tiers share the up-stages they have in common (see [`Shared`]); the
    /// sound is the same bit for bit as when each runs its own, during the fade and after it
    /// (where the tier that took its signal goes on with its own up-stages).
    #[test]
    fn crossfading_tiers_that_share_their_up_stages_sound_exactly_as_if_each_ran_its_own() {
        use Factor::*;
        // Tone off its centre, so that the tilt runs too; 0.2 s covers warm-up, fade and after.
        let mut ctl = Controls::default();
        ctl.fill(4.0, 1.0, 0.4, 0.7);
        let input: Vec<f32> = (0..9600)
            .map(|i| (i as f32 * 0.031).sin() * 0.8 + (i as f32 * 0.0047).sin() * 0.1)
            .collect();
        for (from, to) in [
            (X8, X16),
            (X16, X8),
            (X2, X16),
            (X16, X4),
            (X4, X2),
            (X2, X1),
        ] {
            let mut heard = Vec::new();
            for share in [true, false] {
                let mut engine = Engine::new(48_000.0, from);
                engine.share_up = share;
                run(&mut engine, &input[..4800], &mut ctl);
                engine.set_factor(to);
                let mut out = Vec::new();
                for block in input.chunks(64) {
                    out.extend(run(&mut engine, block, &mut ctl));
                }
                assert_eq!(engine.active_factor(), Some(to), "{from:?} to {to:?}");
                assert!(
                    out.iter().any(|x| x.abs() > 0.1),
                    "{from:?} to {to:?} is silent"
                );
                heard.push(out.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            }
            let first = heard[0].iter().zip(&heard[1]).position(|(a, b)| a != b);
            assert_eq!(first, None, "{from:?} to {to:?}: shared and alone differ");
        }
    }

    #[test]
    fn switching_factor_completes_and_keeps_level() {
        let mut engine = Engine::new(48_000.0, Factor::X1);
        let mut ctl = Controls::default();
        ctl.fill(1.0, 1.0, 0.0, 1.0);
        let input: Vec<f32> = (0..4800).map(|i| (i as f32 * 0.02).sin() * 0.01).collect();
        run(&mut engine, &input, &mut ctl);
        engine.set_factor(Factor::X16);
        let out = run(&mut engine, &input, &mut ctl);
        assert_eq!(engine.active_factor(), Some(Factor::X16));
        assert!(!engine.is_switching());
        let peak = out[2400..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((peak - 0.01).abs() < 5e-4, "{peak}");
    }

    #[test]
    fn a_bypass_passes_the_input_exactly_at_the_latency_whatever_the_output_level() {
        let mut engine = Engine::new(48_000.0, Factor::X16);
        let mut ctl = Controls::default();
        ctl.fill(16.0, 1.0, 0.0, 0.5);
        let latency = engine.latency() as usize;
        let input: Vec<f32> = (0..48_000)
            .map(|i| (i as f32 * 0.0288).sin() * 0.5)
            .collect();
        let mut out = Vec::new();
        for (i, chunk) in input.chunks(256).enumerate() {
            if i == 10 {
                engine.set_bypass(true);
            }
            let mut l = chunk.to_vec();
            let mut r = chunk.to_vec();
            engine.process(&mut l, Some(&mut r), &mut ctl, |c, _| {
                c.fill(16.0, 1.0, 0.0, 0.5)
            });
            out.extend(l);
        }
        let worst = (10_000..48_000)
            .map(|i| (out[i] - input[i - latency]).abs())
            .fold(0.0f32, f32::max);
        let at = (10_000..48_000)
            .max_by(|&a, &b| {
                (out[a] - input[a - latency])
                    .abs()
                    .total_cmp(&(out[b] - input[b - latency]).abs())
            })
            .unwrap();
        assert!(
            worst < 1e-6,
            "{worst} {:?} at {at}: {:?} vs {:?}",
            engine.active_path(),
            &out[at - 1..at + 2],
            &input[at - 1 - latency..at + 2 - latency]
        );
    }
}
