//! The outside-spike experiment: when isolated overruns come from outside Salve, one step down
//! tells whether shedding helps; if the spikes do not shrink, the quality comes back and the user
//! is told what would help instead.

use super::*;

/// An outside-spike experiment: a step down to see whether the spikes shrink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Experiment {
    pub(super) from: Level,
    pub(super) excess_before_s: f32,
    pub(super) incident: u32,
}

impl Healer {
    /// An isolated overrun: was it something outside Salve?
    pub(super) fn outside_spike(&mut self, at_s: f64, load: f32, baseline: f32, block_s: f32) {
        let excess_s = (load - baseline).max(0.0) * block_s;
        let period = self.spike_times.latest().map(|t| (at_s - t) as f32);
        self.spike_times.push(at_s);
        let block = self.fingerprint.map_or(0, |f| f.block_size);

        if let Some(exp) = self.experiment.take() {
            // A spike while stepped down: did stepping down shrink the extra time?
            let helped = excess_s < self.config.spike_helped_share * exp.excess_before_s;
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
        let repeated = self
            .spike_times
            .count_since(at_s - self.config.spike_repeat_window_s)
            >= self.config.spike_repeats;
        if repeated
            && tally.rate() >= self.config.spike_step_rate_min
            && self.level > Level::Minimal
        {
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
}
