//! The instantaneous figures the probe publishes in atomics, for the editor to read at any time
//! without ever making the audio thread wait.
//!
//! The types say who may do what: [`Telemetry::channel`] gives one [`Writer`], which the probe
//! owns on the audio thread, and a [`Reader`] that any other thread may clone. The reader's three
//! writes are the editor's own: taking the frame peak, counting its slow frames, and the panel's
//! reset button. One count has a writer of its own, [`GapCounter`]: the callback gaps, which the
//! fleet thread judges from the records.

use super::events::EventKind;
use super::record::{BlockRecord, NO_POSITION};
use atomic_float::AtomicF32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shared figures; reach them through a [`Writer`] or a [`Reader`].
///
/// The figures the probe writes at every block come first and fill one cache line; the rest
/// (the score, the worst block, the counters, the editor's own) lie beyond it. With hundreds of
/// instances playing, every line a block touches is a cache miss of its own.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Telemetry {
    /// Realtime audio played since the counters were reset (the sum of the blocks' deadlines,
    /// ns): the time base for rates such as dropouts per minute.
    played_ns: AtomicU64,
    /// Blocks processed since the instance was created.
    blocks: AtomicU64,
    /// When the last block ended (probe clock, ns): the audio thread's heartbeat.
    last_block_ns: AtomicU64,
    /// The oversampling ratio heard, 0 for safe mode (the safe path).
    ratio: AtomicU64,
    /// The last block's load ratio.
    load: AtomicF32,
    /// The highest block load since the editor last took it.
    frame_peak: AtomicF32,
    /// The smoothed load ratio.
    load_smoothed: AtomicF32,
    /// The worst load since the counters were reset, with when (probe clock, ns) and where (the
    /// transport position, [`NO_POSITION`] when unknown) it happened.
    worst_load: AtomicF32,
    /// The meters: the input's and the output's highest peak since the editor last took them,
    /// and their mean square, smoothed over [`METER_RMS_S`].
    input_peak: AtomicF32,
    output_peak: AtomicF32,
    input_power: AtomicF32,
    output_power: AtomicF32,
    // The line's end: what follows is written rarely.
    worst_at_ns: AtomicU64,
    worst_pos: AtomicU64,
    /// `played_ns` when the worst block happened.
    worst_played_ns: AtomicU64,
    /// The health score, 0..=1 (published every 10 ms of audio, and at once after an event).
    score: AtomicF32,
    /// Records the ring could not take because the reader was behind.
    ring_drops: AtomicU64,
    /// GUI frames that took longer than their budget: written by the editor.
    gui_frame_overruns: AtomicU64,
    counters: [AtomicU64; EventKind::COUNT],
}

/// The time constant of the meters' RMS, in seconds: the usual integration of an RMS meter,
/// slow enough to read, quick enough to follow a phrase.
pub const METER_RMS_S: f64 = 0.3;

/// How far the meters' mean square moves toward a block `seconds` long: 1 - exp(-x) for a block
/// much shorter than [`METER_RMS_S`], without the exp. Worked out once per block size (the
/// probe keeps it), not per block.
pub fn meter_step(seconds: f64) -> f32 {
    (seconds / (seconds + METER_RMS_S)) as f32
}

/// A mean square below this (-120 dBFS) reads as silence.
pub const POWER_FLOOR: f32 = 1e-12;

/// One side of the meters: its peak and its mean square, both linear.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Level {
    pub peak: f32,
    pub power: f32,
}

impl Level {
    /// The RMS level.
    pub fn rms(&self) -> f32 {
        self.power.max(0.0).sqrt()
    }
}

/// The worst block since the counters were reset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Worst {
    pub load: f32,
    /// When it started (probe clock, ns).
    pub at_ns: u64,
    /// Realtime audio played until then (seconds).
    pub played_s: f32,
    /// The transport position, if the host said.
    pub position: Option<i64>,
}

impl Telemetry {
    /// Fresh telemetry (no events, no worst block): the audio thread's writer and a reader.
    pub fn channel() -> (Writer, Reader) {
        let t = Arc::new(Self {
            load: AtomicF32::new(0.0),
            frame_peak: AtomicF32::new(0.0),
            load_smoothed: AtomicF32::new(0.0),
            score: AtomicF32::new(1.0),
            worst_load: AtomicF32::new(0.0),
            worst_at_ns: AtomicU64::new(0),
            worst_pos: AtomicU64::new(NO_POSITION as u64),
            played_ns: AtomicU64::new(0),
            worst_played_ns: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            last_block_ns: AtomicU64::new(0),
            ring_drops: AtomicU64::new(0),
            ratio: AtomicU64::new(0),
            gui_frame_overruns: AtomicU64::new(0),
            input_peak: AtomicF32::new(0.0),
            output_peak: AtomicF32::new(0.0),
            input_power: AtomicF32::new(0.0),
            output_power: AtomicF32::new(0.0),
            counters: Default::default(),
        });
        (Writer(t.clone()), Reader(t))
    }
}

/// The audio thread's end: the probe's, one per instance (not `Clone`). Every method is a few
/// relaxed atomic loads and stores: wait-free.
#[derive(Debug)]
pub struct Writer(Arc<Telemetry>);

impl Writer {
    /// Asks for the shared telemetry in the cache (see [`crate::cache`]).
    #[inline]
    pub fn prefetch(&self) {
        crate::cache::prefetch_value(&*self.0);
    }

    /// A reader of the same figures.
    pub fn reader(&self) -> Reader {
        Reader(self.0.clone())
    }

    /// The fleet thread's end: the count of callback gaps, which the fleet thread judges from
    /// the records (see [`super::cycle::CycleReader`]). Call it off the audio thread.
    pub fn gap_counter(&self) -> GapCounter {
        GapCounter(self.0.clone())
    }

    /// Callback gaps counted so far (by the fleet thread).
    #[inline]
    pub fn gaps(&self) -> u64 {
        self.0.counters[EventKind::CallbackGap as usize].load(Ordering::Relaxed)
    }

    /// Counts one event.
    #[inline]
    pub fn bump(&self, kind: EventKind) {
        increment(&self.0.counters[kind as usize]);
    }

    /// Publishes one block: its load, the smoothed load, the frame peak, the worst block, the
    /// ratio heard, the audio played and the heartbeat.
    #[inline]
    pub fn block(&self, record: &BlockRecord, load_smoothed: f32, end_ns: u64) {
        let t = &*self.0;
        let played = t.played_ns.load(Ordering::Relaxed) + record.deadline_ns;
        t.played_ns.store(played, Ordering::Relaxed);
        t.load.store(record.load, Ordering::Relaxed);
        // A plain load and store (the editor only ever takes it): wait-free on this thread.
        if record.load > t.frame_peak.load(Ordering::Relaxed) {
            t.frame_peak.store(record.load, Ordering::Relaxed);
        }
        t.load_smoothed.store(load_smoothed, Ordering::Relaxed);
        if record.load > t.worst_load.load(Ordering::Relaxed) {
            t.worst_load.store(record.load, Ordering::Relaxed);
            t.worst_at_ns.store(record.start_ns, Ordering::Relaxed);
            t.worst_played_ns.store(played, Ordering::Relaxed);
            t.worst_pos
                .store(record.transport_pos as u64, Ordering::Relaxed);
        }
        t.ratio.store(record.ratio as u64, Ordering::Relaxed);
        increment(&t.blocks);
        t.last_block_ns.store(end_ns, Ordering::Relaxed);
    }

    /// Publishes the meters of one block: the peaks are held until the editor takes them, the
    /// mean squares move by `step` (the block's [`meter_step`]) toward the block's.
    #[inline]
    pub fn levels(&self, input: Level, output: Level, step: f32) {
        let t = &*self.0;
        let a = step;
        for (peak, power, level) in [
            (&t.input_peak, &t.input_power, input),
            (&t.output_peak, &t.output_power, output),
        ] {
            if level.peak > peak.load(Ordering::Relaxed) {
                peak.store(level.peak, Ordering::Relaxed);
            }
            let p = power.load(Ordering::Relaxed);
            let next = p + (level.power - p) * a;
            // Silence would leave it subnormal (see [`super::score::forget`]).
            power.store(
                if next < POWER_FLOOR { 0.0 } else { next },
                Ordering::Relaxed,
            );
        }
    }

    /// Publishes the health score.
    #[inline]
    pub fn score(&self, score: f32) {
        self.0.score.store(score, Ordering::Relaxed);
    }

    /// Counts a record the ring could not take.
    #[inline]
    pub fn ring_drop(&self) {
        increment(&self.0.ring_drops);
    }

    /// The editor's slow frames so far (they count into the health score).
    #[inline]
    pub fn gui_frame_overruns(&self) -> u64 {
        self.0.gui_frame_overruns.load(Ordering::Relaxed)
    }
}

/// The writer of one figure, the callback gaps: the fleet thread judges them from the block
/// records, so the probe never counts them (one writer per value).
#[derive(Debug)]
pub struct GapCounter(Arc<Telemetry>);

impl GapCounter {
    /// Counts one callback gap.
    pub fn count(&self) {
        increment(&self.0.counters[EventKind::CallbackGap as usize]);
    }
}

/// Any other thread's end (the editor's, the report's, tests'): reads, plus the editor's own
/// three writes.
#[derive(Clone, Debug)]
pub struct Reader(Arc<Telemetry>);

impl Reader {
    pub fn count(&self, kind: EventKind) -> u64 {
        self.0.counters[kind as usize].load(Ordering::Relaxed)
    }

    /// The last block's load.
    pub fn load(&self) -> f32 {
        self.0.load.load(Ordering::Relaxed)
    }

    pub fn load_smoothed(&self) -> f32 {
        self.0.load_smoothed.load(Ordering::Relaxed)
    }

    pub fn score(&self) -> f32 {
        self.0.score.load(Ordering::Relaxed)
    }

    pub fn worst(&self) -> Worst {
        let t = &*self.0;
        let pos = t.worst_pos.load(Ordering::Relaxed) as i64;
        Worst {
            load: t.worst_load.load(Ordering::Relaxed),
            at_ns: t.worst_at_ns.load(Ordering::Relaxed),
            played_s: t.worst_played_ns.load(Ordering::Relaxed) as f32 * 1e-9,
            position: (pos != NO_POSITION).then_some(pos),
        }
    }

    /// Blocks processed since the instance was created.
    pub fn blocks(&self) -> u64 {
        self.0.blocks.load(Ordering::Relaxed)
    }

    /// When the last block ended (probe clock, ns).
    pub fn last_block_ns(&self) -> u64 {
        self.0.last_block_ns.load(Ordering::Relaxed)
    }

    pub fn ring_drops(&self) -> u64 {
        self.0.ring_drops.load(Ordering::Relaxed)
    }

    /// The oversampling ratio heard, 0 for safe mode.
    pub fn ratio(&self) -> u8 {
        self.0.ratio.load(Ordering::Relaxed) as u8
    }

    /// Dropouts (callback gaps and transport jumps) per minute of realtime audio since the
    /// counters were reset; `None` until ten seconds have played.
    pub fn dropouts_per_minute(&self) -> Option<f32> {
        let played_s = self.0.played_ns.load(Ordering::Relaxed) as f64 * 1e-9;
        let dropouts = self.dropouts();
        (played_s >= 10.0).then(|| (dropouts as f64 * 60.0 / played_s) as f32)
    }

    /// Dropouts (callback gaps and transport jumps) since the counters were reset.
    pub fn dropouts(&self) -> u64 {
        self.count(EventKind::CallbackGap) + self.count(EventKind::TransportJump)
    }

    /// The meters: the peaks since the last call (taken, as the editor does once a frame) and
    /// the smoothed mean squares, as `(input, output)`.
    pub fn take_levels(&self) -> (Level, Level) {
        let t = &*self.0;
        let side = |peak: &AtomicF32, power: &AtomicF32| Level {
            peak: peak.swap(0.0, Ordering::Relaxed),
            power: power.load(Ordering::Relaxed),
        };
        (
            side(&t.input_peak, &t.input_power),
            side(&t.output_peak, &t.output_power),
        )
    }

    /// The highest block load since the last call (the editor takes it once a frame).
    pub fn take_frame_peak(&self) -> f32 {
        self.0.frame_peak.swap(0.0, Ordering::Relaxed)
    }

    /// Counts one editor frame that took longer than its budget (the editor is its only writer).
    pub fn gui_frame_overrun(&self) {
        increment(&self.0.gui_frame_overruns);
    }

    /// Clears the counters and the worst block (the health panel's reset button). A reset may
    /// lose to an increment racing it, which only means it takes effect one event later.
    pub fn reset_counters(&self) {
        let t = &*self.0;
        for c in &t.counters {
            c.store(0, Ordering::Relaxed);
        }
        t.ring_drops.store(0, Ordering::Relaxed);
        t.worst_load.store(0.0, Ordering::Relaxed);
        t.worst_at_ns.store(0, Ordering::Relaxed);
        t.worst_played_ns.store(0, Ordering::Relaxed);
        t.played_ns.store(0, Ordering::Relaxed);
        t.worst_pos.store(NO_POSITION as u64, Ordering::Relaxed);
    }
}

/// Adds one to a counter that only one thread writes: a plain load and store, cheaper than a
/// locked read-modify-write.
#[inline]
fn increment(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(load: f32, pos: Option<i64>) -> BlockRecord {
        BlockRecord {
            deadline_ns: 1_000_000_000,
            load,
            ratio: 8,
            start_ns: 77,
            transport_pos: pos.unwrap_or(NO_POSITION),
            ..Default::default()
        }
    }

    #[test]
    fn what_the_probe_writes_at_every_block_lies_in_the_first_cache_line() {
        use std::mem::{align_of, offset_of};
        assert_eq!(align_of::<Telemetry>(), 64);
        // Fields lie in their order (`repr(C)`): every per-block figure comes before the first
        // rarely written one, which starts the second line.
        assert_eq!(offset_of!(Telemetry, worst_at_ns), 64);
        assert_eq!(offset_of!(Telemetry, played_ns), 0);
        // The editor's own counter is elsewhere: its writes do not take the line away.
        assert!(offset_of!(Telemetry, gui_frame_overruns) >= 64);
    }

    #[test]
    fn the_reader_sees_what_the_writer_published_and_the_editor_takes_the_peak() {
        let (w, r) = Telemetry::channel();
        assert_eq!((r.score(), r.worst().position), (1.0, None));
        w.block(&block(0.9, Some(480)), 0.3, 5);
        w.block(&block(0.4, None), 0.35, 6);
        w.bump(EventKind::CallbackGap);
        assert_eq!((r.load(), r.load_smoothed(), r.ratio()), (0.4, 0.35, 8));
        assert_eq!((r.blocks(), r.last_block_ns(), r.dropouts()), (2, 6, 1));
        let worst = r.worst();
        assert_eq!(
            (worst.load, worst.at_ns, worst.position),
            (0.9, 77, Some(480))
        );
        assert_eq!(worst.played_s, 1.0);
        assert_eq!(r.take_frame_peak(), 0.9);
        assert_eq!(r.take_frame_peak(), 0.0);
        r.gui_frame_overrun();
        assert_eq!(w.gui_frame_overruns(), 1);
    }

    #[test]
    fn the_meters_hold_peaks_until_taken_and_smooth_the_power() {
        let (w, r) = Telemetry::channel();
        let sine = |peak: f32| Level {
            peak,
            power: peak * peak / 2.0,
        };
        // One second of 64-sample blocks at 48 kHz of a -12 dBFS sine in, -6 dBFS out.
        let step = meter_step(64.0 / 48_000.0);
        for _ in 0..750 {
            w.levels(sine(0.251), sine(0.501), step);
        }
        let (input, output) = r.take_levels();
        assert_eq!((input.peak, output.peak), (0.251, 0.501));
        // After 3.3 time constants the RMS is within 0.5 dB of the sine's (-3 dB below its peak).
        let db = |x: f32| 20.0 * x.log10();
        assert!((db(input.rms()) - db(0.251 / 2f32.sqrt())).abs() < 0.5);
        assert!((db(output.rms()) - db(0.501 / 2f32.sqrt())).abs() < 0.5);
        // Taken: the peaks start again; the power stays.
        let (input, _) = r.take_levels();
        assert_eq!(input.peak, 0.0);
        assert!(input.power > 0.0);
        // Five minutes of silence: the power falls to 0, never through the subnormals (each of
        // which costs the audio thread a microcode assist).
        let silence = Level::default();
        for _ in 0..225_000 {
            w.levels(silence, silence, step);
            let (input, _) = r.take_levels();
            assert!(!input.power.is_subnormal());
        }
        assert_eq!(r.take_levels().0.power, 0.0);
    }

    #[test]
    fn a_reset_clears_counters_and_the_worst_block_but_not_the_heartbeat() {
        let (w, r) = Telemetry::channel();
        for _ in 0..12 {
            w.block(&block(0.5, Some(1)), 0.5, 9);
        }
        w.bump(EventKind::Overrun);
        w.ring_drop();
        assert!(r.dropouts_per_minute().is_some());
        r.reset_counters();
        assert_eq!((r.count(EventKind::Overrun), r.ring_drops()), (0, 0));
        assert_eq!(r.worst(), Worst::default());
        assert_eq!(r.dropouts_per_minute(), None);
        assert_eq!((r.blocks(), r.last_block_ns()), (12, 9));
    }
}
