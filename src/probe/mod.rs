//! The probe: on the audio thread, times every `process()` call against its deadline, notices
//! dropouts and bad output, and publishes what it saw without ever waiting: a fixed-size record
//! per block into a wait-free ring, and the instantaneous figures in atomics.
//!
//! The probe never allocates, locks, logs or blocks. Its only system interaction is reading the
//! clock (see [`clock`]), which tests replace by a virtual one.

pub mod clock;
pub mod cycle;
pub mod events;
pub mod floor;
pub mod record;
pub mod score;
pub mod telemetry;

use crate::dsp::OutputStats;
use clock::Clock;
use events::{EventKind, Events};
use record::BlockRecord;
use score::ScoreInputs;

/// The most block records a ring holds (see [`ring_capacity`]).
pub const RING_CAPACITY: usize = 4096;

/// How much audio an activation's ring holds, in 64-sample blocks: half a second, ten times the
/// fleet's longest tick interval.
pub const RING_SECONDS: f64 = 0.5;

/// The ring's capacity for an activation at `sample_rate`: [`RING_SECONDS`] of 64-sample blocks
/// (375 records at 48 kHz), at least 256, at most [`RING_CAPACITY`]. No larger: each push writes
/// the slot written a ring ago, and with hundreds of instances playing, a ring of seconds has
/// long left every cache by then (with 4,096 slots, that write was a third of the probe's time
/// in a 600-instance session).
pub fn ring_capacity(sample_rate: f32) -> usize {
    let rate = if sample_rate.is_finite() {
        sample_rate as f64
    } else {
        0.0
    };
    ((rate * RING_SECONDS / 64.0).ceil() as usize).clamp(256, RING_CAPACITY)
}

/// Tunables of the probe.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// Load above which a block is a near miss.
    pub near_miss: f32,
    /// A callback gap counts unless more than 5 % of the host's recent gaps were longer than it
    /// over this factor (its rhythm, see [`cycle`])...
    pub gap_factor: f32,
    /// ...and this many periods (a regular host that misses one period calls two periods late).
    pub gap_min_periods: f32,
    /// Gaps longer than this are the host pausing, not a stall (seconds).
    pub max_gap_seconds: f32,
    /// Blocks of a stream before callback gaps are judged. (The gap rules are applied by the
    /// fleet thread's [`cycle::CycleReader`], which [`Probe::cycle_reader`] makes.)
    pub warm_up_blocks: u32,
    /// DC offset (linear) that counts as drift once the slow average stays above it.
    pub dc_threshold: f32,
    /// Share of subnormal input samples that makes a denormal storm.
    pub denormal_share: f32,
    /// Where in its rhythm this instance does its periodic work (the health score).
    pub stagger: Stagger,
}

/// Which eighth of a periodic task's interval an instance is offset by, so that instances
/// started together do not all do it in the same block. A host activates a session's instances
/// together and calls them in the same cycles: with a task every 8 blocks at the same block
/// count, every instance did it in the same cycle, and 1000 instances at 1x took 10-20 % longer
/// in two cycles of every eight (`--instance-count 1000 --oversampling 1x`, each task reading a
/// cache line that another thread writes). Staggered, each cycle carries an eighth of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stagger(u8);

impl Stagger {
    /// The next instance's stagger: instances made one after another take the eighths in turn.
    /// Call it off the audio thread, once per instance.
    pub fn next() -> Self {
        static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        Self(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 8)
    }

    /// The stagger of a given eighth (`eighth` modulo 8).
    pub const fn eighth_of(eighth: u8) -> Self {
        Self(eighth % 8)
    }

    /// Which eighth this is, 0..8.
    pub fn eighth(self) -> u8 {
        self.0
    }

    /// This instance's offset into an interval of `interval` (its eighths).
    pub fn of(self, interval: f64) -> f64 {
        interval * f64::from(self.0) / 8.0
    }

    /// The same, for an interval in samples.
    pub fn of_samples(self, interval: u32) -> u32 {
        interval / 8 * u32::from(self.0)
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            near_miss: 0.8,
            gap_factor: 1.5,
            gap_min_periods: 1.75,
            max_gap_seconds: 1.0,
            warm_up_blocks: 8,
            dc_threshold: 0.05,
            denormal_share: 0.25,
            stagger: Stagger::default(),
        }
    }
}

/// The host's view of the block, as the plugin got it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockInfo {
    pub samples: u32,
    pub sample_rate: f32,
    /// Realtime (with a deadline) or offline.
    pub realtime: bool,
    pub playing: bool,
    /// The transport position in samples, when the host gives one.
    pub position: Option<i64>,
    /// The loop range in samples, when looping.
    pub loop_range: Option<(i64, i64)>,
}

/// What the probe remembers of the previous block.
#[derive(Debug, Clone, Copy)]
struct Previous {
    start_ns: u64,
    samples: u32,
    sample_rate: f32,
    /// The block's duration (ns), computed once when it ended.
    duration_ns: f64,
    playing: bool,
    position: Option<i64>,
}

/// What a block's size and rate give, worked out once per size and rate: divisions cost more
/// than the rest of the probe's arithmetic, and the size and rate nearly never change.
#[derive(Debug, Clone, Copy)]
struct Timing {
    samples: u32,
    sample_rate: f32,
    /// The block's duration, at a sane rate (48 kHz when the host gives none).
    duration_s: f64,
    /// The duration as the previous block keeps it (at the host's rate, at least 1 Hz).
    duration_ns: f64,
    /// The deadline (the duration at a sane rate, in whole ns, at least 1) and its reciprocal:
    /// a block's load is a multiplication, not a division.
    deadline_ns: u64,
    per_deadline: f32,
    /// The score memory's decay over one block.
    score_keep: f32,
    /// How far the meters' RMS moves toward a block's power (see [`telemetry::meter_step`]).
    meter_step: f32,
}

/// A block's period in seconds (its duration at a sane rate: 48 kHz when the host gives none)
/// and its duration at the host's rate in ns (at least 1 Hz), as the probe and the cycle's
/// reader take them.
pub(crate) fn durations(samples: u32, sample_rate: f32) -> (f64, f64) {
    let rate = if sample_rate.is_finite() && sample_rate > 0.0 {
        sample_rate
    } else {
        48_000.0
    };
    (
        samples as f64 / rate as f64,
        samples as f64 / sample_rate.max(1.0) as f64 * 1e9,
    )
}

impl Timing {
    fn of(samples: u32, sample_rate: f32) -> Self {
        let (duration_s, duration_ns) = durations(samples, sample_rate);
        let deadline_ns = ((duration_s * 1e9) as u64).max(1);
        Self {
            deadline_ns,
            per_deadline: 1.0 / deadline_ns as f32,
            samples,
            sample_rate,
            duration_s,
            duration_ns,
            score_keep: score::keep(duration_s),
            meter_step: telemetry::meter_step(duration_s),
        }
    }
}

/// How much audio may pass between two updates of the health score the editor shows (seconds;
/// a block with an event updates it at once).
const SCORE_EVERY_S: f64 = 0.01;

/// The audio-thread half of the telemetry path. Create it with [`Probe::new`] (off the audio
/// thread), keep the returned consumer for the background thread.
pub struct Probe<C: Clock> {
    clock: C,
    config: ProbeConfig,
    producer: rtrb::Producer<BlockRecord>,
    telemetry: telemetry::Writer,
    seq: u64,
    previous: Option<Previous>,
    /// The sample rate of the previous activation, to notice a change.
    last_rate: Option<f32>,
    score_inputs: ScoreInputs,
    timing: Timing,
    /// Audio since the health score was last published (seconds).
    score_age_s: f64,
    dc: f32,
    dc_drifting: bool,
    limiting: bool,
    gui_overruns_seen: u64,
    /// Callback gaps the fleet thread had counted at the last score.
    gaps_seen: u64,
    /// The record of the last block.
    last: BlockRecord,
}

impl<C: Clock> Probe<C> {
    /// Asks for what [`Probe::begin`] and [`Probe::end`] read outside the probe: the ring's
    /// shared part and the telemetry (see [`crate::cache`]).
    #[inline]
    pub fn prefetch(&self) {
        crate::cache::prefetch_value(self.producer.buffer());
        self.telemetry.prefetch();
    }

    /// A probe with its ring; the consumer goes to the background thread.
    pub fn new(
        clock: C,
        config: ProbeConfig,
        telemetry: telemetry::Writer,
    ) -> (Self, rtrb::Consumer<BlockRecord>) {
        let (producer, consumer) = rtrb::RingBuffer::new(RING_CAPACITY);
        let gui_overruns_seen = telemetry.gui_frame_overruns();
        let gaps_seen = telemetry.gaps();
        (
            Self {
                clock,
                config,
                producer,
                telemetry,
                seq: 0,
                previous: None,
                last_rate: None,
                score_inputs: ScoreInputs::default(),
                timing: Timing::of(0, 0.0),
                score_age_s: f64::INFINITY,
                dc: 0.0,
                dc_drifting: false,
                limiting: false,
                gui_overruns_seen,
                gaps_seen,
                last: BlockRecord::default(),
            },
            consumer,
        )
    }

    /// Replaces the ring (at a new activation at `sample_rate`, when the previous reader has
    /// gone); returns the new reading end. Allocates: call it off the audio thread.
    pub fn new_ring(&mut self, sample_rate: f32) -> rtrb::Consumer<BlockRecord> {
        let (producer, consumer) = rtrb::RingBuffer::new(ring_capacity(sample_rate));
        self.producer = producer;
        consumer
    }

    /// A reader of what this probe publishes.
    pub fn telemetry(&self) -> telemetry::Reader {
        self.telemetry.reader()
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Starts a new stream (after `activate` or `reset`): callback gaps and transport continuity
    /// are judged afresh, a sample-rate change is noticed at the next block.
    pub fn restart_stream(&mut self) {
        if let Some(p) = self.previous {
            self.last_rate = Some(p.sample_rate);
        }
        self.previous = None;
        self.seq = 0;
    }

    /// The fleet thread's reader of this probe's records: where each call landed in the host's
    /// cycle, and whether it came late (counted in this probe's telemetry). Call it off the
    /// audio thread, once per activation.
    pub fn cycle_reader(&self) -> cycle::CycleReader {
        cycle::CycleReader::new(self.config, self.telemetry.gap_counter())
    }

    /// Call first thing in `process()`: returns the block's start time.
    ///
    /// Also asks for the ring slot this block's record goes into, for writing. The fleet thread
    /// read it last, on another core, and a store to it at the end of the block waited for the
    /// line: the host's next atomic operation (nice-plug releases its lock on the plugin right
    /// after `process()`) waits for every store before it.
    #[inline]
    pub fn begin(&mut self) -> u64 {
        if let Ok(mut slot) = self.producer.write_chunk_uninit(1) {
            // Not committed: the record is pushed at the end.
            crate::cache::prefetch_for_write(slot.as_mut_slices().0.as_ptr());
        }
        self.clock.now_ns()
    }

    /// Call last thing in `process()`, with the start time from [`Probe::begin`], what the host
    /// said about the block, what the engine saw at its output, the ratio heard (0 = bypass) and
    /// events the plugin itself noticed (a panic). Publishes the record and returns it (kept
    /// until the next block: no copy for the caller).
    pub fn end(
        &mut self,
        start_ns: u64,
        info: &BlockInfo,
        output: &OutputStats,
        ratio: u8,
        mut events: Events,
    ) -> &BlockRecord {
        let end_ns = self.clock.now_ns();
        let elapsed_ns = end_ns.saturating_sub(start_ns);
        if self.timing.samples != info.samples
            || self.timing.sample_rate.to_bits() != info.sample_rate.to_bits()
        {
            self.timing = Timing::of(info.samples, info.sample_rate);
        }
        let duration_s = self.timing.duration_s;
        let (deadline_ns, load) = if info.realtime && info.samples > 0 {
            let t = &self.timing;
            (t.deadline_ns, elapsed_ns as f32 * t.per_deadline)
        } else {
            (0, 0.0)
        };

        // Budget.
        if !info.realtime {
            events.insert(EventKind::Offline);
        } else if load > 1.0 {
            events.insert(EventKind::Overrun);
        } else if load > self.config.near_miss {
            events.insert(EventKind::NearMiss);
        }

        // Stream continuity (where the call lands in the host's cycle, and whether it came late,
        // the fleet thread reads from the records: `cycle::CycleReader`).
        if let Some(prev) = self.previous {
            Self::judge_continuity(&prev, start_ns, info, &mut events);
        } else if let Some(last) = self.last_rate
            && last != info.sample_rate
        {
            events.insert(EventKind::SampleRateChange);
        }

        // Output health.
        if output.restarted {
            events.insert(EventKind::NonFinite);
        }
        let total = info.samples as f32 * 2.0;
        if total > 0.0 && output.subnormal_inputs as f32 > total * self.config.denormal_share {
            events.insert(EventKind::DenormalStorm);
        }
        self.dc = score::forget(self.dc + (output.mean - self.dc) * (duration_s as f32).min(1.0));
        let drifting = self.dc.abs() > self.config.dc_threshold;
        if drifting && !self.dc_drifting {
            events.insert(EventKind::DcDrift);
        }
        self.dc_drifting = drifting;
        if output.limited && !self.limiting {
            events.insert(EventKind::Limiter);
        }
        self.limiting = output.limited;

        self.previous = Some(Previous {
            start_ns,
            samples: info.samples,
            sample_rate: info.sample_rate,
            duration_ns: self.timing.duration_ns,
            playing: info.playing,
            position: info.position,
        });

        self.last = BlockRecord {
            seq: self.seq,
            start_ns,
            elapsed_ns: elapsed_ns.min(u32::MAX as u64) as u32,
            deadline_ns,
            samples: info.samples,
            sample_rate: info.sample_rate,
            load,
            ratio,
            peak: output.peak,
            transport_pos: info.position.unwrap_or(record::NO_POSITION),
            events,
            thread: cycle::thread_tag(),
        };
        self.seq += 1;
        self.publish(duration_s, end_ns);
        self.telemetry.levels(
            telemetry::Level {
                peak: output.input_peak,
                power: output.input_power,
            },
            telemetry::Level {
                peak: output.peak,
                power: output.power,
            },
            self.timing.meter_step,
        );
        &self.last
    }

    fn judge_continuity(prev: &Previous, start_ns: u64, info: &BlockInfo, events: &mut Events) {
        if info.samples != prev.samples {
            events.insert(EventKind::BlockSizeChange);
        }
        if info.sample_rate != prev.sample_rate {
            events.insert(EventKind::SampleRateChange);
        }
        let prev_duration_ns = prev.duration_ns;
        let gap_ns = start_ns.saturating_sub(prev.start_ns) as f64;

        // Transport continuity while playing.
        if let (true, true, Some(pos), Some(prev_pos)) =
            (prev.playing, info.playing, info.position, prev.position)
        {
            let expected = prev_pos + prev.samples as i64;
            let jump = pos - expected;
            let is_loop = info
                .loop_range
                .is_some_and(|(start, end)| pos == start && expected >= end - 1);
            if jump > 0 && !is_loop {
                // Samples the host lost by being late: a jump that matches them is the host
                // skipping audio to catch up; anything else is a seek.
                let lost = (gap_ns - prev_duration_ns).max(0.0) / 1e9 * info.sample_rate as f64;
                let tolerance = (prev.samples as f64).max(0.1 * jump as f64);
                if (jump as f64 - lost).abs() <= tolerance {
                    events.insert(EventKind::TransportJump);
                }
            }
        }
    }

    fn publish(&mut self, duration_s: f64, end_ns: u64) {
        let t = &self.telemetry;
        let record = &self.last;
        // Most blocks have no event: no walk over the kinds.
        if !record.events.is_empty() {
            for kind in record.events.iter() {
                t.bump(kind);
            }
        }

        // Health.
        self.score_inputs.decay_by(self.timing.score_keep);
        if record.deadline_ns > 0 {
            self.score_inputs.observe_load(record.load);
        }
        let e = record.events;
        self.score_inputs.overruns += e.contains(EventKind::Overrun) as u8 as f32;
        self.score_inputs.dropouts += e.contains(EventKind::TransportJump) as u8 as f32;
        self.score_inputs.faults +=
            (e.contains(EventKind::NonFinite) || e.contains(EventKind::Panic)) as u8 as f32;

        t.block(record, self.score_inputs.load, end_ns);
        // The score (a division and clamps) is for the editor's eyes: every 10 ms of audio is
        // often enough, and at once when something happened. The editor's slow frames are
        // counted then too (they lie in a line of their own, which the editor writes).
        // The first score comes at once; the rhythm after it is offset by this instance's
        // stagger, and a score published for an event leaves the rhythm alone (an overrun that
        // every instance sees in the same block would line them all up again).
        self.score_age_s += duration_s;
        let due = self.score_age_s >= SCORE_EVERY_S;
        if due {
            self.score_age_s = if self.score_age_s.is_finite() {
                0.0
            } else {
                -self.config.stagger.of(SCORE_EVERY_S)
            };
        }
        if due || !e.is_empty() {
            let gui = t.gui_frame_overruns();
            self.score_inputs.gui_overruns += gui.saturating_sub(self.gui_overruns_seen) as f32;
            self.gui_overruns_seen = gui;
            // The callback gaps the fleet thread found since (a reset may have cleared them).
            let gaps = t.gaps();
            self.score_inputs.dropouts += gaps.saturating_sub(self.gaps_seen) as f32;
            self.gaps_seen = gaps;
            t.score(self.score_inputs.score());
        }

        if self.producer.push(*record).is_err() {
            t.ring_drop();
        }
    }
}

#[cfg(test)]
mod tests;
