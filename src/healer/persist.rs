//! The healer's part of checkpoints: the plain value it saves of itself ([`Saved`]) and takes
//! back ([`Restore`]), how it recovers from a crash (or a loop of them), and the journal's own
//! incidents.
//!
//! The healer knows nothing of formats, files or the plugin state: a [`Keeper`] (the checkpoint
//! module's `Checkpointer`) reads what it saves and brings it [`News`], which the healer applies
//! itself. So the dependency runs one way, checkpoint → healer.

use super::*;

/// Crash times kept in a checkpoint (more say nothing new).
const MAX_CRASHES_KEPT: usize = 8;

/// What the healer saves of a session: plain data, for the checkpoint module to serialize.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub mode: Mode,
    /// The level playing.
    pub level: Level,
    /// The last level that held without trouble.
    pub known_good: Level,
    pub breakers: [Breaker; 6],
    pub learned: Learned,
    /// The last incidents, oldest first.
    pub incidents: Vec<Incident>,
    /// The healer's own time, in seconds: the breakers' and incidents' times are on it.
    pub session_s: f64,
    /// When the recent crashes in a row happened (Unix seconds), oldest first.
    pub crashes_wall_s: Vec<u64>,
}

/// A saved session to take over.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    pub saved: Saved,
    /// When it was saved (Unix seconds).
    pub wall_time_s: u64,
    /// Whether the session that saved it ended in a crash (only the journal can tell).
    pub crashed: bool,
}

/// What the keeper of checkpoints has to tell the healer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct News {
    /// How the last journal write went, if one was made since the last news.
    pub journal_written: Option<bool>,
    /// A session to restore: the host loaded a state, or the journal holds a newer one.
    pub restore: Option<Restore>,
    /// Words for the panel: a state that could not be read, a session from the journal.
    pub notice: Option<String>,
}

/// Keeps one instance's checkpoints: the fleet thread drives it each tick through the healer
/// ([`Healer::checkpoint_tick`]), without knowing how or where it writes.
pub trait Keeper: Send {
    /// What happened since the last look: a state the host loaded, the last journal write.
    fn news(&mut self) -> News;
    /// Saves the session into the plugin state if a checkpoint is due; the journal write waits
    /// for [`Keeper::flush`]. `realtime` says whether realtime audio played since the last call.
    fn save(&mut self, healer: &Healer, realtime: bool);
    /// Writes the waiting checkpoint into the journal (its outcome comes with the next news).
    fn flush(&mut self);
    /// Whether a checkpoint waits for [`Keeper::flush`].
    fn has_pending(&self) -> bool;
    /// A clean shutdown: the final checkpoint (the healer has ended its crash loop), written at
    /// once, if this session wrote any; returns whether the journal took it.
    fn finish(&mut self, healer: &Healer) -> Option<bool>;
    /// Whether this session has written a checkpoint.
    fn wrote(&self) -> bool;
    /// When this session last wrote a checkpoint (Unix seconds).
    fn last_write_wall_s(&self) -> Option<u64>;
    /// Routine checkpoints at most this often (seconds): the fleet spreads the journal writes
    /// of many instances.
    fn spread_routine_writes(&mut self, min_interval_s: f64);
}

impl Healer {
    /// What the healer saves of the session now.
    pub fn export(&self) -> Saved {
        Saved {
            mode: self.mode,
            level: self.level,
            known_good: self.known_good,
            breakers: self.breakers,
            learned: self.learned.clone(),
            incidents: self.log.iter().copied().collect(),
            session_s: self.now_s,
            crashes_wall_s: self.crashes_wall_s.clone(),
        }
    }

    /// Applies what the keeper found: the journal's outcome first, then a restore, then its
    /// words for the panel.
    pub fn hear(&mut self, news: News, ceiling: Level) {
        self.hear_journal(news.journal_written);
        if let Some(r) = &news.restore {
            self.restore(r, ceiling);
        }
        if news.notice.is_some() {
            self.notice = news.notice;
        }
    }

    fn hear_journal(&mut self, written: Option<bool>) {
        match written {
            Some(true) => self.record_journal_written(),
            Some(false) => self.record_journal_failure(),
            None => {}
        }
    }

    /// One tick's checkpoint work but the disk (the fleet flushes every instance's journal in
    /// one batch, with no healer locked): hear the keeper's news, then let it save.
    pub fn checkpoint_tick(&mut self, keeper: &mut dyn Keeper, realtime: bool, ceiling: Level) {
        self.hear(keeper.news(), ceiling);
        keeper.save(self, realtime);
    }

    /// [`Healer::checkpoint_tick`] with the journal written at once, and its outcome heard.
    pub fn checkpoint_now(&mut self, keeper: &mut dyn Keeper, realtime: bool, ceiling: Level) {
        self.checkpoint_tick(keeper, realtime, ceiling);
        keeper.flush();
        self.hear(keeper.news(), ceiling);
    }

    /// A clean shutdown: the crash loop ends and the keeper writes the final checkpoint.
    pub fn checkpoint_finish(&mut self, keeper: &mut dyn Keeper) {
        if keeper.wrote() {
            self.end_crash_loop();
        }
        let written = keeper.finish(self);
        self.hear_journal(written);
    }

    /// A clean shutdown ends a crash loop.
    pub fn end_crash_loop(&mut self) {
        self.crashes_wall_s.clear();
    }

    /// Takes over a restored checkpoint. Its breakers and incidents are moved onto this
    /// healer's time base (an open breaker keeps its remaining time, bounded).
    ///
    /// `crashed` says whether the session that saved it ended in a crash, which only the journal
    /// can tell. Then the session starts at the last known-good level, not the one playing at the
    /// crash, with that level's breaker open and the crash recorded. Crashes close together
    /// ([`HealerConfig::crash_loop_window_s`]) are a loop: the second restart is one level lower
    /// than the first, the third and later ones start in safe mode for
    /// [`HealerConfig::crash_safe_hold_s`].
    pub fn restore(&mut self, restore: &Restore, ceiling: Level) {
        let cp = &restore.saved;
        let crashed = restore.crashed;
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
        let crash_at = restore.wall_time_s;
        self.crashes_wall_s.retain(|&t| {
            crash_at.saturating_sub(t) <= self.config.crash_loop_window_s && t <= crash_at
        });
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
                until_s: self.now_s + self.config.crash_safe_hold_s,
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
        let when = crate::wall_clock::text(crash_at);
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
