//! What the healer remembers: the incident log, which strategy worked for which kind of incident,
//! and the conditions ("fingerprints") under which a quality level proved sustainable. All of it
//! is bounded: a fixed-size ring and fixed-size tables.

use super::level::Level;
use serde::{Deserialize, Serialize};

/// How many incidents the log keeps.
pub const INCIDENT_CAPACITY: usize = 32;
/// How many fingerprints the healer remembers.
pub const FINGERPRINT_CAPACITY: usize = 16;

/// What kind of trouble an incident was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum IncidentKind {
    /// Salve's own processing approaching or passing its budget.
    Overload,
    /// Isolated overruns whose extra time does not scale with Salve's work: something else
    /// interrupted the audio thread.
    OutsideSpike,
    /// The host's callbacks arrived late or skipped audio.
    Dropout,
    /// The DSP produced NaN/Inf and was restarted.
    NonFinite,
    /// The DSP panicked.
    Panic,
    /// The editor's frames took longer than their budget.
    SlowGui,
    /// The previous session ended without a clean shutdown.
    Crash,
    /// The healer's own tick panicked; the audio kept the last decision.
    HealerFault,
    /// The crash journal could not be written (disk full, read-only).
    Journal,
}

impl IncidentKind {
    pub const COUNT: usize = 9;

    pub fn label(self) -> &'static str {
        match self {
            IncidentKind::Overload => "Overload",
            IncidentKind::OutsideSpike => "Outside interruption",
            IncidentKind::Dropout => "Host dropout",
            IncidentKind::NonFinite => "Invalid audio (NaN)",
            IncidentKind::Panic => "DSP crash",
            IncidentKind::SlowGui => "Slow display",
            IncidentKind::Crash => "Unexpected shutdown",
            IncidentKind::HealerFault => "Healer fault",
            IncidentKind::Journal => "Journal not written",
        }
    }
}

/// What the healer did about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Watched and recorded only.
    Observe,
    /// Lowered the quality level.
    StepDown { from: Level, to: Level },
    /// Switched to safe mode.
    SafeMode,
    /// Lowered the visualizer.
    ShedVisualizer,
    /// Gave back a downgrade that did not help.
    Revert { to: Level },
    /// Told the user what to do.
    Recommend,
    /// In monitor-only mode: what it would have done.
    WouldStepDown { from: Level, to: Level },
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pending,
    /// The trouble stopped.
    Recovered,
    /// The action did not stop it.
    NotHelping,
}

/// The strategies whose success the healer learns per incident kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Strategy {
    StepDown,
    SafeMode,
    ShedVisualizer,
}

impl Strategy {
    pub const COUNT: usize = 3;
}

/// One incident: when, what, the signals that showed it, what was done and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u32,
    /// When it was detected (seconds since the session started).
    pub at_s: f64,
    pub kind: IncidentKind,
    pub load: f32,
    pub p99: f32,
    pub risk: f32,
    pub level: Level,
    pub action: Action,
    pub outcome: Outcome,
    /// From the first sign to the detection, in seconds.
    pub time_to_detect_s: f32,
    /// From the detection to the end of the trouble, in seconds (when it ended).
    pub time_to_recover_s: Option<f32>,
    /// How many more times the same thing happened while this incident was open (a journal
    /// that keeps failing is one incident, not one a minute).
    #[serde(default)]
    pub repeats: u32,
}

impl Incident {
    /// A typical incident for tests and benchmarks: an overload at 16x, stepped down to 8x,
    /// recovered in 1.5 s, detected `id` seconds into the session.
    #[doc(hidden)]
    pub fn example(id: u32) -> Self {
        Self {
            id,
            at_s: id as f64,
            kind: IncidentKind::Overload,
            load: 0.9,
            p99: 1.1,
            risk: 0.4,
            level: Level::Ultra,
            action: Action::StepDown {
                from: Level::Ultra,
                to: Level::High,
            },
            outcome: Outcome::Recovered,
            time_to_detect_s: 0.02,
            time_to_recover_s: Some(1.5),
            repeats: 0,
        }
    }
}

/// The last [`INCIDENT_CAPACITY`] incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentLog {
    entries: Vec<Incident>,
    next_id: u32,
}

impl IncidentLog {
    /// Records an incident, dropping the oldest when full; returns its id.
    pub fn push(&mut self, mut incident: Incident) -> u32 {
        incident.id = self.next_id;
        self.next_id += 1;
        if self.entries.len() == INCIDENT_CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push(incident);
        incident.id
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Incident> {
        self.entries.iter_mut().find(|i| i.id == id)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Incident> {
        self.entries.iter()
    }

    /// The incidents of one kind, oldest first.
    pub fn of_kind(&self, kind: IncidentKind) -> impl DoubleEndedIterator<Item = &Incident> {
        self.entries.iter().filter(move |i| i.kind == kind)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Incidents ever recorded (including those the ring has dropped).
    pub fn total(&self) -> u32 {
        self.next_id
    }
}

/// Attempts and successes of a strategy for a kind of incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub attempts: u32,
    pub successes: u32,
}

impl Tally {
    /// Laplace-smoothed success rate: 0.5 with no evidence.
    pub fn rate(&self) -> f32 {
        (self.successes as f32 + 1.0) / (self.attempts as f32 + 2.0)
    }
}

/// The conditions a learned fix applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub sample_rate: u32,
    pub block_size: u32,
    /// The user's ceiling.
    pub ceiling: Level,
}

/// A level that proved sustainable under a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnedLevel {
    pub fingerprint: Fingerprint,
    pub level: Level,
    /// Sessions that confirmed it.
    pub confirmations: u32,
    /// When it was last used (the healer's session counter), to forget the least recent.
    pub last_session: u32,
}

/// Everything learned, carried across sessions by the checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    /// `[kind][strategy]`.
    pub tallies: [[Tally; Strategy::COUNT]; IncidentKind::COUNT],
    pub fingerprints: Vec<LearnedLevel>,
    /// Sessions started with this memory.
    pub sessions: u32,
}

impl Learned {
    pub fn tally(&self, kind: IncidentKind, strategy: Strategy) -> Tally {
        self.tallies[kind as usize][strategy as usize]
    }

    pub fn record(&mut self, kind: IncidentKind, strategy: Strategy, success: bool) {
        let t = &mut self.tallies[kind as usize][strategy as usize];
        t.attempts += 1;
        t.successes += success as u32;
    }

    pub fn level_for(&self, fp: &Fingerprint) -> Option<Level> {
        self.fingerprints
            .iter()
            .find(|l| l.fingerprint == *fp)
            .map(|l| l.level)
    }

    /// Remembers that `level` is what `fp` sustains (replacing the least recently used entry
    /// when the table is full).
    pub fn learn_level(&mut self, fp: Fingerprint, level: Level) {
        let session = self.sessions;
        if let Some(e) = self.fingerprints.iter_mut().find(|l| l.fingerprint == fp) {
            if e.level == level {
                e.confirmations += 1;
            } else {
                e.level = level;
                e.confirmations = 1;
            }
            e.last_session = session;
            return;
        }
        let entry = LearnedLevel {
            fingerprint: fp,
            level,
            confirmations: 1,
            last_session: session,
        };
        if self.fingerprints.len() < FINGERPRINT_CAPACITY {
            self.fingerprints.push(entry);
        } else if let Some(oldest) = self.fingerprints.iter_mut().min_by_key(|l| l.last_session) {
            *oldest = entry;
        }
    }

    /// Forgets a fingerprint (the level became sustainable again at the ceiling).
    pub fn forget_level(&mut self, fp: &Fingerprint) {
        self.fingerprints.retain(|l| l.fingerprint != *fp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Incident {
        Incident {
            id: 0,
            at_s: 0.0,
            kind: IncidentKind::Overload,
            load: 1.0,
            p99: 1.0,
            risk: 1.0,
            level: Level::Ultra,
            action: Action::Observe,
            outcome: Outcome::Pending,
            time_to_detect_s: 0.0,
            time_to_recover_s: None,
            repeats: 0,
        }
    }

    #[test]
    fn the_log_is_a_bounded_ring() {
        let mut log = IncidentLog::default();
        for _ in 0..100 {
            log.push(incident());
        }
        assert_eq!(log.len(), INCIDENT_CAPACITY);
        assert_eq!(log.total(), 100);
        assert_eq!(
            log.iter().next().unwrap().id,
            100 - INCIDENT_CAPACITY as u32
        );
    }

    #[test]
    fn fingerprints_are_bounded_and_replace_the_least_recent() {
        let mut l = Learned::default();
        for i in 0..(FINGERPRINT_CAPACITY as u32 + 4) {
            l.sessions = i;
            l.learn_level(
                Fingerprint {
                    sample_rate: 48_000,
                    block_size: i,
                    ceiling: Level::Ultra,
                },
                Level::High,
            );
        }
        assert_eq!(l.fingerprints.len(), FINGERPRINT_CAPACITY);
        assert!(l.fingerprints.iter().all(|f| f.fingerprint.block_size >= 4));
    }

    #[test]
    fn tallies_start_neutral_and_learn() {
        let mut l = Learned::default();
        assert_eq!(
            l.tally(IncidentKind::Overload, Strategy::StepDown).rate(),
            0.5
        );
        l.record(IncidentKind::OutsideSpike, Strategy::StepDown, false);
        l.record(IncidentKind::OutsideSpike, Strategy::StepDown, false);
        assert!(
            l.tally(IncidentKind::OutsideSpike, Strategy::StepDown)
                .rate()
                < 0.3
        );
    }
}
