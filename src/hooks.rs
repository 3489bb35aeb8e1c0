//! Fault injection through the real plugin ABI, compiled in only on request. With `test-hooks`,
//! a hidden parameter lets a test host inject a NaN burst or a panic into the DSP. With `chaos`,
//! hidden parameters slow Salve's own processing down by a factor, inject NaN bursts and feed a
//! denormal storm, for `cargo xtask chaos`. Without the features (every release bundle) none of
//! these parameters exist.

#[cfg(feature = "fault-injection")]
use crate::dsp::InjectedFault;
use crate::dsp::{Engine, Path};
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
    /// When this block's own work started, and the paths running then (only while slowed down).
    #[cfg(feature = "chaos")]
    started: Option<(std::time::Instant, [Option<Path>; 2])>,
    #[cfg(feature = "chaos")]
    work: WorkModel,
}

/// The engine's paths running now: the heard one, and the one a change goes to.
#[cfg(feature = "chaos")]
fn running(engine: &Engine) -> [Option<Path>; 2] {
    [Some(engine.active_path()), engine.switching_to()]
}

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
            self.started = (slowdown > 1.0).then(|| (std::time::Instant::now(), running(engine)));
        }
    }

    /// A new stream (an activation, a reset): what the work model learned of the last one (its
    /// block size, its rate, its warm caches) is forgotten, as in a new instance.
    #[inline]
    pub fn restart(&mut self) {
        #[cfg(feature = "chaos")]
        {
            self.work.restart();
            self.started = None;
        }
    }

    /// After the DSP: busy-waits until the block has taken `slowdown` times the work
    /// [`WorkModel`] charges for the paths that ran in it.
    #[allow(unused_variables)]
    #[inline]
    pub fn after(&mut self, engine: &Engine) {
        #[cfg(feature = "chaos")]
        {
            if let Some((started, before)) = self.started {
                let work = started.elapsed().as_nanos() as f64;
                let [a, b] = before;
                let [c, d] = running(engine);
                let charged = self.work.charge([a, b, c, d], work);
                let target = std::time::Duration::from_nanos((charged * self.armed.0) as u64);
                while started.elapsed() < target {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// A block's work counts at most this many times its path's running mean in that mean, and a
/// block is charged at most this many times its own work: a stall of the machine inside the work
/// (an interrupt, a virtual machine's neighbour) is not Salve's work, and a mean gone stale
/// (learned while the machine was slower) is not this block's.
const WORK_CLIP: f64 = 2.0;

/// A path's first steady blocks are not learned: its memory is cold (the first block at 16x in a
/// run took about 13 times its later work, and a mean seeded from it charged each block of the trial up
/// to 16x a second later at 3.6 periods: own-fault run FD).
const WARM_BLOCKS: u32 = 4;

/// The work the chaos slowdown multiplies, per block: each path that ran (the heard tier, and
/// the one a change fades to) charged at its own steady work lately, a running mean.
///
/// The slowdown makes Salve's few microseconds stand for a heavy plugin's share of the cycle (a
/// factor of 40-120 outside the faults and about 200-500 in the spikes), so it must not multiply the
/// measured block itself: the jitter of a 2 µs call at 1x (cold lines, an interrupt) became a
/// load of 0.2-1.9 of the period in the spikes, the misses of a run following the VM's noise
/// (20-590 in twelve runs of two builds whose 1x work was the same: run EO). A heavy plugin's own
/// jitter is not its work's multiple. The measured block still bounds the wait from below (the
/// busy-wait ends at the later of the two), so a real stall counts once. Blocks that run two
/// paths (a crossfade) cost both paths' steady work, as they do. Until a path has a mean, its
/// blocks are charged as measured, at most [`WORK_CLIP`] times the block before.
#[cfg_attr(not(feature = "chaos"), allow(dead_code))]
#[derive(Default)]
pub struct WorkModel {
    /// Each path's steady work lately (ns, a running mean of clipped work; 0 before it is learned).
    typical_ns: [f64; Path::COUNT],
    /// Each path's steady blocks so far (up to [`WARM_BLOCKS`] + 1).
    steady_blocks: [u32; Path::COUNT],
    /// The last block's charge (ns).
    last_ns: f64,
}

#[cfg_attr(not(feature = "chaos"), allow(dead_code))]
impl WorkModel {
    /// Forgets every path's work: a new stream's blocks are learned afresh (a new block size
    /// costs another work, and the first blocks after an activation run cold).
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// The work to charge for a block in which `ran` ran (the paths before and after it, in any
    /// order, with repeats) and `work_ns` was measured.
    pub fn charge(&mut self, ran: [Option<Path>; 4], work_ns: f64) -> f64 {
        let mut seen = [false; Path::COUNT];
        for p in ran.into_iter().flatten() {
            seen[p.index()] = true;
        }
        let unknown = if self.last_ns > 0.0 {
            work_ns.min(WORK_CLIP * self.last_ns)
        } else {
            work_ns
        };
        let count = seen.iter().filter(|&&s| s).count();
        let charged = if count == 1 {
            let i = seen.iter().position(|&s| s).unwrap_or(0);
            let blocks = &mut self.steady_blocks[i];
            *blocks = (*blocks + 1).min(WARM_BLOCKS + 1);
            let mean = &mut self.typical_ns[i];
            if *blocks <= WARM_BLOCKS {
                unknown
            } else {
                if *mean > 0.0 {
                    *mean += (work_ns.min(WORK_CLIP * *mean) - *mean) * 0.125;
                } else {
                    *mean = work_ns;
                }
                mean.min(WORK_CLIP * work_ns)
            }
        } else {
            let known = seen
                .iter()
                .zip(&self.typical_ns)
                .filter(|&(&s, &t)| s && t > 0.0)
                .map(|(_, &t)| t);
            let (n, sum) = known.fold((0, 0.0), |(n, sum), t| (n + 1, sum + t));
            if n == count {
                sum.min(WORK_CLIP * work_ns)
            } else {
                unknown
            }
        };
        self.last_ns = charged;
        charged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::oversampler::Factor;

    const X1: Option<Path> = Some(Path::Tier(Factor::X1));
    const X16: Option<Path> = Some(Path::Tier(Factor::X16));
    const AT_1X: [Option<Path>; 4] = [X1, None, X1, None];
    const AT_16X: [Option<Path>; 4] = [X16, None, X16, None];

    #[test]
    fn a_path_is_charged_its_mean_work_not_one_blocks_jitter() {
        let mut m = WorkModel::default();
        for _ in 0..200 {
            m.charge(AT_1X, 2_000.0);
        }
        // One block at three times its work (a cold cache, an interrupt) moves the charge by an
        // eighth of the clipped excess, not threefold.
        let charged = m.charge(AT_1X, 6_000.0);
        assert!((charged - 2_250.0).abs() < 1.0, "{charged}");
        // A lasting change of the work (the machine slows down) is followed within blocks.
        let mut last = 0.0;
        for _ in 0..40 {
            last = m.charge(AT_1X, 3_000.0);
        }
        assert!((last - 3_000.0).abs() < 10.0, "{last}");
        // A mean gone stale charges at most twice the block's own work.
        assert_eq!(m.charge(AT_1X, 1_000.0), 2_000.0);
    }

    #[test]
    fn a_crossfade_costs_both_paths_and_teaches_neither() {
        let mut m = WorkModel::default();
        for _ in 0..100 {
            for _ in 0..10 {
                m.charge(AT_16X, 8_000.0);
            }
            for _ in 0..10 {
                m.charge(AT_1X, 2_000.0);
            }
        }
        // A change from 16x to 1x under way, starting or ending in the block: both paths ran.
        for ran in [
            [X16, X1, X16, X1],
            [X16, None, X16, X1],
            [X16, X1, X1, None],
        ] {
            let charged = m.charge(ran, 9_000.0);
            assert!((charged - 10_000.0).abs() < 1.0, "{ran:?}: {charged}");
        }
        assert!((m.charge(AT_1X, 2_000.0) - 2_000.0).abs() < 1.0);
    }

    #[test]
    fn a_new_stream_is_charged_its_own_work_not_the_last_streams() {
        let mut m = WorkModel::default();
        for _ in 0..200 {
            m.charge(AT_1X, 2_000.0);
        }
        // Activated again with blocks four times as long: charged as measured, where the old
        // mean charged at most twice it (the clip) and took about 20 blocks to follow.
        m.restart();
        assert_eq!(m.charge(AT_1X, 8_000.0), 8_000.0);
        // Its first blocks are the cold ones, not learned: the mean comes from the steady ones.
        m.charge(AT_1X, 12_000.0);
        for _ in 0..WARM_BLOCKS {
            m.charge(AT_1X, 8_000.0);
        }
        assert!((m.charge(AT_1X, 8_000.0) - 8_000.0).abs() < 1.0);
    }

    #[test]
    fn a_paths_cold_first_blocks_are_not_learned() {
        let mut m = WorkModel::default();
        // The run's first blocks at 16x, cold (the first is charged as measured), then 1x.
        assert_eq!(m.charge(AT_16X, 50_000.0), 50_000.0);
        m.charge(AT_16X, 40_000.0);
        m.charge(AT_16X, 30_000.0);
        for _ in 0..100 {
            m.charge(AT_1X, 2_000.0);
        }
        // A trial back up: 16x has no mean, so the crossfade is charged as measured, at most
        // twice the block before, and not at the cold blocks' cost.
        assert_eq!(m.charge([X1, X16, X1, X16], 9_000.0), 4_000.0);
        assert_eq!(m.charge([X1, X16, X1, X16], 9_000.0), 8_000.0);
        // At 16x its first steady blocks are charged as measured, then it has a mean.
        for _ in 0..WARM_BLOCKS + 20 {
            m.charge(AT_16X, 7_000.0);
        }
        assert!((m.charge(AT_16X, 7_000.0) - 7_000.0).abs() < 1.0);
        // A path never seen, after all that, starts from what it measures.
        let safe = Some(Path::Safe);
        assert_eq!(m.charge([safe, None, safe, None], 900.0), 900.0);
    }
}
