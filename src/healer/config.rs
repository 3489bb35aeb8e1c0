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
