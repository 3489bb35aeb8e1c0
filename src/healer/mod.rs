//! The healer: predicts overload from the probe's records and adapts the oversampling and
//! visualizer tiers before the first dropout; opens circuit breakers, enters and leaves safe mode
//! by trial, learns which recovery works, and tells the user what it did and what they can do.
//!
//! [`Healer`] is a pure state machine: [`Healer::tick`] takes the time and the records since the
//! last tick and returns a [`Decision`]. It has no clock or thread of its own; the [`fleet`] thread drives it
//! in the plugin, the tests step it with virtual time.
//!
//! This file holds the state machine's core (the tick, the statistics, overload and safe mode);
//! each other concern has its own file: the tunables (`config`), the advice texts (`advice`),
//! raising the quality by trial (`trial`), the outside-spike experiment (`spike`), the healer's
//! part of checkpoints and crash recovery (`persist`), and a small timestamp ring (`times`).

mod advice;
pub mod breaker;
#[cfg(feature = "chaos")]
pub mod chaos_log;
mod config;
pub mod fleet;
pub mod learning;
pub mod level;
mod persist;
pub mod requests;
pub mod session;
pub mod shared;
mod spike;
pub mod stats;
mod times;
mod trial;
pub mod view;

pub use advice::Recommendation;
pub use config::HealerConfig;
pub use persist::{Keeper, News, Restore, Saved};
use spike::Experiment;
use times::Times;
use trial::Trial;

use crate::probe::events::EventKind;
use crate::probe::record::BlockRecord;
use breaker::{Breaker, BreakerState};
use learning::{
    Action, Fingerprint, Incident, IncidentKind, IncidentLog, Learned, Outcome, Strategy,
};
use level::{Level, VisTier};
use serde::{Deserialize, Serialize};
use stats::LoadStats;

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
    /// The host bypasses the instance: the healer holds (no change, nothing learned) until it
    /// plays again.
    pub bypassed: bool,
}

impl TickInputs {
    /// A tick of an instance playing in `mode` under `ceiling`, with the editor closed, no
    /// reflex step or panic so far, not bypassed.
    pub fn playing(mode: Mode, ceiling: Level) -> Self {
        Self {
            mode,
            ceiling,
            gui_frame_ms: None,
            reflex_count: 0,
            panics_raised: 0,
            bypassed: false,
        }
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
    /// The last level that held for [`HealerConfig::known_good_s`] without trouble: where a session restarts
    /// after a crash.
    pub known_good: Level,
    /// A message for the user about what was restored, if anything.
    pub notice: Option<String>,
    /// After a crash restore: the session may not start above this level.
    crash_cap: Option<Level>,
    /// The recent crashes in a row (Unix seconds): see [`Healer::restore`].
    crashes_wall_s: Vec<u64>,
}

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
        let holding = inputs.bypassed && inputs.mode != Mode::Off;
        if inputs.mode == Mode::Off || holding || (realtime == 0 && !records.is_empty()) {
            // Off, bypassed or an offline render: no action, nothing learned from it. Panics are
            // still acknowledged, or the audio thread would hold its own safe mode for good.
            self.panics_seen += records
                .iter()
                .filter(|r| r.events.contains(EventKind::Panic))
                .count() as u64;
            self.panics_seen = self.panics_seen.max(inputs.panics_raised);
            // Bypassed, the level waits where it was (below the ceiling) for the sound to return.
            self.level = if holding {
                self.level.min(ceiling)
            } else {
                ceiling
            };
            return Decision {
                level: self.level,
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
            && self.now_s - self.last_change_s >= self.config.known_good_s
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
            if r.load < self.config.spike_next_load_max {
                self.outside_spike(at, load, base, secs0);
            } else {
                self.failed_in_a_row += 1;
            }
        }
        let spike_candidate = overrun
            && self.stats.fast < self.config.spike_usual_load_max
            && self.failed_in_a_row == 0;
        if spike_candidate {
            self.pending_spike = Some((self.now_s, r.load, baseline, secs));
        } else {
            self.stats.observe(r.load, secs);
            if !overrun && self.stats.seconds > self.config.min_evidence_s {
                let b = &mut self.baseline[heard as usize];
                let a = (secs / self.config.baseline_tau_s).min(1.0);
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
            if self.level > Level::Minimal
                && self.now_s - self.last_change_s > self.config.failing_step_hold_s
            {
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
        if self.trial.is_some() || self.stats.seconds < self.config.min_evidence_s {
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

    fn shed_visualizer(&mut self, risk: f32, gui_frame_ms: Option<f32>) {
        let slow_gui = gui_frame_ms.is_some_and(|ms| ms > self.config.gui_frame_budget_ms);
        let since = self.now_s - self.last_vis_change_s;
        if (risk > self.config.risk_vis || slow_gui)
            && self.vis > VisTier::Off
            && since > self.config.vis_shed_hold_s
        {
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
        } else if risk < self.config.vis_raise_risk_max
            && !slow_gui
            && self.vis < VisTier::Full
            && self.vis_breaker.allows_trial(self.now_s)
            && since > self.config.vis_raise_hold_s
        {
            self.vis = self.vis.up();
            self.last_vis_change_s = self.now_s;
            self.vis_breaker.start_trial();
            if self.vis == VisTier::Full {
                self.vis_breaker.succeed();
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
            until_s: self.now_s + self.config.trial_s * self.config.safe_trial_scale,
        });
        self.set_level(to, true);
        self.stats.reset();
    }

    fn dropout(&mut self, r: &BlockRecord) {
        let window_s = self.config.dropout_window_s;
        // A run of dropouts (an overloaded host drops every other cycle), each within a second
        // of the last, is one incident that counts them, so that it cannot push what Salve did
        // out of the log.
        const RUN_GAP_S: f64 = 1.0;
        let previous = self.dropout_times.latest();
        let open = self
            .log
            .iter()
            .next_back()
            .filter(|i| i.kind == IncidentKind::Dropout)
            .map(|i| i.id);
        match open {
            Some(id) if previous.is_some_and(|t| self.now_s - t <= RUN_GAP_S) => {
                if let Some(i) = self.log.get_mut(id) {
                    i.repeats += 1;
                }
            }
            _ => {
                self.incident(IncidentKind::Dropout, Action::Observe, 0.0);
            }
        }
        self.dropout_times.push(self.now_s);
        let recent = self.dropout_times.count_since(self.now_s - window_s);
        if recent >= self.config.dropouts_advice
            && self.stats.fast < self.config.dropout_own_load_max
        {
            self.recommend(Recommendation::HostDropouts {
                per_minute: recent as f32 * (60.0 / window_s) as f32,
                block: r.samples,
            });
        }
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
