//! The instantaneous figures the probe publishes in atomics, for the healer and the editor to
//! read at any time without ever making the audio thread wait.

use super::events::EventKind;
use atomic_float::AtomicF32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared between the audio thread (the only writer, except where noted) and any reader.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// The last block's load ratio.
    pub load: AtomicF32,
    /// The highest block load since the editor last took it (it resets this to 0 each frame).
    pub frame_peak: AtomicF32,
    /// The smoothed load ratio.
    pub load_smoothed: AtomicF32,
    /// The health score, 0..=1 (published every 10 ms of audio, and at once after an event).
    pub score: AtomicF32,
    /// The worst load since the counters were reset, with when (probe clock, ns) and where (the
    /// transport position, `i64::MIN` when unknown) it happened.
    pub worst_load: AtomicF32,
    pub worst_at_ns: AtomicU64,
    pub worst_pos: AtomicU64,
    /// Realtime audio played since the counters were reset (the sum of the blocks' deadlines,
    /// ns): the time base for rates such as dropouts per minute.
    pub played_ns: AtomicU64,
    /// `played_ns` when the worst block happened.
    pub worst_played_ns: AtomicU64,
    /// Blocks processed since activation.
    pub blocks: AtomicU64,
    /// When the last block ended (probe clock, ns): the audio thread's heartbeat.
    pub last_block_ns: AtomicU64,
    /// Records the ring could not take because the reader was behind.
    pub ring_drops: AtomicU64,
    /// The oversampling ratio heard, 0 for safe mode (the safe path).
    pub ratio: AtomicU64,
    /// GUI frames that took longer than their budget: written by the editor.
    pub gui_frame_overruns: AtomicU64,
    counters: [AtomicU64; EventKind::COUNT],
}

impl Telemetry {
    /// Fresh telemetry: no events, no worst block.
    pub fn new() -> Self {
        let t = Self::default();
        t.reset_counters();
        t
    }

    pub fn count(&self, kind: EventKind) -> u64 {
        self.counters[kind as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn bump(&self, kind: EventKind) {
        increment(&self.counters[kind as usize]);
    }

    /// Dropouts (callback gaps and transport jumps) per minute of realtime audio since the
    /// counters were reset; `None` until ten seconds have played.
    pub fn dropouts_per_minute(&self) -> Option<f32> {
        let played_s = self.played_ns.load(Ordering::Relaxed) as f64 * 1e-9;
        let dropouts = self.dropouts();
        (played_s >= 10.0).then(|| (dropouts as f64 * 60.0 / played_s) as f32)
    }

    /// Dropouts (callback gaps and transport jumps) since the counters were reset.
    pub fn dropouts(&self) -> u64 {
        self.count(EventKind::CallbackGap) + self.count(EventKind::TransportJump)
    }

    /// The transport position of the worst block, if known.
    pub fn worst_position(&self) -> Option<i64> {
        let v = self.worst_pos.load(Ordering::Relaxed) as i64;
        (v != i64::MIN).then_some(v)
    }

    /// Clears the counters and the worst block (the health panel's reset button).
    pub fn reset_counters(&self) {
        for c in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
        self.ring_drops.store(0, Ordering::Relaxed);
        self.worst_load.store(0.0, Ordering::Relaxed);
        self.worst_at_ns.store(0, Ordering::Relaxed);
        self.worst_played_ns.store(0, Ordering::Relaxed);
        self.played_ns.store(0, Ordering::Relaxed);
        self.worst_pos.store(i64::MIN as u64, Ordering::Relaxed);
    }
}

/// Adds one to a counter that only the audio thread writes: a plain load and store, cheaper than
/// a locked read-modify-write. A concurrent `reset_counters` may lose to it, which only means the
/// reset takes effect one event later.
#[inline]
pub(crate) fn increment(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}
