//! Raising the quality again by trial: a level up is predicted from what each level was seen
//! to cost, tried for a while, and judged; a failed trial trips the level's breaker.

use super::*;

/// The window of [`HealerConfig::max_changes_per_minute`].
const SECONDS_PER_MINUTE: f64 = 60.0;

/// A trial of a higher level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Trial {
    pub(super) from: Level,
    pub(super) to: Level,
    pub(super) until_s: f64,
}

impl Healer {
    /// The predicted p99 load at `to`, from the p99 now at `from` and the cost ratio between the
    /// levels.
    pub(super) fn predict_p99(&self, from: Level, to: Level) -> f32 {
        self.stats.p99().max(self.stats.fast) * self.cost_ratio(from, to)
    }

    /// The predicted p99 load one level up, for a trial: Salve's own typical load (the slow
    /// mean) grows with the cost ratio, but the tail above it, which on a real machine is mostly
    /// the system's own scheduling jitter, does not. (Scaling the whole p99 kept a machine with
    /// a noisy scheduler at the lowest level for good: the chaos runner showed it.)
    pub(super) fn predict_p99_up(&self, from: Level, to: Level) -> f32 {
        let p99 = self.stats.p99().max(self.stats.fast);
        let own = self.stats.slow.min(p99);
        own * self.cost_ratio(from, to) + (p99 - own)
    }

    /// Salve's cost at `to` relative to `from`: learned baselines where known, otherwise x2 per
    /// factor step.
    pub(super) fn cost_ratio(&self, from: Level, to: Level) -> f32 {
        if to == from {
            return 1.0;
        }
        let (bf, bt) = (self.baseline[from as usize], self.baseline[to as usize]);
        let steps = to as i32 - from as i32;
        // Baselines measured at different times may come from different conditions (a slowdown
        // since then), so the measured ratio is only trusted where it is more cautious than a
        // floor of x1.5 per factor step (Salve's own cost grows by x1.7-x2.2 per step).
        let floor = self.config.cost_per_step_min.powi(steps);
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

    pub(super) fn judge_trial(&mut self, risk: f32) {
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

    pub(super) fn try_upgrade(&mut self, risk: f32, ceiling: Level) {
        let next = self.level.up();
        if self.trial.is_some()
            || self.level == Level::Safe
            || self.level >= ceiling
            || self.overload.is_some() && risk > self.config.risk_vis
            || self.now_s - self.last_change_s < self.config.hold_s
            || self.stats.seconds < self.config.hold_s
            || !self.breakers[next as usize].allows_trial(self.now_s)
            // A trial is two changes if it fails (up, then back down): both must fit.
            || self.changes.count_since(self.now_s - SECONDS_PER_MINUTE) + 2
                > self.config.max_changes_per_minute
            || risk > self.config.raise_risk_max
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
}
