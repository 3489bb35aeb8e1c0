//! The crash journal: the same checkpoints as files in the user's data directory, written
//! atomically (temporary file, fsync, rename), a few generations kept per instance, journals
//! older than 30 days pruned, and the whole directory bounded in files and bytes however many
//! instances come and go. Only the fleet thread (and an instance leaving it) touch it; a write that fails (disk full,
//! read-only) is reported to the caller, who records an incident and carries on, and leaves no
//! temporary file behind.

use super::Checkpoint;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Generations kept per instance.
pub const KEEP_GENERATIONS: usize = 3;
/// Journals untouched for longer than this are deleted.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Overrides the journal directory (tests, portable setups).
pub const DIR_ENV: &str = "SALVE_JOURNAL_DIR";
/// At most this many checkpoint files in the directory: the oldest go first.
pub const MAX_FILES: usize = 256;
/// At most this many bytes of checkpoints in the directory (a checkpoint is a few KB).
pub const MAX_BYTES: u64 = 8 << 20;
/// A temporary file older than this is a write that failed (a write takes milliseconds).
pub const STALE_TMP: Duration = Duration::from_secs(60);
/// The directory is listed and pruned by the process every this many seconds...
pub const PRUNE_INTERVAL_S: u64 = 10;
/// ...or after this many writes, whichever comes first: the bounds hold within this many files.
pub const PRUNE_AFTER_WRITES: u64 = 32;

/// Whether the process's journal is due for a prune (and claims it if so).
fn prune_due() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_S: AtomicU64 = AtomicU64::new(0);
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let now = crate::wall_clock::now_s();
    let writes = WRITES.fetch_add(1, Ordering::Relaxed) + 1;
    let last = LAST_S.load(Ordering::Relaxed);
    let due = now >= last + PRUNE_INTERVAL_S || writes >= PRUNE_AFTER_WRITES;
    if due {
        LAST_S.store(now, Ordering::Relaxed);
        WRITES.store(0, Ordering::Relaxed);
    }
    due
}

/// How many successor links [`Journal::newest_in_line`] follows at most.
const MAX_LINE: usize = 16;

pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal in `$SALVE_JOURNAL_DIR`, or the platform's data directory (XDG data dir on
    /// Linux, Application Support on macOS, AppData on Windows) under `Salve/journal`.
    pub fn open_default() -> Option<Self> {
        let dir = std::env::var_os(DIR_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::data_dir().map(|d| d.join("Salve").join("journal")))?;
        Some(Self::new(dir))
    }

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(instance_id: u64, generation: u64) -> String {
        format!("{instance_id:016x}-{generation:020}.ckpt")
    }

    /// The generations on disk for an instance, newest first.
    fn generations(&self, instance_id: u64) -> Vec<(u64, PathBuf)> {
        let prefix = format!("{instance_id:016x}-");
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let generation = name
                    .strip_prefix(&prefix)?
                    .strip_suffix(".ckpt")?
                    .parse()
                    .ok()?;
                Some((generation, e.path()))
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found
    }

    /// Writes a checkpoint atomically and prunes old generations and stale journals.
    pub fn write(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let name = Self::file_name(checkpoint.instance_id, checkpoint.generation);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&checkpoint.encode())?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(&name))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        // The generation this one pushes out, by its name (no directory listing per write);
        // anything else left over goes in the next prune.
        if let Some(old) = checkpoint.generation.checked_sub(KEEP_GENERATIONS as u64) {
            let _ = fs::remove_file(self.dir.join(Self::file_name(checkpoint.instance_id, old)));
        }
        if prune_due() {
            self.prune(&name);
        }
        Ok(())
    }

    /// Deletes every generation of an instance but `keep` (its last, after a clean stop or a
    /// hand-over).
    pub fn retire(&self, instance_id: u64, keep: u64) {
        for (generation, path) in self.generations(instance_id) {
            if generation != keep {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Deletes checkpoints older than [`MAX_AGE`], temporary files older than [`STALE_TMP`]
    /// (left by a write that was cut off), and then the oldest checkpoints until the directory is
    /// within [`MAX_FILES`] and [`MAX_BYTES`]; never `keep`, the file just written.
    pub fn prune(&self, keep: &str) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut checkpoints = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            let modified = meta.modified().unwrap_or(now);
            let age = now.duration_since(modified).unwrap_or_default();
            if name.ends_with(".ckpt.tmp") && age > STALE_TMP
                || name.ends_with(".ckpt") && age > MAX_AGE
            {
                let _ = fs::remove_file(e.path());
            } else if name.ends_with(".ckpt") && name != keep {
                checkpoints.push((modified, meta.len(), e.path()));
            }
        }
        // Newest first; what does not fit goes.
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.0));
        let mut files = 1;
        let mut bytes = fs::metadata(self.dir.join(keep)).map_or(0, |m| m.len());
        for (_, len, path) in checkpoints {
            files += 1;
            bytes += len;
            if files > MAX_FILES || bytes > MAX_BYTES {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// The newest checkpoint in an instance's line: its own newest, or, where another instance
    /// took its session over since (and is not running in this process: a live one is a
    /// sibling, not a continuation), that one's, and so on.
    pub fn newest_in_line(&self, instance_id: u64) -> Option<Checkpoint> {
        let mut cp = self.latest(instance_id)?;
        for _ in 0..MAX_LINE {
            let Some(next) = cp
                .successor
                .filter(|&s| s != cp.instance_id && !super::InstanceId::is_live(s))
                .and_then(|s| self.latest(s))
            else {
                break;
            };
            cp = next;
        }
        Some(cp)
    }

    /// The newest readable checkpoint of an instance (damaged generations are skipped).
    pub fn latest(&self, instance_id: u64) -> Option<Checkpoint> {
        self.generations(instance_id)
            .into_iter()
            .find_map(|(_, path)| Checkpoint::decode(&fs::read(path).ok()?).ok())
    }
}
