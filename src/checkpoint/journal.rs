//! The crash journal: the same checkpoints as files in the user's data directory, written
//! atomically (temporary file, fsync, rename), a few generations kept per instance, journals
//! older than 30 days pruned. Only the healer thread touches it; a write that fails (disk full,
//! read-only) is reported to the caller, who records an incident and carries on.

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
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&checkpoint.encode())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(&name))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        for (_, old) in self
            .generations(checkpoint.instance_id)
            .into_iter()
            .skip(KEEP_GENERATIONS)
        {
            let _ = fs::remove_file(old);
        }
        self.prune_stale();
        Ok(())
    }

    /// Deletes journal files older than [`MAX_AGE`].
    pub fn prune_stale(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        for e in entries.filter_map(|e| e.ok()) {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > MAX_AGE);
            let ours = e.file_name().to_string_lossy().ends_with(".ckpt");
            if stale && ours {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// The newest readable checkpoint of an instance (damaged generations are skipped).
    pub fn latest(&self, instance_id: u64) -> Option<Checkpoint> {
        self.generations(instance_id)
            .into_iter()
            .find_map(|(_, path)| Checkpoint::decode(&fs::read(path).ok()?).ok())
    }
}
