//! The chaos runner's window into the plugin (only with the `chaos` feature): the fleet thread
//! appends every block record, each new incident and, at a clean stop, the incidents and
//! recommendations to a JSON-lines file in `$SALVE_CHAOS_LOG` (a directory; one file per instance
//! and activation). With `SALVE_CHAOS_LOG_TICKS=1` it writes one line per tick instead of one per block
//! (for runs with many instances). The fleet's own view of the session goes to `fleet-*.jsonl`,
//! one line per tick ([`FleetLog`]). Written from the fleet thread, never from the audio thread.

use super::Healer;
use crate::probe::cycle::Reading;
use crate::probe::record::BlockRecord;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct ChaosLog {
    out: BufWriter<std::fs::File>,
    incidents_seen: u32,
    ticks_only: bool,
}

impl ChaosLog {
    /// Opens a new log file when `$SALVE_CHAOS_LOG` names a directory; its first line says where
    /// the instance's clock starts on the process time line (`offset_ns`).
    pub fn open(offset_ns: u64) -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::path::PathBuf::from(std::env::var_os("SALVE_CHAOS_LOG")?);
        std::fs::create_dir_all(&dir).ok()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("healer-{}-{n}.jsonl", std::process::id());
        let file = std::fs::File::create(dir.join(name)).ok()?;
        let mut out = BufWriter::new(file);
        let _ = writeln!(out, r#"{{"offset_ns":{offset_ns}}}"#);
        Some(Self {
            out,
            incidents_seen: 0,
            ticks_only: std::env::var_os("SALVE_CHAOS_LOG_TICKS").is_some_and(|v| v == "1"),
        })
    }

    /// One tick's records and new incidents.
    pub fn tick(&mut self, records: &[BlockRecord], readings: &[Reading], healer: &Healer) {
        if self.ticks_only {
            let factors: u64 = records.iter().map(|r| r.ratio as u64).sum();
            let _ = writeln!(
                self.out,
                r#"{{"blocks":{},"ratio_sum":{factors}}}"#,
                records.len()
            );
        }
        for (r, reading) in records.iter().zip(readings).filter(|_| !self.ticks_only) {
            let events: Vec<&str> = r.events.iter().map(|k| k.id()).collect();
            let _ = writeln!(
                self.out,
                r#"{{"seq":{},"start_ns":{},"samples":{},"load":{},"ratio":{},"wait_ns":{},"busy_ns":{},"events":{}}}"#,
                r.seq,
                r.start_ns,
                r.samples,
                r.load,
                r.ratio,
                reading.wait_ns,
                r.elapsed_ns,
                serde_json::to_string(&events).unwrap_or_default()
            );
        }
        let total = healer.log.total();
        let new = total.saturating_sub(self.incidents_seen) as usize;
        let newest: Vec<_> = healer.log.iter().rev().take(new).collect();
        for i in newest.into_iter().rev() {
            let _ = writeln!(
                self.out,
                r#"{{"incident":{},"last_seq":{}}}"#,
                serde_json::to_string(i).unwrap_or_default(),
                records.last().map_or(0, |r| r.seq)
            );
        }
        self.incidents_seen = total;
        // A tick-only log (hundreds of instances) stays in its buffer until it fills or the
        // instance stops: one write a tick for each of 600 instances is 30 000 system calls a
        // second on the machine being measured.
        if !self.ticks_only {
            let _ = self.out.flush();
        }
    }

    /// At a clean stop: the final incidents (with their outcomes) and recommendations.
    pub fn finish(&mut self, healer: &Healer) {
        let incidents: Vec<_> = healer.log.iter().copied().collect();
        let recommendations: Vec<String> =
            healer.recommendations.iter().map(|r| r.text()).collect();
        let _ = writeln!(
            self.out,
            r#"{{"summary":{{"incidents_total":{},"incidents":{},"recommendations":{}}}}}"#,
            healer.log.total(),
            serde_json::to_string(&incidents).unwrap_or_default(),
            serde_json::to_string(&recommendations).unwrap_or_default()
        );
        let _ = self.out.flush();
    }
}

/// The fleet's view of the session, one line per tick: what it measured and its cap.
pub struct FleetLog {
    out: BufWriter<std::fs::File>,
}

impl FleetLog {
    /// Opens a new fleet log when `$SALVE_CHAOS_LOG` names a directory.
    pub fn open() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::path::PathBuf::from(std::env::var_os("SALVE_CHAOS_LOG")?);
        std::fs::create_dir_all(&dir).ok()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("fleet-{}-{n}.jsonl", std::process::id());
        let file = std::fs::File::create(dir.join(name)).ok()?;
        Some(Self {
            out: BufWriter::new(file),
        })
    }

    /// One tick: the time on the process time line (ns), the session measured, the cap.
    pub fn tick(&mut self, now_ns: u64, view: &super::fleet::SessionView) {
        let m = &view.measured;
        let action = view.last.map(|a| format!("{a:?}")).unwrap_or_default();
        let _ = writeln!(
            self.out,
            r#"{{"fleet_ns":{now_ns},"instances":{},"cycles":{},"blind":{},"salve_share":{},"fill_mean":{},"fill_peak":{},"dropouts":{},"cap":{},"last":{}}}"#,
            view.instances,
            m.cycles,
            m.blind,
            m.salve_share,
            m.fill_mean,
            m.fill_peak,
            m.dropouts,
            view.cap.map_or(0, |c| c.ratio()),
            serde_json::to_string(&action).unwrap_or_default()
        );
        let _ = self.out.flush();
    }
}
