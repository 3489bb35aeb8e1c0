//! Checkpoints: the session's healing state (tiers, breakers, what was learned, the last
//! incidents), serialized with rmp-serde behind a versioned, checksummed header. The latest one
//! rides in the plugin state (a persisted field, so every host save and autosave carries it) and
//! in a crash journal on disk ([`journal`]); after a crash Salve restores it and starts safe.
//!
//! Only the fleet thread (and an instance leaving the fleet) builds, writes and reads checkpoints;
//! the audio thread never does.

pub mod journal;

use crate::healer::breaker::Breaker;
use crate::healer::learning::{Incident, Learned};
use crate::healer::level::Level;
use crate::healer::{Healer, Keeper, Mode, News, Restore, Saved};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The format version this Salve writes. Older versions are migrated on load; newer ones are
/// kept unread (see [`Persisted`]).
pub const FORMAT_VERSION: u16 = 1;
/// Marks a Salve checkpoint.
pub const MAGIC: [u8; 4] = *b"SLVC";
/// `MAGIC`, version (u16), payload length (u32), CRC-32 of the payload (u32).
pub const HEADER_LEN: usize = 14;
/// A payload larger than this is refused unread (a hostile length cannot make Salve allocate).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The session's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Stable across saves and reloads of the same plugin instance.
    pub instance_id: u64,
    /// Increases with every checkpoint of the session.
    pub generation: u64,
    /// Wall-clock time of the checkpoint, seconds since the Unix epoch.
    pub wall_time_s: u64,
    pub mode: Mode,
    /// The level playing at the checkpoint.
    pub level: Level,
    /// The last level that held without trouble.
    pub known_good: Level,
    pub breakers: [Breaker; 6],
    pub learned: Learned,
    /// The last incidents, oldest first.
    pub incidents: Vec<Incident>,
    /// True while a session runs; a clean shutdown writes a final checkpoint with it cleared.
    /// On its own it proves nothing (hosts save while playing): only the journal can tell a
    /// crash, when its newest checkpoint of the instance still says "running".
    pub running: bool,
    /// The healer's own time at the checkpoint, in seconds. The breakers' and incidents' times
    /// are on that time base; a restore moves them onto its own (absent before Salve 0.1.1: the
    /// breakers' remaining times are then only bounded).
    #[serde(default)]
    pub session_s: f64,
    /// When the recent crashes in a row happened (Unix seconds), oldest first: a crash loop
    /// restarts lower each time.
    #[serde(default)]
    pub crashes_wall_s: Vec<u64>,
    /// Set in the journal only, on an instance's last checkpoint once another instance took its
    /// session over: where its story goes on (see [`choose`]).
    #[serde(default)]
    pub successor: Option<u64>,
}

/// Why checkpoint bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// Shorter than its header or its declared length.
    Truncated,
    /// Not a Salve checkpoint.
    NotACheckpoint,
    /// Written by a newer Salve.
    FutureVersion(u16),
    /// The checksum does not match: the bytes were damaged.
    Corrupt,
    /// The checksum matches but the contents make no sense (or the length is absurd).
    Malformed(String),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Truncated => write!(f, "it is incomplete"),
            CheckpointError::NotACheckpoint => write!(f, "it is not Salve session data"),
            CheckpointError::FutureVersion(v) => {
                write!(f, "it was written by a newer Salve (format {v})")
            }
            CheckpointError::Corrupt => write!(f, "it is damaged (checksum mismatch)"),
            CheckpointError::Malformed(e) => write!(f, "its contents are invalid ({e})"),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl Checkpoint {
    /// The checkpoint of a healer's saved session, stamped now.
    pub fn of(saved: Saved, instance_id: u64, generation: u64, running: bool) -> Self {
        let Saved {
            mode,
            level,
            known_good,
            breakers,
            learned,
            incidents,
            session_s,
            crashes_wall_s,
        } = saved;
        Checkpoint {
            instance_id,
            generation,
            wall_time_s: crate::wall_clock::now_s(),
            mode,
            level,
            known_good,
            breakers,
            learned,
            incidents,
            running,
            session_s,
            crashes_wall_s,
            successor: None,
        }
    }

    /// The healer's part of it, to restore; `crashed` says whether its session crashed.
    pub fn to_restore(&self, crashed: bool) -> Restore {
        Restore {
            saved: Saved {
                mode: self.mode,
                level: self.level,
                known_good: self.known_good,
                breakers: self.breakers,
                learned: self.learned.clone(),
                incidents: self.incidents.clone(),
                session_s: self.session_s,
                crashes_wall_s: self.crashes_wall_s.clone(),
            },
            wall_time_s: self.wall_time_s,
            crashed,
        }
    }

    /// Whether `other` says the same of the session: all but its number, its time and the
    /// healer's clock.
    pub fn same_session_as(&self, other: &Checkpoint) -> bool {
        let strip = |c: &Checkpoint| Checkpoint {
            generation: 0,
            wall_time_s: 0,
            session_s: 0.0,
            ..c.clone()
        };
        strip(self) == strip(other)
    }

    /// The bytes: header and rmp-serde payload. Deterministic for the same checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let payload = rmp_serde::to_vec(self).expect("a checkpoint always serializes");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Validates and decodes; never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.len() < HEADER_LEN {
            return Err(if MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
                CheckpointError::Truncated
            } else {
                CheckpointError::NotACheckpoint
            });
        }
        if bytes[..4] != MAGIC {
            return Err(CheckpointError::NotACheckpoint);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let len = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
        let crc = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
        if version > FORMAT_VERSION {
            return Err(CheckpointError::FutureVersion(version));
        }
        if len > MAX_PAYLOAD {
            return Err(CheckpointError::Malformed(format!("{len} bytes declared")));
        }
        let payload = bytes
            .get(HEADER_LEN..HEADER_LEN + len)
            .ok_or(CheckpointError::Truncated)?;
        if crc32fast::hash(payload) != crc {
            return Err(CheckpointError::Corrupt);
        }
        // Every version this Salve knows (1) decodes the same way; a future format change
        // decodes the old layout here and migrates it.
        rmp_serde::from_slice(payload).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }

    /// The checkpoint as text for the plugin state (base64).
    pub fn to_text(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.encode())
    }

    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| CheckpointError::NotACheckpoint)?;
        Self::decode(&bytes)
    }
}

/// The persisted field in the plugin state: the latest checkpoint as text, and, when the host
/// handed Salve a checkpoint it could not read, those bytes unchanged, so that the next save
/// loses nothing (a newer Salve can still read them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved: Option<String>,
    /// Which value this is, unique in the process: every value the host loads (deserializes)
    /// gets a new one, so the checkpointer compares the text (kilobytes, cold in the cache, for
    /// every instance at every tick) only when the host has set the field. Not saved.
    #[serde(skip, default = "next_stamp")]
    stamp: u64,
}

fn next_stamp() -> u64 {
    static STAMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    STAMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Default for Persisted {
    fn default() -> Self {
        Self {
            current: None,
            preserved: None,
            stamp: next_stamp(),
        }
    }
}

impl PartialEq for Persisted {
    /// The same texts (the stamp says where a value came from, not what it holds).
    fn eq(&self, other: &Self) -> bool {
        self.current == other.current && self.preserved == other.preserved
    }
}

impl Eq for Persisted {}

/// A plugin instance's own id, unique among the live instances of this process and random
/// across processes. Every live instance has its own: a duplicated track, a pasted plugin or a
/// host default preset loads another instance's checkpoint, but never its id, so no two live
/// instances write the same journal files. Registered while alive, so that a checkpoint of a live
/// instance is never taken for the remains of a crash.
#[derive(Debug)]
pub struct InstanceId(u64);

/// The ids of the live instances in this process (touched at creation, drop and restore; never
/// on the audio thread).
static LIVE_IDS: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

impl InstanceId {
    pub fn new() -> Self {
        let mut live = crate::sync::lock(&LIVE_IDS);
        let mut id = random_id();
        while live.contains(&id) {
            id = random_id();
        }
        live.push(id);
        Self(id)
    }

    pub fn get(&self) -> u64 {
        self.0
    }

    /// Whether an instance with this id is alive in this process.
    pub fn is_live(id: u64) -> bool {
        crate::sync::lock(&LIVE_IDS).contains(&id)
    }
}

impl Default for InstanceId {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InstanceId {
    fn drop(&mut self) {
        crate::sync::lock(&LIVE_IDS).retain(|&id| id != self.0);
    }
}

/// A random id (std's randomly keyed hasher over the time and the process id).
fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Where a restored session came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The checkpoint in the host's saved state.
    Host,
    /// A newer checkpoint of the same instance in the crash journal.
    Journal,
    /// Nothing usable: a fresh session.
    Defaults,
}

/// The outcome of reading a loaded state's checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub checkpoint: Option<Checkpoint>,
    pub source: Source,
    /// Text for the health panel when something could not be used.
    pub problem: Option<String>,
    /// The host's checkpoint text when it could not be read: kept to hand back unchanged.
    pub unreadable: Option<String>,
}

/// Chooses what to restore from the host's persisted field and the journal: the host's
/// checkpoint, unless the journal has a newer one of the same instance, or of an instance that
/// took its session over since (the journal's successor links); on a checkpoint that cannot be
/// read, the defaults (its text is kept, never overwritten).
pub fn choose(persisted: &Persisted, journal: Option<&journal::Journal>) -> Restored {
    let Some(text) = &persisted.current else {
        return Restored {
            checkpoint: None,
            source: Source::Defaults,
            problem: None,
            unreadable: None,
        };
    };
    match Checkpoint::from_text(text) {
        Ok(host) => {
            let newer = journal
                .and_then(|j| j.newest_in_line(host.instance_id))
                .filter(|j| j.instance_id != host.instance_id || j.generation > host.generation);
            match newer {
                Some(j) => Restored {
                    checkpoint: Some(j),
                    source: Source::Journal,
                    problem: None,
                    unreadable: None,
                },
                None => Restored {
                    checkpoint: Some(host),
                    source: Source::Host,
                    problem: None,
                    unreadable: None,
                },
            }
        }
        Err(e) => Restored {
            checkpoint: None,
            source: Source::Defaults,
            problem: Some(format!(
                "Salve's saved session data could not be read: {e}. Your settings are kept; the \
                 healing history starts afresh, and the unreadable data is saved back unchanged."
            )),
            unreadable: Some(text.clone()),
        },
    }
}

/// How often a running session is checkpointed (when it processed audio), in seconds, unless
/// the fleet spreads the writes of many instances further apart; each instance at its own
/// 0.5-1.5 times this (see `Checkpointer::spread`).
pub const CHECKPOINT_INTERVAL_S: f64 = 3.0;
/// A checkpoint with nothing new is still written this often (wall-clock seconds).
pub const HEARTBEAT_S: u64 = 60;

/// The checkpoint duty of one instance, the healer's [`Keeper`]: notices a state the host loaded
/// and brings it to the healer to restore, writes
/// checkpoints into the plugin state and the journal every few seconds and after significant
/// incidents (only while audio is processed, so that loading and saving a state without playing
/// gives back identical bytes), and writes the final one at a clean shutdown.
pub struct Checkpointer {
    session: std::sync::Arc<std::sync::Mutex<Persisted>>,
    journal: Option<journal::Journal>,
    /// This instance's own id: every checkpoint it writes carries it, whatever it restored.
    instance_id: InstanceId,
    generation: u64,
    last_seen: Option<String>,
    /// The [`Persisted`] value last looked at (its stamp).
    stamp_seen: u64,
    unreadable: Option<String>,
    last_write_s: f64,
    /// The routine interval (see [`Keeper::spread_routine_writes`]), before this instance's
    /// own factor ([`Checkpointer::spread`]).
    interval_s: f64,
    incidents_seen: u32,
    dirty: bool,
    urgent: bool,
    wrote: bool,
    last_wall_s: Option<u64>,
    /// Written into the plugin state, not yet into the journal (see [`Checkpointer::flush`]).
    pending: Option<Checkpoint>,
    /// Whether the last journal write worked, until the healer is told.
    journal_outcome: Option<bool>,
    /// The host loaded a state since the last save: the healer's incidents count afresh from
    /// what it restored.
    restored: bool,
    /// The last checkpoint written, to skip the ones that say nothing new.
    last_written: Option<Checkpoint>,
}

impl Checkpointer {
    pub fn new(
        session: std::sync::Arc<std::sync::Mutex<Persisted>>,
        journal: Option<journal::Journal>,
    ) -> Self {
        Self {
            session,
            journal,
            instance_id: InstanceId::new(),
            generation: 0,
            last_seen: None,
            stamp_seen: 0,
            unreadable: None,
            last_write_s: f64::NEG_INFINITY,
            interval_s: CHECKPOINT_INTERVAL_S,
            incidents_seen: 0,
            dirty: false,
            urgent: false,
            wrote: false,
            last_wall_s: None,
            pending: None,
            journal_outcome: None,
            restored: false,
            last_written: None,
        }
    }

    /// This instance's id, as its checkpoints and journal files carry it.
    pub fn instance_id(&self) -> u64 {
        self.instance_id.get()
    }

    /// This instance's own factor on the routine interval, 0.5-1.5, from its id (the top 53
    /// bits as a fraction; ids are random): instances that wrote together (a session's
    /// instances starting at once, a step of the whole fleet) drift apart, where with one
    /// interval for all they wrote in the same ticks every time (80 instances started together
    /// wrote their routine checkpoints in 10 ticks, 8 each, every 10 s).
    fn spread(&self) -> f64 {
        0.5 + (self.instance_id.get() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether the session that wrote `cp` crashed. A checkpoint saying "running" proves nothing
    /// by itself: hosts save while playing. Only the journal tells: its newest checkpoint of that
    /// instance still says "running" (a clean stop writes one that does not), and that instance
    /// is not alive in this process. Without a journal entry (another machine, a pruned or
    /// unwritable journal) Salve cannot tell, and says nothing.
    fn crashed(&self, cp: &Checkpoint) -> bool {
        cp.running
            && !InstanceId::is_live(cp.instance_id)
            && self
                .journal
                .as_ref()
                .and_then(|j| j.latest(cp.instance_id))
                .is_some_and(|j| j.running && j.generation >= cp.generation)
    }

    /// Takes over the session of an instance that is gone: its journal gets a last checkpoint
    /// that points here and no longer says "running", so its crash is told once, and a crash of
    /// this instance is found from the same saved state (a host that crashes at load never saves
    /// in between). Its older generations go.
    fn succeed(&self, cp: &Checkpoint) {
        let Some(journal) = &self.journal else {
            return;
        };
        if cp.instance_id == self.instance_id.get()
            || InstanceId::is_live(cp.instance_id)
            || journal.latest(cp.instance_id).is_none()
        {
            return;
        }
        let handed_over = Checkpoint {
            generation: cp.generation + 1,
            running: false,
            successor: Some(self.instance_id.get()),
            ..cp.clone()
        };
        if journal.write(&handed_over).is_ok() {
            journal.retire(cp.instance_id, handed_over.generation);
        }
    }

    /// Writes a checkpoint of `healer`'s session into the plugin state; the journal write waits
    /// for [`Keeper::flush`].
    fn write(&mut self, healer: &Healer, running: bool) {
        let cp = Checkpoint::of(
            healer.export(),
            self.instance_id.get(),
            self.generation + 1,
            running,
        );
        // Nothing new since the last one (a calm session): no write, but a heartbeat now and
        // then, so that the journal's last sign of life stays recent.
        if let Some(last) = &self.last_written
            && running
            && last.same_session_as(&cp)
            && cp.wall_time_s < last.wall_time_s + HEARTBEAT_S
        {
            self.dirty = false;
            return;
        }
        self.generation += 1;
        let text = cp.to_text();
        {
            let mut p = crate::sync::lock(&self.session);
            p.current = Some(text.clone());
            if let Some(u) = self.unreadable.take() {
                p.preserved = Some(u);
            }
        }
        self.last_seen = Some(text);
        self.pending = Some(cp.clone());
        self.last_written = Some(cp.clone());
        self.incidents_seen = healer.log.total();
        self.dirty = false;
        self.urgent = false;
        self.wrote = true;
        self.last_wall_s = Some(cp.wall_time_s);
    }

    /// Makes the next tick write, as a significant incident would.
    #[cfg(test)]
    pub fn urgent_for_tests(&mut self) {
        self.urgent = true;
    }
}

impl Keeper for Checkpointer {
    /// Compared in place, and only when the host has set the field since the last look: the
    /// text is a few KB, and this runs at every tick of every instance.
    fn news(&mut self) -> News {
        let mut news = News {
            journal_written: self.journal_outcome.take(),
            ..News::default()
        };
        let loaded = {
            let p = crate::sync::lock(&self.session);
            let set = std::mem::replace(&mut self.stamp_seen, p.stamp) != p.stamp;
            (set && p.current != self.last_seen).then(|| p.clone())
        };
        let Some(persisted) = loaded else {
            return news;
        };
        // The host loaded a state (or this is the first look at it).
        let restored = choose(&persisted, self.journal.as_ref());
        if let Some(cp) = &restored.checkpoint {
            let crashed = self.crashed(cp);
            self.succeed(cp);
            // Generations keep rising along the session's line, whoever writes it.
            self.generation = self.generation.max(cp.generation + 1);
            news.restore = Some(cp.to_restore(crashed));
            self.urgent |= crashed;
            if restored.source == Source::Journal && !crashed {
                news.notice = Some(format!(
                    "Restored Salve's session from its journal ({}), newer than the host's copy.",
                    crate::wall_clock::text(cp.wall_time_s)
                ));
            }
        }
        if restored.problem.is_some() {
            news.notice = restored.problem;
        }
        self.unreadable = restored.unreadable;
        self.last_seen = persisted.current;
        self.restored = true;
        news
    }

    fn save(&mut self, healer: &Healer, realtime: bool) {
        if std::mem::take(&mut self.restored) {
            self.incidents_seen = healer.log.total();
        }
        self.dirty |= realtime;
        let now = healer.now_s();
        let due = now - self.last_write_s >= self.interval_s * self.spread()
            || healer.significant_since(self.incidents_seen)
            || self.urgent;
        if self.dirty && due {
            self.write(healer, true);
            self.last_write_s = now;
        }
    }

    fn flush(&mut self) {
        if let (Some(cp), Some(journal)) = (self.pending.take(), &self.journal) {
            self.journal_outcome = Some(journal.write(&cp).is_ok());
        }
    }

    fn has_pending(&self) -> bool {
        self.pending.is_some() && self.journal.is_some()
    }

    /// Only if this session wrote any, so that an instance that never played leaves its state
    /// untouched. The journal keeps only that final generation of this instance.
    fn finish(&mut self, healer: &Healer) -> Option<bool> {
        if !self.wrote {
            return None;
        }
        self.write(healer, false);
        self.flush();
        if let Some(j) = &self.journal {
            j.retire(self.instance_id.get(), self.generation);
        }
        self.journal_outcome.take()
    }

    fn wrote(&self) -> bool {
        self.wrote
    }

    fn last_write_wall_s(&self) -> Option<u64> {
        self.last_wall_s
    }

    fn spread_routine_writes(&mut self, min_interval_s: f64) {
        self.interval_s = CHECKPOINT_INTERVAL_S.max(min_interval_s);
    }
}

#[cfg(test)]
mod tests;
