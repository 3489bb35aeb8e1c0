//! "Export report": the incidents and statistics as a JSON file a user can send along with a bug
//! report, written where they can find it.

use super::health::HealthSnapshot;
use crate::healer::learning::Incident;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The report's contents.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub salve_version: &'static str,
    /// Seconds since the Unix epoch.
    pub generated_at: u64,
    pub health_score: f32,
    pub load: f32,
    pub worst_load: f32,
    pub worst_position: Option<i64>,
    pub quality: Option<&'static str>,
    pub ceiling: Option<&'static str>,
    pub risk: f32,
    pub p99_load: f32,
    pub counters: Vec<(&'static str, u64)>,
    pub recommendations: &'a [String],
    pub incidents: &'a [Incident],
}

impl<'a> Report<'a> {
    pub fn from_snapshot(s: &'a HealthSnapshot) -> Self {
        Self {
            salve_version: env!("CARGO_PKG_VERSION"),
            generated_at: crate::wall_clock::now_s(),
            health_score: s.score,
            load: s.load,
            worst_load: s.worst_load,
            worst_position: s.worst_pos,
            quality: s.level.map(|l| l.label()),
            ceiling: s.ceiling.map(|l| l.label()),
            risk: s.risk,
            p99_load: s.p99,
            counters: s.counters.clone(),
            recommendations: &s.recommendations,
            incidents: &s.incidents,
        }
    }
}

/// Where reports go: the user's documents folder (or home), under `Salve reports`.
pub fn default_dir() -> PathBuf {
    dirs::document_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("Salve reports")
}

/// Writes the report into `dir` and returns the file's path.
pub fn write(dir: &Path, snapshot: &HealthSnapshot) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let report = Report::from_snapshot(snapshot);
    let path = dir.join(format!("salve-report-{}.json", report.generated_at));
    let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
    std::fs::write(&path, json)?;
    Ok(path)
}
