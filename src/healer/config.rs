//! The healer's tunables ([`HealerConfig`]); the defaults are what the plugin uses.

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
    /// Seconds of audio the statistics need before a step down is judged on them, or a level's
    /// baseline is learned: a few blocks, so that one block's jitter decides nothing.
    pub min_evidence_s: f64,
    /// Seconds a level must hold without trouble to count as known-good (where a session
    /// restarts after a crash): long enough to have met the session's usual peaks.
    pub known_good_s: f64,
    /// An overrun is taken for an outside spike only while Salve's usual load (the fast mean)
    /// is below this: a busy Salve overrunning is its own doing.
    pub spike_usual_load_max: f32,
    /// ...and only if the next block's load is back below this (the near-miss line): an isolated
    /// overrun, not the start of an overload.
    pub spike_next_load_max: f32,
    /// A level that keeps failing blocks is stepped down first, not sent to safe mode, if it has
    /// held this long (seconds): long enough for the last change's crossfade to be over.
    pub failing_step_hold_s: f64,
    /// The visualizer is shed at most once per this many seconds (each step must show its
    /// effect on the load first)...
    pub vis_shed_hold_s: f64,
    /// ...and raised again only when the risk is below this and the last change is
    /// [`HealerConfig::vis_raise_hold_s`] old: drawing more must not bring the risk back.
    pub vis_raise_risk_max: f32,
    pub vis_raise_hold_s: f64,
    /// The first trial out of safe mode lasts this many times [`HealerConfig::trial_s`]: the
    /// engine restarts its tier, which takes longer to judge than a step between tiers.
    pub safe_trial_scale: f64,
    /// Host dropouts within [`HealerConfig::dropout_window_s`] that, with Salve's own load below
    /// [`HealerConfig::dropout_own_load_max`], make Salve advise a larger buffer: the host is
    /// late, and Salve's quality is not the cause.
    pub dropouts_advice: usize,
    pub dropout_window_s: f64,
    pub dropout_own_load_max: f32,
    /// Without learned baselines, each factor step up is taken to cost at least this many times
    /// the one below (Salve's own cost grows x1.7-x2.2 per step; measured ratios are only
    /// trusted where more cautious than this floor).
    pub cost_per_step_min: f32,
    /// A trial (or a raise) needs the risk below this: a level up must start from calm.
    pub raise_risk_max: f32,
    /// Stepping down helped against outside spikes if their extra time shrank below this share
    /// of what it was before.
    pub spike_helped_share: f32,
    /// Outside spikes are answered with a step down while stepping down helped in at least this
    /// share of the earlier tries (an untried strategy counts as worth one try)...
    pub spike_step_rate_min: f32,
    /// ...and only once they repeat: this many within [`HealerConfig::spike_repeat_window_s`]
    /// (one spike alone is the host's business; a few in a row may be a pattern worth a step).
    pub spike_repeats: usize,
    pub spike_repeat_window_s: f64,
    /// The time constant (seconds of audio) with which a level's baseline load follows its
    /// blocks: slow enough that one busy block moves it little, fast enough to follow a session
    /// that changed within seconds.
    pub baseline_tau_s: f32,
    /// Crashes at most this far apart (wall-clock seconds) count as one loop: a host that
    /// crashes again within ten minutes of a restart is crashing for the same reason.
    pub crash_loop_window_s: u64,
    /// How long the third crash in a row keeps Salve in safe mode before it tries its sound
    /// again (seconds): long enough for the session to load and settle.
    pub crash_safe_hold_s: f64,
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
            min_evidence_s: 0.05,
            known_good_s: 5.0,
            spike_usual_load_max: 0.7,
            spike_next_load_max: 0.8,
            failing_step_hold_s: 0.5,
            vis_shed_hold_s: 0.5,
            vis_raise_risk_max: 0.01,
            vis_raise_hold_s: 3.0,
            safe_trial_scale: 2.0,
            dropouts_advice: 3,
            dropout_window_s: 30.0,
            dropout_own_load_max: 0.5,
            cost_per_step_min: 1.5,
            raise_risk_max: 0.01,
            spike_helped_share: 0.7,
            spike_step_rate_min: 0.4,
            spike_repeats: 2,
            spike_repeat_window_s: 10.0,
            baseline_tau_s: 1.0,
            crash_loop_window_s: 600,
            crash_safe_hold_s: 60.0,
        }
    }
}
