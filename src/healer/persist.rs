//! The healer's part of checkpoints: what it saves of itself, how it restores a saved session
//! (and recovers from a crash, or a loop of them), and the journal's own incidents.

use super::*;

/// Crashes at most this far apart (wall-clock seconds) count as one loop.
pub const CRASH_LOOP_WINDOW_S: u64 = 600;
/// How long the third crash in a row keeps Salve in safe mode before it tries its sound again.
pub const CRASH_SAFE_HOLD_S: f64 = 60.0;
/// Crash times kept in a checkpoint (more say nothing new).
const MAX_CRASHES_KEPT: usize = 8;

impl Healer {
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

    pub(super) fn open_journal_incident(&self) -> Option<u32> {
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
}
