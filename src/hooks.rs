//! InjectedFault injection through the real plugin ABI, compiled in only on request. With `test-hooks`,
//! a hidden parameter lets a test host inject a NaN burst or a panic into the DSP. With `chaos`,
//! hidden parameters slow Salve's own processing down by a factor, inject NaN bursts and feed a
//! denormal storm, for `cargo xtask chaos`. Without the features (every release bundle) none of
//! these parameters exist.

use crate::dsp::Engine;
#[cfg(feature = "fault-injection")]
use crate::dsp::InjectedFault;
use nice_plug::prelude::*;

/// The hidden fault parameter (with `test-hooks`): 0 none, 1 NaN burst, 2 panic. Each change to a
/// non-zero value injects one fault.
#[cfg(feature = "test-hooks")]
#[derive(Params)]
pub struct HookParams {
    #[id = "test_fault"]
    pub fault: IntParam,
}

#[cfg(feature = "test-hooks")]
impl Default for HookParams {
    fn default() -> Self {
        Self {
            fault: IntParam::new("Test fault", 0, IntRange::Linear { min: 0, max: 2 })
                .non_automatable(),
        }
    }
}

/// Without `test-hooks` there is nothing to inject.
#[cfg(not(feature = "test-hooks"))]
#[derive(Params, Default)]
pub struct HookParams {}

/// The audio thread's side: notices changes of the fault parameter.
#[derive(Default)]
pub struct Hooks {
    #[cfg(feature = "test-hooks")]
    last: i32,
}

impl Hooks {
    /// Arms the fault the parameter asks for, if it just changed. Returns whether a panic is
    /// armed (the plugin then lets the panic's own allocations through the allocation checker).
    #[allow(unused_variables)]
    pub fn arm(&mut self, params: &HookParams, engine: &mut Engine) -> bool {
        #[cfg(feature = "test-hooks")]
        {
            let value = params.fault.value();
            if value != self.last {
                self.last = value;
                match value {
                    1 => engine.inject_fault(InjectedFault::Nan),
                    2 => {
                        engine.inject_fault(InjectedFault::Panic);
                        return true;
                    }
                    _ => {}
                }
            }
        }
        false
    }
}

/// The chaos controls (with `chaos`), all hidden from the host's parameter lists.
#[cfg(feature = "chaos")]
#[derive(Params)]
pub struct ChaosParams {
    /// Salve's processing takes this many times its own measured work (busy-waiting), so a lower
    /// oversampling factor really costs less, as on a slower or throttled machine.
    #[id = "chaos_slow"]
    pub slowdown: FloatParam,
    /// While on, every block gets NaN inside the oversampled signal.
    #[id = "chaos_nan"]
    pub nan: BoolParam,
    /// While on, the input is replaced by subnormal noise (a broken plugin upstream).
    #[id = "chaos_denormal"]
    pub denormals: BoolParam,
}

#[cfg(feature = "chaos")]
impl ChaosParams {
    /// The controls, their changes counted in `changes`.
    pub fn new(changes: &std::sync::Arc<crate::params::ParamChanges>) -> Self {
        Self {
            slowdown: FloatParam::new(
                "Chaos slowdown",
                1.0,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 1000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .hide()
            .non_automatable()
            .with_callback(changes.notifier()),
            nan: BoolParam::new("Chaos NaN", false)
                .hide()
                .non_automatable()
                .with_callback(changes.notifier()),
            denormals: BoolParam::new("Chaos denormals", false)
                .hide()
                .non_automatable()
                .with_callback(changes.notifier()),
        }
    }
}

/// Without `chaos` there is nothing to control.
#[cfg(not(feature = "chaos"))]
#[derive(Params, Default)]
pub struct ChaosParams {}

#[cfg(not(feature = "chaos"))]
impl ChaosParams {
    pub fn new(_changes: &std::sync::Arc<crate::params::ParamChanges>) -> Self {
        Self {}
    }
}

/// The audio thread's side of the chaos controls.
#[derive(Default)]
pub struct Chaos {
    /// The controls as last read: the slowdown, NaN, denormals.
    #[cfg(feature = "chaos")]
    armed: (f64, bool, bool),
    /// When this block's own work started (only while slowed down).
    #[cfg(feature = "chaos")]
    started: Option<std::time::Instant>,
    /// The blocks' own work lately (ns, a running mean of the clipped work; 0 before the first).
    #[cfg(feature = "chaos")]
    typical_ns: f64,
}

/// A block's own work counts at most this many times its running mean: a stall of the machine
/// inside the work (an interrupt, a virtual machine's neighbour) is not Salve's work, and
/// multiplied by the clean scenario's slowdown of about 120, a hiccup of a few microseconds in a
/// 3 us block overran the period (run DB-own: 55 lone overruns in 30 s under Off).
#[cfg(feature = "chaos")]
const WORK_CLIP: f64 = 2.0;

impl Chaos {
    /// Reads the controls (when a parameter changed).
    #[allow(unused_variables)]
    #[inline]
    pub fn read(&mut self, params: &ChaosParams) {
        #[cfg(feature = "chaos")]
        {
            self.armed = (
                params.slowdown.value() as f64,
                params.nan.value(),
                params.denormals.value(),
            );
        }
    }

    /// Before the DSP: arms this block's faults and starts timing Salve's own work.
    #[allow(unused_variables)]
    #[inline]
    pub fn before(&mut self, engine: &mut Engine, input: &mut [&mut [f32]]) {
        #[cfg(feature = "chaos")]
        {
            let (slowdown, nan, denormals) = self.armed;
            if nan {
                engine.inject_fault(InjectedFault::Nan);
            }
            if denormals {
                for channel in input.iter_mut() {
                    for (i, x) in channel.iter_mut().enumerate() {
                        // Subnormal, alternating in sign: what a filter decaying to silence emits.
                        *x = if i % 2 == 0 { 1.0e-40 } else { -1.0e-40 };
                    }
                }
            }
            self.started = (slowdown > 1.0).then(std::time::Instant::now);
        }
    }

    /// After the DSP: busy-waits until the block has taken `slowdown` times the work measured
    /// since [`Chaos::before`] (at most [`WORK_CLIP`] times the work's running mean, which
    /// follows a level up within a few blocks).
    #[inline]
    pub fn after(&mut self) {
        #[cfg(feature = "chaos")]
        {
            if let Some(started) = self.started {
                let work = started.elapsed().as_nanos() as f64;
                let counted = if self.typical_ns > 0.0 {
                    work.min(WORK_CLIP * self.typical_ns)
                } else {
                    self.typical_ns = work;
                    work
                };
                self.typical_ns += (counted - self.typical_ns) * 0.125;
                let target = std::time::Duration::from_nanos((counted * self.armed.0) as u64);
                while started.elapsed() < target {
                    std::hint::spin_loop();
                }
            }
        }
    }
}
