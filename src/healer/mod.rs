//! The healer: predicts overload from the probe's records and adapts the oversampling and
//! visualizer tiers before the first dropout; opens circuit breakers, enters and leaves safe mode
//! by trial, learns which recovery works, and tells the user what it did and what they can do.
//!
//! [`Healer`] is a pure state machine: [`Healer::tick`] takes the time and the records since the
//! last tick and returns a [`Decision`]. It has no clock or thread of its own; the [`fleet`] thread drives it
//! in the plugin, the tests step it with virtual time.

pub mod breaker;
#[cfg(feature = "chaos")]
pub mod chaos_log;
pub mod fleet;
pub mod learning;
pub mod level;
pub mod requests;
pub mod session;
pub mod shared;
pub mod stats;
pub mod view;

use crate::probe::events::EventKind;
use crate::probe::record::BlockRecord;
use breaker::{Breaker, BreakerState};
use learning::{
    Action, Fingerprint, Incident, IncidentKind, IncidentLog, Learned, Outcome, Strategy,
};
use level::{Level, VisTier};
use serde::{Deserialize, Serialize};
use stats::LoadStats;

/// Seconds of audio the statistics need before a step down is judged on them.
const MIN_EVIDENCE_S: f64 = 0.05;

/// What the healer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Detects, predicts and acts.
    Auto,
    /// Detects, predicts and logs what it would do; changes nothing.
    MonitorOnly,
    /// Does nothing: the user's oversampling choice plays as set.
    Off,
}

/// Tunables. The defaults are what the plugin uses.
#[derive(Debug, Clone, Copy)]
pub struct HealerConfig {
    /// How far ahead the risk of an overrun is estimated, in seconds.
    pub horizon_s: f32,
    /// The load the risk is measured against: the budget less a reserve for the host's own
    /// jitter, so that the healer acts before the real deadline is at stake.
    pub budget: f32,
    /// Step audio quality down when the risk exceeds this.
    pub risk_down: f32,
    /// Shed the visualizer when the risk exceeds this (lower: the visualizer goes first).
    pub risk_vis: f32,
    /// A trial of the next level up starts only if its predicted p99 load is below this.
    pub upgrade_load: f32,
    /// A step down aims for a level whose predicted p99 load is below this.
    pub target_load: f32,
    /// No trial sooner than this after a change, in seconds.
    pub hold_s: f64,
    /// A trial lasts this long, in seconds.
    pub trial_s: f64,
    /// At most this many level changes per minute.
    pub max_changes_per_minute: usize,
    /// This many failed blocks in a row (overrun or invalid output) mean safe mode.
    pub safe_after_failed_blocks: u32,
    /// This many NaN restarts within [`HealerConfig::nan_window_s`] open the level's breaker...
    pub nan_breaker: usize,
    /// ...and this many mean safe mode.
    pub nan_safe: usize,
    pub nan_window_s: f64,
    /// The editor's frame budget, in milliseconds.
    pub gui_frame_budget_ms: f32,
}

impl Default for HealerConfig {
    fn default() -> Self {
        Self {
            horizon_s: 0.5,
            budget: 0.9,
            risk_down: 0.2,
            risk_vis: 0.05,
            upgrade_load: 0.65,
            target_load: 0.7,
            hold_s: 1.5,
            trial_s: 1.0,
            max_changes_per_minute: 6,
            safe_after_failed_blocks: 10,
            nan_breaker: 3,
            nan_safe: 5,
            nan_window_s: 30.0,
            gui_frame_budget_ms: 8.0,
        }
    }
}

/// What the healer decided at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub vis: VisTier,
}

/// The inputs of a tick besides the records.
#[derive(Debug, Clone, Copy)]
pub struct TickInputs {
    pub mode: Mode,
    /// The user's oversampling ceiling.
    pub ceiling: Level,
    /// The editor's smoothed frame time in ms, when it is open.
    pub gui_frame_ms: Option<f32>,
    /// Times the audio thread's reflex stepped down so far.
    pub reflex_count: u64,
    /// Panics the audio thread has caught so far, read before the tick's records were taken:
    /// every one of them has had its record pushed, so a count ahead of the Panic records seen
    /// means records were lost (a full ring, a re-activation) and is taken into account anyway.
    pub panics_raised: u64,
}

/// What the user can do when healing cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Recommendation {
    /// Something outside Salve interrupts the audio thread; lowering Salve's quality does not help.
    OutsideInterruptions {
        period_s: f32,
        extra_ms: f32,
        block: u32,
    },
    /// Still over budget at the lowest quality.
    OverloadAtMinimal { block: u32 },
    /// The host's audio thread is late, while Salve's own load is low.
    HostDropouts { per_minute: f32, block: u32 },
    /// The DSP keeps producing invalid audio.
    RepeatedInvalidAudio,
}

impl Recommendation {
    /// The advice in plain words, with the concrete action.
    pub fn text(&self) -> String {
        let bigger = |b: u32| (b.max(32) * 2).next_power_of_two();
        match *self {
            Recommendation::OutsideInterruptions {
                period_s,
                extra_ms,
                block,
            } => format!(
                "Something outside Salve interrupts the audio about every {period_s:.0} s \
                 ({extra_ms:.1} ms each); lowering Salve's quality does not help. Raise the host \
                 buffer to {} samples, or close other busy programs.",
                bigger(block)
            ),
            Recommendation::OverloadAtMinimal { block } => format!(
                "Salve is over its time budget even at its lowest quality. Raise the host buffer \
                 to {} samples, or freeze this track.",
                bigger(block)
            ),
            Recommendation::HostDropouts { per_minute, block } => format!(
                "The host's audio is dropping out ({per_minute:.0} per minute) while Salve's own \
                 load is low. Raise the host buffer to {} samples.",
                bigger(block)
            ),
            Recommendation::RepeatedInvalidAudio => "Salve's processing produced invalid audio \
                 repeatedly and is playing it safe (clean signal, same latency). It retries \
                 on its own; if this keeps happening, choose another curve and report it."
                .to_owned(),
        }
    }

    fn same_kind(&self, other: &Recommendation) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// A trial of a higher level.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trial {
    from: Level,
    to: Level,
    until_s: f64,
}

/// An outside-spike experiment: a step down to see whether the spikes shrink.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Experiment {
    from: Level,
    excess_before_s: f32,
    incident: u32,
}

/// A small fixed ring of timestamps.
#[derive(Debug, Clone, Copy, Default)]
struct Times {
    t: [f64; 16],
    len: usize,
    head: usize,
}

impl Times {
    fn push(&mut self, at: f64) {
        self.t[self.head] = at;
        self.head = (self.head + 1) % self.t.len();
        self.len = (self.len + 1).min(self.t.len());
    }

    fn count_since(&self, since: f64) -> usize {
        self.t[..self.len].iter().filter(|&&t| t >= since).count()
    }

    fn latest(&self) -> Option<f64> {
        (self.len > 0).then(|| self.t[(self.head + self.t.len() - 1) % self.t.len()])
    }
}

/// The healer's state. See the module documentation.
#[derive(Debug, Clone)]
pub struct Healer {
    pub config: HealerConfig,
    mode: Mode,
    /// The level the healer's logic is at (in monitor-only mode, the level it would play).
    level: Level,
    vis: VisTier,
    stats: LoadStats,
    /// Smoothed load observed at each level while stable, for predicting other levels.
    baseline: [f32; 6],
    pub breakers: [Breaker; 6],
    pub vis_breaker: Breaker,
    pub learned: Learned,
    pub log: IncidentLog,
    pub recommendations: Vec<Recommendation>,
    now_s: f64,
    origin_ns: Option<u64>,
    last_change_s: f64,
    changes: Times,
    /// Actual level changes made (not counting monitor-only ones).
    pub tier_changes: u32,
    trial: Option<Trial>,
    /// The overload incident being handled.
    overload: Option<u32>,
    /// Blocks in a row that failed (overrun or invalid output).
    failed_in_a_row: u32,
    nan_times: Times,
    spike_times: Times,
    /// An overrun waiting for the next block to tell an isolated spike from a sustained overload.
    pending_spike: Option<(f64, f32, f32, f32)>,
    experiment: Option<Experiment>,
    dropout_times: Times,
    /// The level to return to when safe mode is left.
    safe_return: Level,
    fingerprint: Option<Fingerprint>,
    last_reflex_count: u64,
    /// The level the last record was heard at: a new one starts fresh statistics.
    last_heard: Level,
    /// Panics seen in the records.
    pub panics_seen: u64,
    last_vis_change_s: f64,
    /// The last level that held for [`KNOWN_GOOD_S`] without trouble: where a session restarts
    /// after a crash.
    pub known_good: Level,
    /// A message for the user about what was restored, if anything.
    pub notice: Option<String>,
    /// After a crash restore: the session may not start above this level.
    crash_cap: Option<Level>,
    /// The recent crashes in a row (Unix seconds): see [`Healer::restore`].
    crashes_wall_s: Vec<u64>,
}

/// Seconds a level must hold without trouble to count as known-good.
pub const KNOWN_GOOD_S: f64 = 5.0;
/// Crashes at most this far apart (wall-clock seconds) count as one loop.
pub const CRASH_LOOP_WINDOW_S: u64 = 600;
/// How long the third crash in a row keeps Salve in safe mode before it tries its sound again.
pub const CRASH_SAFE_HOLD_S: f64 = 60.0;
/// Crash times kept in a checkpoint (more say nothing new).
const MAX_CRASHES_KEPT: usize = 8;

impl Healer {
    /// A healer starting at `ceiling`, with what earlier sessions learned.
    pub fn new(config: HealerConfig, ceiling: Level, mut learned: Learned) -> Self {
        learned.sessions += 1;
        Self {
            config,
            mode: Mode::Auto,
            level: ceiling,
            vis: VisTier::Full,
            stats: LoadStats::default(),
            baseline: [0.0; 6],
            breakers: [Breaker::default(); 6],
            vis_breaker: Breaker::default(),
            learned,
            log: IncidentLog::default(),
            recommendations: Vec::new(),
            now_s: 0.0,
            origin_ns: None,
            last_change_s: f64::NEG_INFINITY,
            changes: Times::default(),
            tier_changes: 0,
            trial: None,
            overload: None,
            failed_in_a_row: 0,
            nan_times: Times::default(),
            spike_times: Times::default(),
            pending_spike: None,
            experiment: None,
            dropout_times: Times::default(),
            safe_return: ceiling,
            fingerprint: None,
            last_reflex_count: 0,
            last_heard: ceiling,
            panics_seen: 0,
            last_vis_change_s: f64::NEG_INFINITY,
            known_good: ceiling.min(Level::Medium),
            notice: None,
            crash_cap: None,
            crashes_wall_s: Vec::new(),
        }
    }

    /// The checkpoint of the session now.
    pub fn checkpoint(
        &self,
        instance_id: u64,
        generation: u64,
        running: bool,
    ) -> crate::checkpoint::Checkpoint {
        crate::checkpoint::Checkpoint {
            instance_id,
            generation,
            wall_time_s: crate::checkpoint::wall_clock_s(),
            mode: self.mode,
            level: self.level,
            known_good: self.known_good,
            breakers: self.breakers,
            learned: self.learned.clone(),
            incidents: self.log.iter().copied().collect(),
            running,
            session_s: self.now_s,
            crashes_wall_s: self.crashes_wall_s.clone(),
            successor: None,
        }
    }

    /// A clean shutdown ends a crash loop.
    pub fn end_crash_loop(&mut self) {
        self.crashes_wall_s.clear();
    }

    /// Takes over a restored checkpoint. Its breakers and incidents are moved onto this
    /// healer's time base (an open breaker keeps its remaining time, bounded).
    ///
    /// `crashed` says whether the session that wrote it ended in a crash, which only the journal
    /// can tell. Then the session starts at the last known-good level, not the one playing at the
    /// crash, with that level's breaker open and the crash recorded. Crashes close together
    /// ([`CRASH_LOOP_WINDOW_S`]) are a loop: the second restart is one level lower than the
    /// first, the third and later ones start in safe mode for [`CRASH_SAFE_HOLD_S`].
    pub fn restore(&mut self, cp: &crate::checkpoint::Checkpoint, ceiling: Level, crashed: bool) {
        let shift = self.now_s - cp.session_s;
        self.learned = cp.learned.clone();
        self.breakers = cp.breakers.map(|b| b.moved(cp.session_s, self.now_s));
        self.log = IncidentLog::default();
        for incident in &cp.incidents {
            let mut incident = *incident;
            incident.at_s += shift;
            self.log.push(incident);
        }
        self.known_good = cp.known_good.max(Level::Minimal).min(ceiling);
        self.crashes_wall_s = cp.crashes_wall_s.clone();
        if !crashed {
            return;
        }
        let crash_level = cp.level;
        let crash_at = cp.wall_time_s;
        self.crashes_wall_s
            .retain(|&t| crash_at.saturating_sub(t) <= CRASH_LOOP_WINDOW_S && t <= crash_at);
        self.crashes_wall_s.push(crash_at);
        let excess = self.crashes_wall_s.len().saturating_sub(MAX_CRASHES_KEPT);
        self.crashes_wall_s.drain(..excess);
        let in_a_row = self.crashes_wall_s.len();
        if crash_level > Level::Safe {
            self.breakers[crash_level as usize].trip(self.now_s);
        }
        let first = self.known_good.min(crash_level.max(Level::Minimal));
        self.level = match in_a_row {
            1 => first,
            2 => first.down(),
            _ => Level::Safe,
        };
        if self.level == Level::Safe {
            self.safe_return = first.down().max(Level::Minimal);
            self.breakers[Level::Safe as usize].state = BreakerState::Open {
                until_s: self.now_s + CRASH_SAFE_HOLD_S,
            };
        }
        self.crash_cap = Some(self.level);
        self.last_change_s = self.now_s;
        self.trial = None;
        self.incident(
            IncidentKind::Crash,
            if self.level == Level::Safe {
                Action::SafeMode
            } else {
                Action::StepDown {
                    from: crash_level,
                    to: self.level,
                }
            },
            0.0,
        );
        let when = crate::checkpoint::clock_text(crash_at);
        self.notice = Some(match in_a_row {
            1 => format!(
                "Recovered after an unexpected shutdown (last sign of life {when}): Salve \
                 restarted at {}, the last quality that held.",
                self.level.label()
            ),
            2 => format!(
                "The host shut down unexpectedly twice in a row (the last time at {when}). Salve \
                 restarted one quality step lower, at {}, to be safe.",
                self.level.label()
            ),
            n => format!(
                "The host shut down unexpectedly {n} times in a row (the last time at {when}). \
                 Salve starts in safe mode: it passes the sound through clean for a minute, then \
                 brings its saturation back step by step."
            ),
        });
    }

    /// The journal could not be written: one incident while the failures go on, counting them.
    pub fn record_journal_failure(&mut self) {
        match self.open_journal_incident() {
            Some(id) => {
                if let Some(i) = self.log.get_mut(id) {
                    i.repeats += 1;
                }
            }
            None => {
                self.incident(IncidentKind::Journal, Action::Observe, 0.0);
            }
        }
    }

    /// The journal was written again: its failure incident, if one is open, is over.
    pub fn record_journal_written(&mut self) {
        if let Some(id) = self.open_journal_incident() {
            self.resolve(id, Outcome::Recovered);
        }
    }

    fn open_journal_incident(&self) -> Option<u32> {
        self.log
            .iter()
            .rev()
            .find(|i| i.kind == IncidentKind::Journal && i.outcome == Outcome::Pending)
            .map(|i| i.id)
    }

    /// Whether the incident log holds anything worth checkpointing at once (after `seen`).
    pub fn significant_since(&self, seen: u32) -> bool {
        self.log.total() > seen
            && self
                .log
                .iter()
                .rev()
                .take((self.log.total() - seen) as usize)
                .any(|i| {
                    !matches!(i.action, Action::Observe | Action::ShedVisualizer)
                        || matches!(i.kind, IncidentKind::NonFinite | IncidentKind::Panic)
                })
    }

    /// Starts a session under known conditions (at `activate`): a level learned under the same
    /// fingerprint applies before the first block. Returns the level to start at.
    pub fn start_session(&mut self, sample_rate: u32, max_block: u32, ceiling: Level) -> Level {
        let fp = Fingerprint {
            sample_rate,
            block_size: max_block,
            ceiling,
        };
        self.fingerprint = Some(fp);
        self.level = ceiling;
        if let Some(learned) = self.learned.level_for(&fp)
            && learned < ceiling
            && learned >= Level::Minimal
        {
            self.level = learned;
        }
        if let Some(cap) = self.crash_cap.take() {
            self.level = self.level.min(cap);
        }
        self.level
    }

    /// The level the logic is at.
    pub fn level(&self) -> Level {
        self.level
    }

    pub fn vis(&self) -> VisTier {
        self.vis
    }

    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    pub fn risk(&self) -> f32 {
        self.stats.risk(self.config.horizon_s, self.config.budget)
    }

    pub fn now_s(&self) -> f64 {
        self.now_s
    }

    /// Whether a trial of a higher level is running.
    pub fn in_trial(&self) -> bool {
        self.trial.is_some()
    }

    /// One step: fold in the records since the last tick and decide. `now_ns` is on the probe's
    /// clock.
    pub fn tick(&mut self, now_ns: u64, records: &[BlockRecord], inputs: TickInputs) -> Decision {
        let origin = *self.origin_ns.get_or_insert(now_ns);
        self.now_s = now_ns.saturating_sub(origin) as f64 / 1e9;
        let ceiling = inputs.ceiling.max(Level::Minimal);
        self.mode = inputs.mode;

        let realtime: usize = records.iter().filter(|r| r.deadline_ns > 0).count();
        if inputs.mode == Mode::Off || (realtime == 0 && !records.is_empty()) {
            // Off, or an offline render: no action, nothing learned from it. Panics are still
            // acknowledged, or the audio thread would hold its own safe mode for good.
            self.panics_seen += records
                .iter()
                .filter(|r| r.events.contains(EventKind::Panic))
                .count() as u64;
            self.panics_seen = self.panics_seen.max(inputs.panics_raised);
            self.level = ceiling;
            return Decision {
                level: ceiling,
                vis: VisTier::Full,
            };
        }
        if self.level > ceiling {
            self.level = ceiling;
            self.trial = None;
        }
        if self.level != Level::Safe && self.level < ceiling && self.fingerprint.is_none() {
            self.safe_return = self.safe_return.min(ceiling);
        }

        // The audio thread's reflex stepped down since the last tick: adopt what it did.
        if inputs.reflex_count > self.last_reflex_count && inputs.mode == Mode::Auto {
            self.last_reflex_count = inputs.reflex_count;
            if let Some(heard) = records.last().map(|r| Level::from_ratio(r.ratio))
                && heard < self.level
                && heard != Level::Safe
            {
                let from = self.level;
                self.breakers[from as usize].trip(self.now_s);
                self.trial = None;
                self.set_level(heard, true);
                self.stats.reset();
                self.open_overload(Action::StepDown { from, to: heard }, 0.0);
            }
        }

        for record in records {
            self.observe(record, ceiling);
        }
        if inputs.panics_raised > self.panics_seen {
            // Their records were lost: the panics still happened.
            self.panics_seen = inputs.panics_raised;
            self.enter_safe_mode(IncidentKind::Panic);
        }

        let risk = self.risk();
        self.judge_trial(risk);
        self.shed_visualizer(risk, inputs.gui_frame_ms);
        self.handle_overload(risk, inputs.mode);
        self.try_upgrade(risk, ceiling);
        self.try_leave_safe_mode();
        self.close_recovered_overload(risk);
        if self.failed_in_a_row == 0
            && self.trial.is_none()
            && self.level >= Level::Minimal
            && risk < self.config.risk_vis
            && self.now_s - self.last_change_s >= KNOWN_GOOD_S
        {
            self.known_good = self.level;
        }

        let level = match inputs.mode {
            Mode::Auto => self.level,
            _ => ceiling,
        };
        Decision {
            level,
            vis: self.vis,
        }
    }

    fn seconds(record: &BlockRecord) -> f32 {
        record.samples as f32 / record.sample_rate.max(1.0)
    }

    /// Folds one block's record into the statistics and the incident logic.
    fn observe(&mut self, r: &BlockRecord, ceiling: Level) {
        if r.deadline_ns == 0 {
            return;
        }
        if self.fingerprint.is_none() {
            let fp = Fingerprint {
                sample_rate: r.sample_rate as u32,
                block_size: r.samples,
                ceiling,
            };
            self.fingerprint = Some(fp);
            if let Some(learned) = self.learned.level_for(&fp)
                && learned < self.level
                && learned >= Level::Minimal
            {
                // A fix learned under the same conditions applies at once.
                self.level = learned;
                self.last_change_s = self.now_s;
            }
        }
        let secs = Self::seconds(r);
        let heard = Level::from_ratio(r.ratio);
        if heard != self.last_heard {
            // A new tier is playing: the load statistics of the old one no longer apply.
            self.last_heard = heard;
            self.stats.reset();
        }
        let overrun = r.events.contains(EventKind::Overrun);
        let baseline = self.baseline[heard as usize];

        // An overrun after a normal block waits for the next block: isolated means outside.
        if let Some((at, load, base, secs0)) = self.pending_spike.take() {
            if r.load < 0.8 {
                self.outside_spike(at, load, base, secs0);
            } else {
                self.failed_in_a_row += 1;
            }
        }
        let spike_candidate = overrun && self.stats.fast < 0.7 && self.failed_in_a_row == 0;
        if spike_candidate {
            self.pending_spike = Some((self.now_s, r.load, baseline, secs));
        } else {
            self.stats.observe(r.load, secs);
            if !overrun && self.stats.seconds > 0.05 {
                let b = &mut self.baseline[heard as usize];
                let a = (secs / 1.0).min(1.0);
                *b = if *b == 0.0 {
                    r.load
                } else {
                    *b + a * (r.load - *b)
                };
            }
        }

        if overrun && !spike_candidate || r.events.contains(EventKind::NonFinite) {
            self.failed_in_a_row += 1;
        } else if !spike_candidate {
            self.failed_in_a_row = 0;
        }

        if r.events.contains(EventKind::NonFinite) {
            self.nan_restart();
        }
        if r.events.contains(EventKind::Panic) {
            self.panics_seen += 1;
            self.enter_safe_mode(IncidentKind::Panic);
        }
        if r.events.contains(EventKind::CallbackGap) || r.events.contains(EventKind::TransportJump)
        {
            self.dropout(r);
        }
        if self.failed_in_a_row >= self.config.safe_after_failed_blocks && self.level != Level::Safe
        {
            self.failed_in_a_row = 0;
            if self.level > Level::Minimal && self.now_s - self.last_change_s > 0.5 {
                // Failing and not yet stepped down: degrade first.
                let from = self.level;
                let to = from.down();
                self.breakers[from as usize].trip(self.now_s);
                let action = if self.mode == Mode::Auto {
                    Action::StepDown { from, to }
                } else {
                    Action::WouldStepDown { from, to }
                };
                self.open_overload(action, 0.0);
                self.trial = None;
                self.set_level(to, true);
                self.stats.reset();
            } else {
                self.enter_safe_mode(IncidentKind::Overload);
            }
        }
    }

    fn incident(&mut self, kind: IncidentKind, action: Action, detect_s: f32) -> u32 {
        let incident = Incident {
            id: 0,
            at_s: self.now_s,
            kind,
            load: self.stats.fast,
            p99: self.stats.p99(),
            risk: self.risk(),
            level: self.level,
            action,
            outcome: Outcome::Pending,
            time_to_detect_s: detect_s,
            time_to_recover_s: None,
            repeats: 0,
        };
        self.log.push(incident)
    }

    fn resolve(&mut self, id: u32, outcome: Outcome) {
        let now = self.now_s;
        if let Some(i) = self.log.get_mut(id) {
            i.outcome = outcome;
            i.time_to_recover_s = Some((now - i.at_s) as f32);
        }
    }

    fn recommend(&mut self, r: Recommendation) {
        if let Some(existing) = self.recommendations.iter_mut().find(|x| x.same_kind(&r)) {
            *existing = r;
        } else if self.recommendations.len() < 4 {
            self.recommendations.push(r);
        }
    }

    /// A tick panicked (caught by the thread): recorded, and the decision stays as it was.
    pub fn record_own_fault(&mut self) {
        self.incident(IncidentKind::HealerFault, Action::Observe, 0.0);
    }

    /// The user acknowledged the recommendations.
    pub fn acknowledge(&mut self) {
        self.recommendations.clear();
    }

    /// Forgets what was learned (the health panel's "Reset learning").
    pub fn reset_learning(&mut self) {
        self.learned = Learned::default();
    }

    /// Moves the logic to `to`; `counted` marks a change of what plays (always false in
    /// monitor-only mode, where nothing plays differently).
    fn set_level(&mut self, to: Level, counted: bool) {
        if to != self.level {
            self.level = to;
            self.last_change_s = self.now_s;
            if counted && self.mode == Mode::Auto {
                self.changes.push(self.now_s);
                self.tier_changes += 1;
            }
        }
    }

    fn open_overload(&mut self, action: Action, detect_s: f32) {
        if self.overload.is_none() {
            let id = self.incident(IncidentKind::Overload, action, detect_s);
            self.overload = Some(id);
            self.learned.tallies[IncidentKind::Overload as usize][Strategy::StepDown as usize]
                .attempts += 1;
        }
    }

    fn close_recovered_overload(&mut self, risk: f32) {
        if let Some(id) = self.overload
            && risk < self.config.risk_vis
            && self.failed_in_a_row == 0
            && self.now_s - self.last_change_s > self.config.hold_s
        {
            self.overload = None;
            self.resolve(id, Outcome::Recovered);
            self.learned.tallies[IncidentKind::Overload as usize][Strategy::StepDown as usize]
                .successes += 1;
            // Under these conditions this level holds: start here next time.
            if let Some(fp) = self.fingerprint
                && self.level >= Level::Minimal
            {
                self.learned.learn_level(fp, self.level);
            }
        }
    }

    /// The predicted p99 load at `to`, from the p99 now at `from` and the cost ratio between the
    /// levels.
    fn predict_p99(&self, from: Level, to: Level) -> f32 {
        self.stats.p99().max(self.stats.fast) * self.cost_ratio(from, to)
    }

    /// The predicted p99 load one level up, for a trial: Salve's own typical load (the slow
    /// mean) grows with the cost ratio, but the tail above it, which on a real machine is mostly
    /// the system's own scheduling jitter, does not. (Scaling the whole p99 kept a machine with
    /// a noisy scheduler at the lowest level for good: the chaos runner showed it.)
    fn predict_p99_up(&self, from: Level, to: Level) -> f32 {
        let p99 = self.stats.p99().max(self.stats.fast);
        let own = self.stats.slow.min(p99);
        own * self.cost_ratio(from, to) + (p99 - own)
    }

    /// Salve's cost at `to` relative to `from`: learned baselines where known, otherwise x2 per
    /// factor step.
    fn cost_ratio(&self, from: Level, to: Level) -> f32 {
        if to == from {
            return 1.0;
        }
        let (bf, bt) = (self.baseline[from as usize], self.baseline[to as usize]);
        let steps = to as i32 - from as i32;
        // Baselines measured at different times may come from different conditions (a slowdown
        // since then), so the measured ratio is only trusted where it is more cautious than a
        // floor of x1.5 per factor step (Salve's own cost grows by x1.7-x2.2 per step).
        let floor = 1.5f32.powi(steps);
        if bf > 0.0 && bt > 0.0 {
            if steps > 0 {
                (bt / bf).max(floor)
            } else {
                (bt / bf).min(floor)
            }
        } else {
            2f32.powi(steps)
        }
    }

    fn handle_overload(&mut self, risk: f32, mode: Mode) {
        if risk <= self.config.risk_down || self.level <= Level::Minimal {
            if self.level == Level::Minimal
                && risk > self.config.risk_down
                && let Some(fp) = self.fingerprint
            {
                self.recommend(Recommendation::OverloadAtMinimal {
                    block: fp.block_size,
                });
            }
            return;
        }
        if self.trial.is_some() || self.stats.seconds < MIN_EVIDENCE_S {
            return; // a trial is judged by judge_trial; fresh statistics prove nothing yet
        }
        // The highest level below this one predicted to stay under the target load.
        let from = self.level;
        let mut to = from.down().max(Level::Minimal);
        while to > Level::Minimal && self.predict_p99(from, to) > self.config.target_load {
            to = to.down();
        }
        let action = if mode == Mode::Auto {
            Action::StepDown { from, to }
        } else {
            Action::WouldStepDown { from, to }
        };
        self.breakers[from as usize].trip(self.now_s);
        // Detection lead: how long the risk has been climbing, roughly one slow time constant.
        self.open_overload(action, LoadStats::SLOW_S);
        if self.overload.is_some()
            && !matches!(self.log.iter().last(), Some(i) if i.action == action)
        {
            self.incident(IncidentKind::Overload, action, 0.0);
        }
        self.set_level(to, mode == Mode::Auto);
        self.stats.reset();
    }

    fn judge_trial(&mut self, risk: f32) {
        let Some(trial) = self.trial else { return };
        if risk > self.config.risk_down || self.failed_in_a_row > 0 {
            // The level above does not hold yet.
            self.breakers[trial.to as usize].trip(self.now_s);
            self.trial = None;
            self.set_level(trial.from, true);
            self.stats.reset();
        } else if self.now_s >= trial.until_s {
            self.breakers[trial.to as usize].succeed();
            if trial.from == Level::Safe {
                self.breakers[Level::Safe as usize].succeed();
            }
            self.trial = None;
            if let Some(fp) = self.fingerprint {
                if trial.to >= fp.ceiling {
                    self.learned.forget_level(&fp);
                } else {
                    self.learned.learn_level(fp, trial.to);
                }
            }
        }
    }

    fn try_upgrade(&mut self, risk: f32, ceiling: Level) {
        let next = self.level.up();
        if self.trial.is_some()
            || self.level == Level::Safe
            || self.level >= ceiling
            || self.overload.is_some() && risk > self.config.risk_vis
            || self.now_s - self.last_change_s < self.config.hold_s
            || self.stats.seconds < self.config.hold_s
            || !self.breakers[next as usize].allows_trial(self.now_s)
            || self.changes.count_since(self.now_s - 60.0) + 2 > self.config.max_changes_per_minute
            || risk > 0.01
            || self.predict_p99_up(self.level, next) > self.config.upgrade_load
        {
            return;
        }
        self.breakers[next as usize].start_trial();
        self.trial = Some(Trial {
            from: self.level,
            to: next,
            until_s: self.now_s + self.config.trial_s,
        });
        self.set_level(next, true);
        self.stats.reset();
    }

    fn shed_visualizer(&mut self, risk: f32, gui_frame_ms: Option<f32>) {
        let slow_gui = gui_frame_ms.is_some_and(|ms| ms > self.config.gui_frame_budget_ms);
        let since = self.now_s - self.last_vis_change_s;
        if (risk > self.config.risk_vis || slow_gui) && self.vis > VisTier::Off && since > 0.5 {
            self.vis = self.vis.down();
            self.last_vis_change_s = self.now_s;
            self.vis_breaker.trip(self.now_s);
            let kind = if slow_gui {
                IncidentKind::SlowGui
            } else {
                IncidentKind::Overload
            };
            self.incident(kind, Action::ShedVisualizer, 0.0);
            self.learned.record(kind, Strategy::ShedVisualizer, true);
        } else if risk < 0.01
            && !slow_gui
            && self.vis < VisTier::Full
            && self.vis_breaker.allows_trial(self.now_s)
            && since > 3.0
        {
            self.vis = self.vis.up();
            self.last_vis_change_s = self.now_s;
            self.vis_breaker.start_trial();
            if self.vis == VisTier::Full {
                self.vis_breaker.succeed();
            }
        }
    }

    /// An isolated overrun: was it something outside Salve?
    fn outside_spike(&mut self, at_s: f64, load: f32, baseline: f32, block_s: f32) {
        let excess_s = (load - baseline).max(0.0) * block_s;
        let period = self.spike_times.latest().map(|t| (at_s - t) as f32);
        self.spike_times.push(at_s);
        let block = self.fingerprint.map_or(0, |f| f.block_size);

        if let Some(exp) = self.experiment.take() {
            // A spike while stepped down: did stepping down shrink the extra time?
            let helped = excess_s < 0.7 * exp.excess_before_s;
            self.learned
                .record(IncidentKind::OutsideSpike, Strategy::StepDown, helped);
            if helped {
                self.resolve(exp.incident, Outcome::Recovered);
            } else {
                self.resolve(exp.incident, Outcome::NotHelping);
                self.trial = None;
                self.set_level(exp.from, true);
                self.incident(
                    IncidentKind::OutsideSpike,
                    Action::Revert { to: exp.from },
                    0.0,
                );
                self.recommend(Recommendation::OutsideInterruptions {
                    period_s: period.unwrap_or(0.0),
                    extra_ms: excess_s * 1e3,
                    block,
                });
            }
            return;
        }

        // What one step down would save of such a block, in load units. If even that cannot
        // bring the spike under its deadline, arithmetic already says stepping down does not
        // help: no experiment (no downgrade) is needed to learn it. (On a machine whose
        // scheduler now and then steals a few milliseconds, experimenting cost a downgrade
        // for nothing: the chaos runner's clean scenario showed it.)
        if self.level > Level::Minimal {
            let saving = baseline * (1.0 - 1.0 / self.cost_ratio(self.level.down(), self.level));
            if load - 1.0 > saving {
                self.learned
                    .record(IncidentKind::OutsideSpike, Strategy::StepDown, false);
            }
        }
        let tally = self
            .learned
            .tally(IncidentKind::OutsideSpike, Strategy::StepDown);
        let repeated = self.spike_times.count_since(at_s - 10.0) >= 2;
        if repeated && tally.rate() >= 0.4 && self.level > Level::Minimal {
            // Not known yet whether stepping down helps against these: try once.
            let from = self.level;
            let to = from.down();
            let id = self.incident(
                IncidentKind::OutsideSpike,
                Action::StepDown { from, to },
                0.0,
            );
            self.experiment = Some(Experiment {
                from,
                excess_before_s: excess_s,
                incident: id,
            });
            self.set_level(to, true);
        } else {
            let action = if repeated {
                Action::Recommend
            } else {
                Action::Observe
            };
            self.incident(IncidentKind::OutsideSpike, action, 0.0);
            if repeated {
                self.recommend(Recommendation::OutsideInterruptions {
                    period_s: period.unwrap_or(0.0),
                    extra_ms: excess_s * 1e3,
                    block,
                });
            }
        }
    }

    fn nan_restart(&mut self) {
        self.nan_times.push(self.now_s);
        let recent = self
            .nan_times
            .count_since(self.now_s - self.config.nan_window_s);
        self.incident(IncidentKind::NonFinite, Action::Observe, 0.0);
        if recent >= self.config.nan_safe {
            self.enter_safe_mode(IncidentKind::NonFinite);
            self.recommend(Recommendation::RepeatedInvalidAudio);
        } else if recent >= self.config.nan_breaker && self.level > Level::Minimal {
            let from = self.level;
            let to = from.down();
            self.breakers[from as usize].trip(self.now_s);
            self.incident(IncidentKind::NonFinite, Action::StepDown { from, to }, 0.0);
            self.learned
                .record(IncidentKind::NonFinite, Strategy::StepDown, false);
            self.set_level(to, true);
        }
    }

    fn enter_safe_mode(&mut self, kind: IncidentKind) {
        if self.level == Level::Safe {
            // Safe mode failed its trial: wait longer before the next one.
            self.breakers[Level::Safe as usize].trip(self.now_s);
            return;
        }
        self.safe_return = self.level.min(self.safe_return.max(Level::Minimal));
        if self.level > Level::Minimal {
            self.safe_return = self.level.down();
        }
        self.breakers[self.level as usize].trip(self.now_s);
        // The safe level's breaker times the first trial out of safe mode.
        self.breakers[Level::Safe as usize].trip(self.now_s);
        self.trial = None;
        self.incident(kind, Action::SafeMode, 0.0);
        self.learned.record(kind, Strategy::SafeMode, true);
        self.set_level(Level::Safe, true);
    }

    fn try_leave_safe_mode(&mut self) {
        if self.level != Level::Safe
            || !self.breakers[Level::Safe as usize].allows_trial(self.now_s)
        {
            return;
        }
        let to = self.safe_return.max(Level::Minimal);
        self.breakers[Level::Safe as usize].start_trial();
        self.trial = Some(Trial {
            from: Level::Safe,
            to,
            until_s: self.now_s + self.config.trial_s * 2.0,
        });
        self.set_level(to, true);
        self.stats.reset();
    }

    fn dropout(&mut self, r: &BlockRecord) {
        self.dropout_times.push(self.now_s);
        self.incident(IncidentKind::Dropout, Action::Observe, 0.0);
        let recent = self.dropout_times.count_since(self.now_s - 30.0);
        if recent >= 3 && self.stats.fast < 0.5 {
            self.recommend(Recommendation::HostDropouts {
                per_minute: recent as f32 * 2.0,
                block: r.samples,
            });
        }
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
