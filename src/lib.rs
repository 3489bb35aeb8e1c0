//! Salve: a stereo saturator with 1x-16x oversampling that watches its own real-time health.
//!
//! # A map of the house
//!
//! The modules follow the data, and each runs on one kind of thread (the full table of shared
//! values, with their writers and readers, is `docs/threads.md`):
//!
//! | module | thread | job |
//! |---|---|---|
//! | this file | main, audio | the plugin: its lifecycle and `process()` (probe, then DSP, then the reflex) |
//! | [`dsp`] | audio | the sound: oversampler, curves, tone, limiter, tier crossfades; the visualizer's tap |
//! | [`probe`] | audio | times every call and where it lands in the host's cycle, checks the output |
//! | [`healer`] | fleet | one `salve-fleet` thread per process decides each instance's quality and the session's |
//! | [`checkpoint`] | fleet (main at activate and leave) | the session into the plugin state and a crash journal |
//! | [`editor`] | gui | the controls, presets, visualizer and the health panel |
//! | [`params`], [`presets`] | host, gui | the plugin state (parameters by stable `#[id]`, the persisted session, the editor's layout) and the factory and user presets |
//! | [`sync`], [`wall_clock`] | any but audio | one way to lock; the wall clock for what people read |
//!
//! What flows between them:
//!
//! - audio → fleet: a [`probe::record::BlockRecord`] per block, through a wait-free ring;
//! - fleet → audio: [`healer::shared::Decisions`] (the level to play, the visualizer tier), atomics
//!   the audio thread reads at every block; its reflex may only lower the level;
//! - audio → gui: [`probe::telemetry::Telemetry`] (atomics: the probe's one `Writer`, the
//!   editor's `Reader`s) and the visualizer's samples (a ring);
//! - main, audio and gui → fleet: [`healer::requests`] (mode, ceiling, the panel's buttons), one
//!   typed end per side; fleet → gui: the same channel's report (checkpoint time, caught
//!   faults), the healer's view ([`healer::view`], a triple buffer) and the session view;
//! - fleet → disk and host: checkpoints, into the journal and the persisted plugin state. The
//!   healer exports and restores plain data ([`healer::Saved`]); the checkpoint module serializes
//!   it and brings the healer [`healer::News`], so `checkpoint` depends on `healer`, never the
//!   other way round.
//!
//! The audio thread never locks, allocates, logs or waits; everything it shares is an atomic or
//! a wait-free ring.

pub mod cache;
pub mod checkpoint;
#[cfg(feature = "demo-tone")]
mod demo;
pub mod dsp;
pub mod editor;
pub mod healer;
mod hooks;
pub mod params;
pub mod presets;
pub mod probe;
mod quiet_panic;
pub mod sync;
pub mod wall_clock;

use dsp::{ControlValues, Controls, Engine, Factor, OutputStats, Path};
use healer::level::Level;
use healer::shared::{AudioSide, Decisions, FleetSide, Reflex};
use healer::{Healer, HealerConfig, Mode};
use nice_plug::prelude::*;
use params::SalveParams;
use probe::clock::MonotonicClock;
use probe::events::{EventKind, Events};
use probe::telemetry::{self, Telemetry};
use probe::{BlockInfo, Probe, ProbeConfig};
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The lowest sample rate Salve accepts, in Hz (hosts and validators do try 1 kHz).
pub const MIN_SAMPLE_RATE: f32 = 1_000.0;
/// The highest sample rate Salve accepts, in Hz (8x 192 kHz).
pub const MAX_SAMPLE_RATE: f32 = 1_536_000.0;
/// A step down after a block above this load (the near-miss line) is made in one short
/// crossfade: overlapping two tiers for 10 ms would only cost more overruns.
pub(crate) const URGENT_LOAD: f32 = 0.8;

/// When a change of factor may start (audio thread). The healer changes the factor of every
/// instance in the session at once, and a switch runs both tiers for its length: started in the
/// same cycle everywhere, a step down made for an overloaded session added about a quarter to
/// Salve's share of the very cycles it was to relieve, and a step back up ran every instance's
/// long crossfade in the same cycles. So a change the healer asks for, down or up, starts in
/// the instance's own eighth of an 8-block rhythm (at most 7 blocks later), or at once when the
/// cycle already overruns: the instance's own last call was near its deadline, or the fleet
/// says the session's cycles overrun. Those cycles are lost whatever a crossfade adds to them,
/// and the lower level relieves the next ones only once every instance plays it: staggered, a
/// burst of the other plugins that needed four steps lost a cycle in two for up to 7 blocks more
/// at each (the chaos runner's bursts, 72 instances). Any other change starts at once: the user's
/// move of the Oversampling ceiling (in the block where it moved), and every change while not
/// healing (Off, Monitor only, offline). Turning healing to Auto counts as the healer's: the
/// level it holds arrives in the instance's eighth.
#[derive(Debug, Clone, Copy, Default)]
struct SwitchTiming {
    /// Blocks played, modulo 8: the rhythm the stagger is counted in.
    phase: u8,
    /// The user's ceiling in the block before (`None` before the first block).
    ceiling_seen: Option<Level>,
}

impl SwitchTiming {
    /// Called once per block: whether the factor asked for may be handed to the engine now, for
    /// an instance whose eighth is `stagger`. `healing` is true in Auto on a realtime stream.
    fn may_start(
        &mut self,
        stagger: probe::Stagger,
        healing: bool,
        ceiling: Level,
        pressure: Pressure,
    ) -> bool {
        let healers = healing && self.ceiling_seen == Some(ceiling);
        self.ceiling_seen = Some(ceiling);
        self.phase = (self.phase + 1) % 8;
        !healers || pressure.overrun() || self.phase == stagger.eighth()
    }
}

/// What the audio thread knows before a block of how near the cycle is to its end.
#[derive(Debug, Clone, Copy, Default)]
struct Pressure {
    /// This instance's last call over its block's duration.
    own_load: f32,
    /// The fleet says the session's cycles overrun.
    fleet_urgent: bool,
}

impl Pressure {
    /// The cycle already overruns: this instance's last call was near its deadline, or the
    /// session's cycles overrun. A switch then starts at once and takes the short way.
    fn overrun(self) -> bool {
        self.own_load > URGENT_LOAD || self.fleet_urgent
    }
}

/// How often the audio thread looks whether the editor is open, in samples (about 10 ms): the
/// visualizer's tap starts that much after the editor opens.
const EDITOR_CHECK_SAMPLES: u32 = 512;

pub struct Salve {
    params: Arc<SalveParams>,
    /// Built in `activate` for the host's sample rate; `None` while inactive.
    engine: Option<Engine>,
    /// Per-sample control values of the chunk being processed, filled from the smoothers.
    controls: Box<Controls>,
    /// The parameters as the audio thread last read them, and the count of changes then (see
    /// [`params::ParamChanges`])...
    snapshot: Snapshot,
    changes: Arc<params::ParamChanges>,
    changes_seen: Option<u64>,
    /// ...and, when nothing has moved since (no smoother, the parameters' or the loudness
    /// match's, glides), the values every sample takes. Then a block reads no parameter, and
    /// spreads these over a chunk on the stack rather than reading `controls`: 20 cache lines
    /// that, with hundreds of instances, left the cache since this instance's last block,
    /// where the stack is where every instance's block left it.
    steady: Option<ControlValues>,
    /// "Match loudness": the output compensation for the drive.
    loudness: dsp::loudness::LoudnessMatch,
    /// Whether the host renders offline (no deadline: always the best quality).
    offline: bool,
    /// Times and checks every block. It lives as long as the instance, so that it notices a
    /// sample-rate change between activations; each activation gives it a new ring.
    probe: Probe<MonotonicClock>,
    /// The instance's one time base, from creation to drop: the probe and the fleet thread
    /// read clones of it, so that the healer's time carries on across re-activations.
    clock: MonotonicClock,
    /// What the probe publishes, for the editor.
    telemetry: telemetry::Reader,
    /// The healer's state, shared with its thread and the editor (never locked on the audio
    /// thread).
    healer: Arc<Mutex<Healer>>,
    /// The healer's view for the editor: published by the fleet thread (and at `activate`),
    /// read by the editor without locking the healer.
    view_publisher: healer::view::Publisher,
    view_reader: healer::view::Reader,
    /// The healer's decisions: the readers' view (the editor's)...
    decisions: Arc<Decisions>,
    /// ...the side the audio thread reads at every block and its reflex writes...
    decisions_audio: AudioSide,
    /// ...and the fleet thread's side, handed to it at each `activate`.
    decisions_fleet: FleetSide,
    /// What the plugin tells the fleet thread about this instance (mode, ceiling, offline)...
    requests: healer::requests::Plugin,
    /// ...the editor's end (its frames, its buttons, the fleet's report)...
    requests_editor: healer::requests::Editor,
    /// ...and the fleet thread's, handed to it at each `activate`.
    requests_fleet: healer::requests::Fleet,
    /// Its place in the fleet (one healer thread for every instance in the process), from
    /// `activate` to `deactivate`.
    membership: Option<healer::fleet::Membership>,
    /// Checkpoints the session (run by the fleet thread, and by a leave), kept across activations.
    checkpointer: Arc<Mutex<checkpoint::Checkpointer>>,
    /// The audio thread's first-line reaction to overruns.
    reflex: Reflex,
    /// Panics caught on the audio thread; safe mode holds until the healer has seen them all.
    panics: u64,
    /// The last block's load, to tell whether a step down is urgent.
    last_load: f32,
    /// Feeds the visualizer while the editor shows it.
    tap: dsp::tap::Tap,
    analyzer: Arc<Mutex<editor::visualizer::Analyzer>>,
    editor_state: Arc<nice_plug_egui::EguiEditorState>,
    /// Whether the editor was open when the audio thread last looked, and the samples played
    /// since: it looks every [`EDITOR_CHECK_SAMPLES`] (the state lies in a cache line of its own).
    editor_open: bool,
    editor_unchecked: u32,
    /// Where in that rhythm this instance looks: instances started together look in different
    /// blocks (see [`probe::Stagger`]). The healer's changes of factor start in this eighth too.
    stagger: probe::Stagger,
    /// When the healer's changes of factor start: in the same eighth.
    switch_timing: SwitchTiming,
    /// The sample rate, for the editor...
    sample_rate: Arc<atomic_float::AtomicF32>,
    /// ...and for the audio thread: this activation's, in the instance itself (the shared one
    /// is a cache miss of its own at every block when hundreds of instances play).
    activation_rate: f32,
    hooks: hooks::Hooks,
    chaos: hooks::Chaos,
    #[cfg(feature = "demo-tone")]
    demo: demo::DemoTone,
}

impl Salve {
    /// What the editor shares with this instance (also used to draw the editor in tests).
    pub fn editor_shared(&self) -> editor::Shared {
        editor::Shared {
            params: self.params.clone(),
            telemetry: self.telemetry.clone(),
            healer: self.view_reader.clone(),
            requests: self.requests_editor.clone(),
            decisions: self.decisions.clone(),
            analyzer: self.analyzer.clone(),
            sample_rate: self.sample_rate.clone(),
            editor_state: self.editor_state.clone(),
        }
    }
}

impl Default for Salve {
    fn default() -> Self {
        quiet_panic::install();
        let params = Arc::new(SalveParams::default());
        let checkpointer = checkpoint::Checkpointer::new(
            params.session.clone(),
            checkpoint::journal::Journal::open_default(),
        );
        let (tap, tap_reader) = dsp::tap::Tap::new();
        let healer = Healer::new(HealerConfig::default(), Level::Ultra, Default::default());
        let (view_publisher, view_reader) = healer::view::channel(&healer);
        let (decisions, decisions_fleet, decisions_audio) = Decisions::new(Level::Ultra);
        let (requests, requests_editor, requests_fleet) = healer::requests::channel(Level::Ultra);
        let clock = MonotonicClock::new();
        let (telemetry_writer, telemetry) = Telemetry::channel();
        // Its first ring goes unused: every activation makes its own.
        let stagger = probe::Stagger::next();
        let probe_config = ProbeConfig {
            stagger,
            ..ProbeConfig::default()
        };
        let (probe, _) = Probe::new(clock.clone(), probe_config, telemetry_writer);
        Self {
            snapshot: Snapshot::read(&params),
            changes: params.changes.clone(),
            params,
            tap,
            analyzer: Arc::new(Mutex::new(editor::visualizer::Analyzer::new(tap_reader))),
            editor_state: editor::default_state(),
            editor_open: false,
            editor_unchecked: u32::MAX,
            stagger,
            switch_timing: SwitchTiming::default(),
            sample_rate: Arc::new(atomic_float::AtomicF32::new(48_000.0)),
            activation_rate: 48_000.0,
            checkpointer: Arc::new(Mutex::new(checkpointer)),
            engine: None,
            controls: Box::default(),
            changes_seen: None,
            steady: None,
            loudness: Default::default(),
            offline: false,
            probe,
            clock,
            telemetry,
            healer: Arc::new(Mutex::new(healer)),
            view_publisher,
            view_reader,
            decisions,
            decisions_audio,
            decisions_fleet,
            requests,
            requests_editor,
            requests_fleet,
            membership: None,
            reflex: Reflex::default(),
            panics: 0,
            last_load: 0.0,
            hooks: hooks::Hooks::default(),
            chaos: hooks::Chaos::default(),
            #[cfg(feature = "demo-tone")]
            demo: Default::default(),
        }
    }
}

/// The parameters the audio thread reads besides the smoothed controls, as last read.
#[derive(Clone, Copy)]
struct Snapshot {
    oversampling: params::Oversampling,
    render_like_realtime: bool,
    healing: params::Healing,
    bypass: bool,
    curve: dsp::Curve,
    match_loudness: bool,
    drive: f32,
    mix: f32,
}

impl Snapshot {
    fn read(params: &SalveParams) -> Self {
        Self {
            oversampling: params.oversampling.value(),
            render_like_realtime: params.render_like_realtime.value(),
            healing: params.healing.value(),
            bypass: params.bypass.value(),
            curve: params.curve.value(),
            match_loudness: params.match_loudness.value(),
            drive: params.drive.value(),
            mix: params.mix.value(),
        }
    }
}

/// Whether the smoothed controls have come to rest: no smoother glides, and each sits at its
/// parameter's value (a value stored, its smoother not yet told, is a change still coming).
fn controls_at_rest(params: &SalveParams, loudness: &dsp::loudness::LoudnessMatch) -> bool {
    let rests =
        |p: &FloatParam| !p.smoothed.is_smoothing() && p.smoothed.previous_value() == p.value();
    rests(&params.drive)
        && rests(&params.mix)
        && rests(&params.output)
        && rests(&params.tone)
        && !loudness.is_smoothing()
}

impl Salve {
    /// A new stream (`activate`, `reset`): the probe judges gaps afresh, and the reflex judges
    /// its calls on their own, not on the last stream's (so does the chaos build's work model).
    fn restart_stream(&mut self) {
        self.probe.restart_stream();
        self.reflex = Reflex::default();
        self.chaos.restart();
    }

    /// Asks for the memory a block reads, all at once (see [`cache`]): what the plugin shares
    /// with other threads, its controls, and itself. With hundreds of instances in a session
    /// all of it left the cache since this instance's last block.
    #[inline]
    fn prefetch(&self) {
        // Its own lines first: the pointers to everything else are read from them, and each
        // would wait for its line in turn.
        cache::prefetch_value(self);
        cache::prefetch_value(&*self.changes);
        self.decisions_audio.prefetch();
        // Not the requests: a block writes them only when the user's choices changed, and the
        // fleet thread writes their line at every tick.
        self.probe.prefetch();
        if self.steady.is_none() {
            cache::prefetch_value(&*self.controls);
        }
        if let Some(engine) = &self.engine {
            engine.prefetch();
        }
    }

    /// What to play now, as a factor and whether safe mode is on: offline, the best factor
    /// (unless the user wants renders to match realtime) and no healing; in realtime, the
    /// healer's level under the user's ceiling in Auto, the ceiling in monitor-only, the user's
    /// choice with healing off.
    fn target(&self) -> (Factor, bool) {
        let choice = self.snapshot.oversampling;
        if self.offline {
            if self.snapshot.render_like_realtime {
                return (choice.realtime_factor(), false);
            }
            return (Factor::X16, false);
        }
        let ceiling = choice.ceiling();
        // Safe mode holds until the healer has taken the panics into account; without a healer
        // thread nobody would, so there is no latch then.
        let panic_latch =
            self.membership.is_some() && self.decisions_audio.panics_seen() < self.panics;
        match self.snapshot.healing.mode() {
            Mode::Off => (choice.realtime_factor(), panic_latch),
            Mode::MonitorOnly => (ceiling.factor().unwrap_or(Factor::X16), panic_latch),
            Mode::Auto => {
                let level = self.decisions_audio.level().min(ceiling);
                let safe = level == Level::Safe || panic_latch;
                (level.factor().unwrap_or(Factor::X1), safe)
            }
        }
    }

    /// Reads the parameters afresh (the next block fills the controls from the smoothers).
    fn refresh_params(&mut self) {
        self.changes_seen = Some(self.changes.count());
        self.snapshot = Snapshot::read(&self.params);
        self.chaos.read(&self.params.chaos);
        self.steady = None;
    }

    /// Tells the fleet thread the user's current choices (relaxed atomic stores).
    fn publish_requests(&mut self) {
        let s = self.snapshot;
        self.requests.publish(
            s.healing.mode(),
            s.oversampling.ceiling(),
            self.offline,
            s.bypass,
        );
    }
}

/// Fills `ctl[..n]` from the parameter smoothers, advancing them by `n` samples.
fn fill_controls(
    params: &SalveParams,
    loudness: &dsp::loudness::LoudnessMatch,
    ctl: &mut Controls,
    n: usize,
) {
    params.drive.smoothed.next_block_exact(&mut ctl.drive[..n]);
    params.mix.smoothed.next_block_exact(&mut ctl.mix[..n]);
    params
        .output
        .smoothed
        .next_block_exact(&mut ctl.output[..n]);
    loudness.apply(&mut ctl.output[..n]);
    if params.tone.smoothed.is_smoothing() {
        for i in 0..n {
            let (lo, hi) = dsp::filters::tilt_gains(params.tone.smoothed.next());
            ctl.tilt_low[i] = lo;
            ctl.tilt_high[i] = hi;
        }
    } else {
        let (lo, hi) = dsp::filters::tilt_gains(params.tone.smoothed.next());
        ctl.tilt_low[..n].fill(lo);
        ctl.tilt_high[..n].fill(hi);
    }
}

impl Plugin for Salve {
    const NAME: &'static str = "Salve";
    const VENDOR: &'static str = "Salve Audio";
    const URL: &'static str = "https://salve.audio";
    const EMAIL: &'static str = "support@salve.audio";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::SalveEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.editor_shared())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let sr = buffer_config.sample_rate;
        if !(sr.is_finite() && (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sr)) {
            nice_error!(
                "Salve does not run at {sr} Hz (it needs {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
            );
            return false;
        }
        self.offline = buffer_config.process_mode == ProcessMode::Offline;
        self.sample_rate.store(sr, Ordering::Relaxed);
        self.activation_rate = sr;
        self.refresh_params();
        self.publish_requests();

        // The healer starts the session: a level learned under these conditions applies now.
        // A state loaded since the last activation is restored first (its learned levels, or a
        // crash to recover from), then the session starts.
        let ceiling = self.snapshot.oversampling.ceiling();
        let start = {
            let mut healer = crate::sync::lock(&self.healer);
            healer.checkpoint_now(&mut *crate::sync::lock(&self.checkpointer), false, ceiling);
            let start = healer.start_session(sr as u32, buffer_config.max_buffer_size, ceiling);
            self.view_publisher.publish(&healer);
            start
        };
        self.decisions_audio.start_at(start);

        let (factor, safe) = self.target();
        let mut engine = Engine::new(sr, factor);
        engine.set_safe_mode(safe);
        engine.set_bypass(self.snapshot.bypass);
        engine.reset();
        context.set_latency_samples(engine.latency());
        self.engine = Some(engine);

        self.restart_stream();
        let records = self.probe.new_ring(sr);
        // Leaving first (a second activate without a deactivate): the final checkpoint of the
        // last session is written before the new membership starts.
        self.membership = None;
        self.membership = match healer::fleet::join(healer::fleet::Parts {
            healer: self.healer.clone(),
            checkpointer: self.checkpointer.clone(),
            records,
            cycle: self.probe.cycle_reader(),
            decisions: self.decisions_fleet.clone(),
            view: self.view_publisher.clone(),
            requests: self.requests_fleet.clone(),
            clock: Box::new(self.clock.clone()),
            offset_ns: self.clock.process_offset_ns(),
        }) {
            Ok(m) => Some(m),
            Err(e) => {
                // Without the fleet the healer cannot act: Salve plays as set.
                nice_error!("Salve could not join its healer: {e}");
                None
            }
        };
        true
    }

    fn reset(&mut self) {
        self.loudness.settle();
        self.refresh_params();
        let (factor, safe) = self.target();
        let curve = self.snapshot.curve;
        if let Some(engine) = &mut self.engine {
            engine.set_factor(factor);
            engine.set_safe_mode(safe);
            engine.set_bypass(self.snapshot.bypass);
            engine.set_curve(curve);
            engine.reset();
        }
        self.restart_stream();
    }

    fn deactivate(&mut self) {
        // Leaves the fleet: the final checkpoint is written, the fleet thread is not waited for.
        self.membership = None;
        self.engine = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.prefetch();
        // nice-plug loads a state without calling `activate` or `reset`: the parameters' change
        // count tells a block that something moved.
        if self.changes_seen != Some(self.changes.count()) {
            self.refresh_params();
        }
        let (factor, safe) = self.target();
        self.publish_requests();
        let probe = &mut self.probe;
        let Some(engine) = self.engine.as_mut() else {
            for channel in buffer.as_slice() {
                channel.fill(0.0);
            }
            return ProcessStatus::Normal;
        };
        let start = probe.begin();
        let transport = context.transport();
        let info = BlockInfo {
            samples: buffer.samples() as u32,
            sample_rate: transport.sample_rate,
            realtime: !self.offline,
            playing: transport.playing,
            position: transport.pos_samples(),
            loop_range: transport.loop_range_samples,
        };

        let snapshot = self.snapshot;
        // A change the healer asks for starts in this instance's eighth of the block rhythm
        // (see `SwitchTiming`).
        let ceiling = snapshot.oversampling.ceiling();
        let auto = !self.offline && snapshot.healing.mode() == Mode::Auto;
        let pressure = Pressure {
            own_load: self.last_load,
            fleet_urgent: self.decisions_audio.urgent(),
        };
        if self
            .switch_timing
            .may_start(self.stagger, auto, ceiling, pressure)
        {
            engine.set_factor(factor);
        }
        engine.set_safe_mode(safe);
        engine.set_bypass(snapshot.bypass);
        // ...and every step down the healer makes takes the short way (two blocks with both
        // tiers instead of about twelve): it is made for load, where a long overlap only costs
        // more. A step down is the healer's while it holds the level below the user's ceiling
        // (a step down of the ceiling leaves the level at or above it, and keeps the long,
        // smoother fade until it has started, however long another switch delays it). So does
        // any step down while this instance's own call was near its deadline or the session's
        // whole cycle already overruns (the fleet says so).
        let healer_holds = auto && self.decisions_audio.level() < ceiling;
        if (healer_holds || pressure.overrun()) && engine.step_down_pending() {
            engine.set_urgent();
        }
        engine.set_curve(snapshot.curve);
        #[cfg(feature = "demo-tone")]
        self.demo.fill(buffer.as_slice(), transport.sample_rate);
        let panic_armed = self.hooks.arm(&self.params.hooks, engine);
        self.chaos.before(engine, buffer.as_slice());

        let params = &self.params;
        self.loudness.update(
            // The rate of this activation (the one the engine was built for).
            self.activation_rate,
            snapshot.match_loudness,
            snapshot.curve,
            snapshot.drive,
            snapshot.mix,
        );
        let loudness = &self.loudness;
        let steady = self.steady;
        let mut resting = MaybeUninit::<Controls>::uninit();
        let controls = match steady {
            Some(values) => resting.write(Controls::splat(values)),
            None => &mut *self.controls,
        };
        let mut dsp = || {
            catch_unwind(AssertUnwindSafe(|| {
                quiet_panic::quietly(|| {
                    // SAFETY: flushing denormals only changes results below 1e-38; the guard
                    // restores the host's floating-point mode before returning, also on unwinding.
                    unsafe {
                        no_denormals::no_denormals(|| {
                            let channels = buffer.as_slice();
                            match channels.split_first_mut() {
                                Some((left, rest)) => {
                                    let right = rest.first_mut().map(|r| &mut **r);
                                    engine.process(left, right, controls, |ctl, n| {
                                        if steady.is_none() {
                                            fill_controls(params, loudness, ctl, n)
                                        }
                                    })
                                }
                                None => OutputStats::default(),
                            }
                        })
                    }
                })
            }))
        };
        // A panic allocates (its payload, the unwinding exception); only a test's injected panic
        // is allowed to do that under the allocation checker.
        let result = if panic_armed {
            util::permit_alloc(dsp)
        } else {
            dsp()
        };
        self.chaos.after(engine);
        if self.steady.is_none() && controls_at_rest(&self.params, &self.loudness) {
            // The values, once (the smoothers stand still: nothing advances).
            fill_controls(&self.params, &self.loudness, &mut self.controls, 1);
            self.steady = Some(self.controls.first());
        }

        let mut events = Events::default();
        let stats = match result {
            Ok(stats) => stats,
            Err(payload) => {
                // Keep the host alive: silence this block, restart the DSP and play it safe.
                // The payload is leaked rather than freed here, on the audio thread.
                std::mem::forget(payload);
                for channel in buffer.as_slice() {
                    channel.fill(0.0);
                }
                engine.set_safe_mode(true);
                engine.restart();
                events.insert(EventKind::Panic);
                self.panics += 1;
                OutputStats {
                    restarted: false,
                    ..OutputStats::default()
                }
            }
        };
        // The visualizer's tap: only while the editor shows it, never during offline renders.
        self.editor_unchecked = self.editor_unchecked.saturating_add(info.samples);
        if self.editor_unchecked >= EDITOR_CHECK_SAMPLES {
            self.editor_unchecked = if self.editor_unchecked == u32::MAX {
                self.stagger.of_samples(EDITOR_CHECK_SAMPLES)
            } else {
                0
            };
            self.editor_open = self.editor_state.is_open();
        }
        let wanted = !self.offline
            && self.editor_open
            && self.decisions_audio.vis() != healer::level::VisTier::Off;
        if wanted {
            let channels = buffer.as_slice_immutable();
            if let Some(left) = channels.first() {
                self.tap.push(true, left, channels.get(1).map(|r| &r[..]));
            }
        }
        let heard = match engine.active_path() {
            Path::Tier(f) => f.ratio() as u8,
            Path::Safe => 0,
        };
        let record = probe.end(start, &info, &stats, heard, events);
        self.decisions_audio.raise_panics(self.panics);
        self.last_load = record.load;
        if self.reflex.observe(record, &self.decisions_audio) {
            // Already overrunning: the step down the reflex just made happens at the next block,
            // in one short crossfade.
            engine.set_urgent();
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Salve {
    const CLAP_ID: &'static str = "audio.salve.saturator";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("A stereo saturator with oversampling that heals itself");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Distortion,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];

    fn remote_controls(&self, context: &mut impl RemoteControlsContext) {
        context.add_section("Salve", |section| {
            section.add_page("Main", |page| {
                page.add_param(&self.params.drive);
                page.add_param(&self.params.curve);
                page.add_param(&self.params.tone);
                page.add_param(&self.params.mix);
                page.add_param(&self.params.output);
                page.add_param(&self.params.oversampling);
            });
        });
    }
}

impl Vst3Plugin for Salve {
    const VST3_CLASS_ID: [u8; 16] = *b"SalveHealSatur01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Distortion];
}

nice_export_clap!(Salve);
nice_export_vst3!(Salve);

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither this instance's last call nor the session near the end of the cycle.
    const CALM: Pressure = Pressure {
        own_load: 0.1,
        fleet_urgent: false,
    };

    /// Eight instances started together play `blocks` blocks; in each block the healer holds
    /// `level(block)` and the user's ceiling is `ceiling(block)`. Returns, per instance, the
    /// blocks in which the level the engine is asked for changed.
    fn changes_heard(
        blocks: usize,
        healing: bool,
        pressure: Pressure,
        level: impl Fn(usize) -> Level,
        ceiling: impl Fn(usize) -> Level,
    ) -> Vec<Vec<usize>> {
        (0..8)
            .map(|i| {
                let stagger = probe::Stagger::eighth_of(i);
                let mut timing = SwitchTiming::default();
                let mut asked = None;
                let mut changes = Vec::new();
                for block in 0..blocks {
                    let target = level(block).min(ceiling(block));
                    if timing.may_start(stagger, healing, ceiling(block), pressure)
                        && asked != Some(target)
                    {
                        if asked.is_some() {
                            changes.push(block);
                        }
                        asked = Some(target);
                    }
                }
                changes
            })
            .collect()
    }

    /// The block of each instance's `n`th change, sorted.
    fn nth_changes(heard: &[Vec<usize>], n: usize) -> Vec<usize> {
        let mut blocks: Vec<usize> = heard.iter().map(|c| c[n]).collect();
        blocks.sort_unstable();
        blocks
    }

    /// `inside` in blocks 20 to 39, `outside` before and after.
    fn from_20_to_40(inside: Level, outside: Level) -> impl Fn(usize) -> Level {
        move |b| {
            if (20..40).contains(&b) {
                inside
            } else {
                outside
            }
        }
    }

    #[test]
    fn the_healers_steps_down_and_back_up_start_in_a_different_block_in_each_instance() {
        // The healer holds 16x, then 8x from block 20, and back at the ceiling (16x) from 40.
        let level = from_20_to_40(Level::High, Level::Ultra);
        let heard = changes_heard(60, true, CALM, level, |_| Level::Ultra);
        for (i, changes) in heard.iter().enumerate() {
            assert_eq!(changes.len(), 2, "instance {i}: {changes:?}");
        }
        // Exactly one instance starts in each block of the rhythm, down and (the step back up
        // to the ceiling itself is the healer's too) up.
        assert_eq!(nth_changes(&heard, 0), (20..28).collect::<Vec<_>>());
        assert_eq!(nth_changes(&heard, 1), (40..48).collect::<Vec<_>>());
    }

    #[test]
    fn the_users_change_and_changes_without_the_healer_start_at_once() {
        // The user lowers the ceiling from 16x to 4x at block 20 and raises it again at block
        // 40, the healer holding 16x: every instance hears both in the block they are made.
        let ceiling = from_20_to_40(Level::Medium, Level::Ultra);
        let heard = changes_heard(60, true, CALM, |_| Level::Ultra, &ceiling);
        assert!(heard.iter().all(|c| c == &[20, 40]), "{heard:?}");
        // The same with the healer holding 8x: the ceiling's move brings 4x at once; back at
        // 16x, the level the healer holds (8x) comes at once with the user's move too.
        let heard = changes_heard(60, true, CALM, |_| Level::High, ceiling);
        assert!(heard.iter().all(|c| c == &[20, 40]), "{heard:?}");
        // Without healing (Off, Monitor only, offline), and when the cycle already overruns
        // (the instance's own last call was near its deadline, or the fleet says the session's
        // cycles overrun), any change starts at once.
        let level = |b: usize| if b >= 20 { Level::High } else { Level::Ultra };
        let near_deadline = Pressure {
            own_load: 0.9,
            fleet_urgent: false,
        };
        let session_overruns = Pressure {
            own_load: 0.05,
            fleet_urgent: true,
        };
        for (healing, pressure) in [
            (false, CALM),
            (true, near_deadline),
            (true, session_overruns),
        ] {
            let heard = changes_heard(30, healing, pressure, level, |_| Level::Ultra);
            assert!(heard.iter().all(|c| c == &[20]), "{pressure:?}: {heard:?}");
        }
    }
}
