//! Virtual-clock tests of every event kind the probe reports.

use super::clock::VirtualClock;
use super::cycle::{CADENCE_WINDOW, RHYTHM_LEN};
use super::telemetry::Telemetry;
use super::*;

const RATE: f32 = 48_000.0;
/// 64 samples at 48 kHz, in ns.
const BLOCK_NS: u64 = 1_333_333;

/// A host calling the probe at a steady pace on a virtual clock, its records read as the fleet
/// thread reads them.
struct Stream {
    probe: Probe<VirtualClock>,
    clock: VirtualClock,
    consumer: rtrb::Consumer<BlockRecord>,
    reader: cycle::CycleReader,
    /// The fleet thread does not get to read the records (a full ring loses them).
    starved: bool,
    /// When the next callback starts.
    next_ns: u64,
    info: BlockInfo,
}

impl Stream {
    fn new() -> Self {
        Self::with_config(ProbeConfig::default())
    }

    fn with_config(config: ProbeConfig) -> Self {
        let clock = VirtualClock::new();
        let (probe, consumer) = Probe::new(clock.clone(), config, Telemetry::channel().0);
        Self {
            reader: probe.cycle_reader(),
            starved: false,
            probe,
            clock,
            consumer,
            next_ns: 1_000_000,
            info: BlockInfo {
                samples: 64,
                sample_rate: RATE,
                realtime: true,
                playing: false,
                position: None,
                loop_range: None,
            },
        }
    }

    fn block_ns(&self) -> u64 {
        (self.info.samples as f64 / self.info.sample_rate as f64 * 1e9) as u64
    }

    /// A host that processes 4 blocks back to back (each a tenth of a block long), then waits
    /// for the device.
    fn burst(&mut self) {
        for i in 0..4 {
            self.clock.set_ns(self.next_ns);
            let start = self.probe.begin();
            self.clock.advance_ns(BLOCK_NS / 10);
            self.end(start, &OutputStats::default());
            self.next_ns += if i == 3 {
                4 * BLOCK_NS - 3 * BLOCK_NS / 10
            } else {
                BLOCK_NS / 10
            };
        }
    }

    /// The probe's end of a call, and the fleet thread's reading of its record.
    fn end(&mut self, start: u64, output: &OutputStats) -> Seen {
        let mut record = *self
            .probe
            .end(start, &self.info, output, 4, Events::default());
        if self.starved {
            return Seen {
                record,
                reading: cycle::Reading::default(),
            };
        }
        let reading = self.reader.read(&record);
        if reading.late {
            record.events.insert(EventKind::CallbackGap);
        }
        Seen { record, reading }
    }

    /// One callback whose processing takes `load` of the block's duration.
    fn block(&mut self, load: f64) -> Seen {
        self.block_with(load, &OutputStats::default())
    }

    fn block_with(&mut self, load: f64, output: &OutputStats) -> Seen {
        self.clock.set_ns(self.next_ns);
        let start = self.probe.begin();
        self.clock
            .advance_ns((self.block_ns() as f64 * load) as u64);
        let record = self.end(start, output);
        self.next_ns += self.block_ns();
        if let Some(pos) = &mut self.info.position {
            *pos += self.info.samples as i64;
        }
        record
    }

    /// A call `wait` of a period into cycle `cycle` (counted from the stream's first wake-up),
    /// taking `load` periods; returns how far the wait read of it is from `wait` (periods).
    fn call_at(&mut self, cycle: f64, wait: f64, load: f64) -> f64 {
        let period = self.block_ns() as f64;
        self.next_ns = (1_000_000.0 + (cycle + wait) * period) as u64;
        let r = self.block(load);
        (r.reading.wait_ns as f64 / period - wait).abs()
    }

    /// `n` clean blocks at 30 % load.
    fn settle(&mut self, n: usize) {
        for _ in 0..n {
            let r = self.block(0.3);
            assert!(
                r.events.is_empty() || r.events == only(EventKind::BlockSizeChange),
                "{:?}",
                r.events
            );
        }
    }

    fn count(&self, kind: EventKind) -> u64 {
        self.probe.telemetry().count(kind)
    }
}

/// A block as the fleet thread sees it: the probe's record (a late call marked, as the fleet
/// marks it for the healer) and what the cycle's reader read of it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    record: BlockRecord,
    reading: cycle::Reading,
}

impl std::ops::Deref for Seen {
    type Target = BlockRecord;
    fn deref(&self) -> &BlockRecord {
        &self.record
    }
}

fn only(kind: EventKind) -> Events {
    let mut e = Events::default();
    e.insert(kind);
    e
}

#[test]
fn a_block_over_its_deadline_is_an_overrun() {
    let mut s = Stream::new();
    s.settle(10);
    let r = s.block(1.3);
    assert_eq!(r.events, only(EventKind::Overrun));
    assert!((r.load - 1.3).abs() < 0.01);
    assert_eq!(r.deadline_ns, BLOCK_NS);
    assert_eq!(s.count(EventKind::Overrun), 1);
    assert_eq!(s.count(EventKind::NearMiss), 0);
}

#[test]
fn a_block_above_the_threshold_is_a_near_miss() {
    let mut s = Stream::new();
    s.settle(10);
    assert_eq!(s.block(0.85).events, only(EventKind::NearMiss));
    assert!(s.block(0.79).events.is_empty());
    assert_eq!(s.count(EventKind::NearMiss), 1);
}

#[test]
fn a_late_callback_in_a_steady_stream_is_a_gap() {
    let mut s = Stream::new();
    s.settle(20);
    s.next_ns += 3 * BLOCK_NS; // the host's thread stalled for three blocks
    let r = s.block(0.3);
    assert!(r.events.contains(EventKind::CallbackGap), "{:?}", r.events);
    assert_eq!(s.count(EventKind::CallbackGap), 1);
    // A long pause (the host stopped calling) is not a stall.
    s.next_ns += 5_000_000_000;
    assert!(!s.block(0.3).events.contains(EventKind::CallbackGap));
}

#[test]
fn a_host_that_misses_every_other_period_drops_every_other_cycle() {
    // An overloaded session: once the host is known to call once a period of its clock, each
    // call two periods after the last is a cycle it dropped, the hundredth as much as the first
    // (they used to become the host's rhythm after four).
    let mut s = Stream::new();
    s.settle(2 * cycle::CADENCE_WINDOW as usize);
    for _ in 0..200 {
        s.next_ns += BLOCK_NS;
        let r = s.block(0.3);
        assert!(r.events.contains(EventKind::CallbackGap), "{:?}", r.events);
    }
    assert_eq!(s.count(EventKind::CallbackGap), 200);
    // Back to once a period: no more gaps.
    s.settle(100);
    assert_eq!(s.count(EventKind::CallbackGap), 200);
}

#[test]
fn gaps_are_judged_against_a_bursty_hosts_own_rhythm() {
    let mut s = Stream::new();
    let burst = Stream::burst;
    for _ in 0..20 {
        burst(&mut s);
    }
    assert_eq!(s.count(EventKind::CallbackGap), 0);
    s.next_ns += 12 * BLOCK_NS;
    burst(&mut s);
    assert_eq!(s.count(EventKind::CallbackGap), 1);
}

#[test]
fn a_transport_jump_matching_the_lost_time_is_a_dropout_but_seeks_and_loops_are_not() {
    let mut s = Stream::new();
    s.info.playing = true;
    s.info.position = Some(0);
    s.settle(20);

    // The host fell 3 blocks behind and skipped the audio to catch up.
    s.next_ns += 3 * BLOCK_NS;
    s.info.position = s.info.position.map(|p| p + 3 * 64);
    let r = s.block(0.3);
    assert!(
        r.events.contains(EventKind::TransportJump),
        "{:?}",
        r.events
    );

    // An honest seek: the position moves, the callbacks stay on time.
    s.settle(20);
    s.info.position = Some(1_000_000);
    assert!(!s.block(0.3).events.contains(EventKind::TransportJump));
    s.info.position = Some(10);
    assert!(!s.block(0.3).events.contains(EventKind::TransportJump));

    // A loop: back to the loop start once the end is reached.
    s.info.loop_range = Some((0, s.info.position.unwrap() + 64));
    s.block(0.3);
    s.info.position = Some(0);
    assert!(!s.block(0.3).events.contains(EventKind::TransportJump));
    assert_eq!(s.count(EventKind::TransportJump), 1);
}

#[test]
fn block_size_and_sample_rate_changes_are_noticed() {
    let mut s = Stream::new();
    s.settle(5);
    s.info.samples = 128;
    assert!(s.block(0.3).events.contains(EventKind::BlockSizeChange));
    assert!(!s.block(0.3).events.contains(EventKind::BlockSizeChange));

    // Re-activation at another rate.
    s.probe.restart_stream();
    s.info.sample_rate = 96_000.0;
    assert!(s.block(0.3).events.contains(EventKind::SampleRateChange));
    assert_eq!(s.count(EventKind::SampleRateChange), 1);
}

#[test]
fn offline_blocks_have_no_deadline() {
    let mut s = Stream::new();
    s.info.realtime = false;
    let r = s.block(25.0); // far slower than realtime: fine offline
    assert_eq!(r.events, only(EventKind::Offline));
    assert_eq!((r.deadline_ns, r.load), (0, 0.0));
    assert_eq!(s.count(EventKind::Overrun), 0);
    assert_eq!(s.probe.telemetry().score(), 1.0);
}

/// The blocks from the 24th on in which a probe with `stagger` published its health score, over
/// `n` blocks at 79 % load (by then its smoothed load is past the score's knee and still
/// rising, so every publication shows a new score), with an overrun in block `overrun`.
fn score_blocks(stagger: Stagger, n: usize, overrun: Option<usize>) -> Vec<usize> {
    let mut s = Stream::with_config(ProbeConfig {
        stagger,
        ..ProbeConfig::default()
    });
    let mut shown = s.probe.telemetry().score();
    let mut published = Vec::new();
    for i in 0..n {
        s.block(if overrun == Some(i) { 1.5 } else { 0.79 });
        let score = s.probe.telemetry().score();
        if score != shown && i >= 24 {
            published.push(i);
        }
        shown = score;
    }
    published
}

#[test]
fn instances_started_together_publish_their_scores_in_different_blocks() {
    // Every 10 ms of audio: every 8th 64-sample block at 48 kHz (the first one at once).
    assert_eq!(score_blocks(Stagger(0), 60, None), [24, 32, 40, 48, 56]);
    // Eight instances made one after another take all eight blocks of that rhythm.
    let mut blocks: Vec<usize> = (0..8)
        .map(|k| score_blocks(Stagger(k), 60, None)[0] % 8)
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    assert_eq!(blocks.len(), 8, "{blocks:?}");
    // An overrun is shown at once and leaves the rhythm alone: instances that all overrun in
    // the same block (a stall of the machine) stay staggered.
    for k in [0, 3, 7] {
        let mut with_overrun = score_blocks(Stagger(k), 80, None);
        with_overrun.push(41);
        with_overrun.sort_unstable();
        assert_eq!(
            score_blocks(Stagger(k), 80, Some(41)),
            with_overrun,
            "stagger {k}"
        );
    }
}

#[test]
fn a_stagger_is_an_eighth_of_the_interval_at_a_time() {
    assert_eq!(
        (0..8)
            .map(|k| Stagger(k).of_samples(512))
            .collect::<Vec<_>>(),
        [0, 64, 128, 192, 256, 320, 384, 448]
    );
    assert_eq!(Stagger(4).of(0.01), 0.005);
    // Instances made one after another take the eighths in turn (other tests make instances
    // in parallel, so only the range is certain here).
    assert!((0..20).all(|_| Stagger::next().0 < 8));
}

#[test]
fn output_faults_are_counted() {
    let mut s = Stream::new();
    s.settle(3);
    let restarted = OutputStats {
        restarted: true,
        ..Default::default()
    };
    assert!(
        s.block_with(0.3, &restarted)
            .events
            .contains(EventKind::NonFinite)
    );
    let limited = OutputStats {
        limited: true,
        peak: 1.99,
        ..Default::default()
    };
    assert!(
        s.block_with(0.3, &limited)
            .events
            .contains(EventKind::Limiter)
    );
    // One engagement lasting several blocks counts once.
    assert!(
        !s.block_with(0.3, &limited)
            .events
            .contains(EventKind::Limiter)
    );
    s.block(0.3);
    assert!(
        s.block_with(0.3, &limited)
            .events
            .contains(EventKind::Limiter)
    );
    assert_eq!(s.count(EventKind::Limiter), 2);
    let storm = OutputStats {
        subnormal_inputs: 100,
        ..Default::default()
    };
    assert!(
        s.block_with(0.3, &storm)
            .events
            .contains(EventKind::DenormalStorm)
    );
    let offset = OutputStats {
        mean: 0.2,
        ..Default::default()
    };
    let mut drift = 0;
    for _ in 0..2000 {
        drift += s
            .block_with(0.3, &offset)
            .events
            .contains(EventKind::DcDrift) as u32;
    }
    assert_eq!(drift, 1);
    assert!(s.probe.telemetry().score() < 1.0);
}

#[test]
fn records_reach_the_reader_in_order() {
    let mut s = Stream::new();
    s.settle(10);
    let seqs: Vec<u64> = std::iter::from_fn(|| s.consumer.pop().ok())
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_stalled_reader_costs_drops_not_waiting() {
    let mut s = Stream::new();
    // Nobody reads: the ring fills, then every further record is dropped and counted, and the
    // probe keeps its pace (every call returns, the clock only moves by the simulated work).
    let total = RING_CAPACITY as u64 + 1000;
    for _ in 0..total {
        s.block(0.3);
    }
    let t = s.probe.telemetry();
    assert_eq!(t.ring_drops(), 1000);
    assert_eq!(t.blocks(), total);
    assert_eq!(s.consumer.slots(), RING_CAPACITY);
    // Once the reader catches up, records flow again.
    while s.consumer.pop().is_ok() {}
    s.block(0.3);
    assert_eq!(s.consumer.slots(), 1);
}

#[test]
fn the_worst_block_is_kept_with_its_position() {
    let mut s = Stream::new();
    s.info.playing = true;
    s.info.position = Some(4800);
    s.settle(5);
    s.block(0.95);
    s.settle(5);
    let t = s.probe.telemetry();
    assert!((t.worst().load - 0.95).abs() < 0.01);
    assert_eq!(t.worst().position, Some(4800 + 5 * 64));
}

#[test]
fn dropouts_are_counted_per_minute_of_audio_played() {
    let mut s = Stream::new();
    // 64 samples at 48 kHz: 45 000 blocks are 60 s.
    s.settle(22_500); // 30 s
    assert_eq!(s.probe.telemetry().dropouts_per_minute(), Some(0.0));
    s.next_ns += 3 * BLOCK_NS;
    s.block(0.3);
    s.settle(22_499);
    let t = s.probe.telemetry();
    let per_min = t.dropouts_per_minute().unwrap();
    assert!((per_min - 1.0).abs() < 0.01, "{per_min}");
    // The worst block is placed in played time, and a reset starts the rate again.
    s.block(1.5);
    let t = s.probe.telemetry();
    let worst_s = t.worst().played_s as f64;
    assert!((worst_s - 60.0).abs() < 0.01, "{worst_s}");
    t.reset_counters();
    assert_eq!(t.dropouts_per_minute(), None);
}

mod cycle_sensing {
    use super::*;

    /// A session on a virtual clock: the driver wakes the host every `period_ns` (the audio
    /// clock, which runs `drift_ppm` slow against the CPU's), other plugins work for a known
    /// time before Salve's call, Salve works for 10 % of the period.
    struct Session {
        s: Stream,
        period_ns: f64,
        wake_ns: f64,
    }

    impl Session {
        fn new(drift_ppm: f64) -> Self {
            let s = Stream::new();
            let period_ns = s.block_ns() as f64 * (1.0 + drift_ppm * 1e-6);
            Session {
                wake_ns: s.next_ns as f64,
                s,
                period_ns,
            }
        }

        /// One cycle whose work before Salve takes `wait` of the period; returns the record.
        fn cycle(&mut self, wait: f64) -> Seen {
            self.s.next_ns = (self.wake_ns + wait * self.period_ns) as u64;
            self.wake_ns += self.period_ns;
            self.s.block(0.1)
        }

        /// How far the record's wait is from the true share `wait` of the cycle (a share).
        fn wait_error(&self, r: &Seen, wait: f64) -> f64 {
            (r.reading.wait_ns as f64 / self.period_ns - wait).abs()
        }

        /// A session that starts with five quiet seconds (other plugins at 1-5 % before
        /// Salve: a stopped transport), in which the drift is learned.
        fn after_a_quiet_start(drift_ppm: f64, seed: u64) -> Self {
            let mut session = Session::new(drift_ppm);
            for w in shares(seed, 3_750, 0.01, 0.05) {
                session.cycle(w);
            }
            session
        }

        /// Plays a cycle for each of `waits` and returns the worst error of the estimated wait
        /// after the first `skip` of them, as a share of the period.
        fn worst_error_over(&mut self, waits: impl IntoIterator<Item = f64>, skip: usize) -> f64 {
            let mut worst = 0.0f64;
            for (i, w) in waits.into_iter().enumerate() {
                let r = self.cycle(w);
                if i > skip {
                    worst = worst.max(self.wait_error(&r, w));
                }
            }
            worst
        }

        /// The host misses `n` cycles (its thread stalled, the driver skipped them).
        fn miss(&mut self, n: u32) {
            self.wake_ns += n as f64 * self.period_ns;
        }
    }

    /// A seeded pseudo-random share in `lo..hi` (the load of the other plugins varies).
    fn shares(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                lo + (hi - lo) * ((x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    /// The worst error of the estimated wait over the cycles after the first `settle`, as a
    /// share of the period.
    fn worst_error(drift_ppm: f64, waits: &[f64], settle: usize) -> f64 {
        let mut session = Session::new(drift_ppm);
        let mut worst = 0.0f64;
        for (i, &w) in waits.iter().enumerate() {
            if i == waits.len() / 2 {
                session.miss(1);
            }
            let r = session.cycle(w);
            // The cadence checks find an audio clock, whatever the load and its changes (the
            // rhythm's check for bursts is another matter: with waits changing by more than
            // half a period from one cycle to the next, now and then, it can find them).
            let bursts = waits[i.saturating_sub(RHYTHM_LEN)..=i]
                .windows(2)
                .filter(|w| w[0] - w[1] > 0.5)
                .count();
            if i > CADENCE_WINDOW as usize + 100 && bursts == 0 {
                assert!(r.reading.regular, "drift {drift_ppm} ppm, cycle {i}");
            }
            // A call that late (a miss's) is not told; what matters is what follows it.
            if i >= settle && w < 0.9 {
                let error = session.wait_error(&r, w);
                worst = worst.max(error);
            }
        }
        worst
    }

    /// Asserts that the worst error with the audio clock 0 and ±80 ppm off is under `bound`.
    fn told_within(waits: &[f64], what: &str, bound: f64) {
        for drift in [0.0, 80.0, -80.0] {
            let worst = worst_error(drift, waits, 600);
            println!(
                "drift {drift:+} ppm{what}: worst wait error {:.2} % of the cycle",
                worst * 100.0
            );
            assert!(worst < bound, "drift {drift} ppm{what}: {worst}");
        }
    }

    #[test]
    fn the_wait_before_salve_is_told_within_six_percent_of_the_cycle() {
        // Other plugins take 1 % to 70 % of each cycle before Salve; the audio clock drifts
        // 80 ppm either way; the host misses a cycle halfway.
        let waits = shares(7, 20_000, 0.01, 0.7);
        told_within(&waits, "", 0.06);
    }

    #[test]
    fn other_plugins_load_growing_over_seconds_is_seen_not_taken_for_clock_drift() {
        // The transport stopped for 8,000 cycles (other plugins at 1-6 %), then their load
        // climbs from 20 % to 80 % over 20,000 cycles (27 s at 64 samples), each cycle within
        // 5 % of that, and stays there: the estimate must follow the load, not the edge.
        let stopped = shares(11, 8_000, 0.01, 0.06);
        let jitter = shares(12, 25_000, -0.05, 0.05);
        let climbing = jitter
            .iter()
            .enumerate()
            .map(|(i, j)| 0.2 + 0.6 * (i as f64 / 20_000.0).min(1.0) + j);
        let waits: Vec<f64> = stopped.into_iter().chain(climbing).collect();
        // 1.9 % to 2.0 % (3.8 % at the worst when the drift was learned from the edge's snaps).
        told_within(&waits, ", load climbing", 0.04);
    }

    #[test]
    fn a_steady_session_after_a_short_quiet_start_is_told_for_a_minute() {
        // A minute at 64 samples: five seconds with other plugins nearly idle (1-5 %), then 55 s
        // at 21-29 % that never drops: no call comes near the edge again, so the edge learned
        // at the start must hold, rising no faster than the drift learned in those five
        // seconds allows (the runner's clean session). 2.6 % to 3.5 % at the worst; 10.2 % to
        // 11.2 % when the drift was learned from the edge's snaps, which hover 0.5 % above the
        // floor where the lowest of a window's calls lies within 0.01 %.
        let quiet = shares(21, 3_750, 0.01, 0.05);
        let steady = shares(22, 41_250, 0.21, 0.29);
        let waits: Vec<f64> = quiet.into_iter().chain(steady).collect();
        told_within(&waits, ", steady after a quiet start", 0.05);
    }

    #[test]
    fn a_few_quiet_seconds_teach_the_drift_to_a_ppm() {
        // Five seconds at 64 samples with other plugins nearly idle (1-5 % before Salve, and one
        // cycle in ten woken up to 3 % late): the lowest call of each window lies within a hair
        // of the floor, so the edge learns to rise never slower than the wake-up (it would never
        // meet a call again) and less than 0.6 ppm of the period per cycle faster (under 0.05 %
        // of the cycle a second): 0.1-0.4 ppm. Learned from the edge's own snaps, which hover
        // above the floor, it rose 0.1-2.2 ppm faster.
        // (A drift above the 100 ppm the edge rises by until it learns is never learned: the
        // edge falls behind from the start.)
        for drift in [0.0, 40.0, 90.0, -80.0, -150.0] {
            let mut session = Session::new(drift);
            let late = shares(24, 3_750, 0.0, 0.3);
            for (w, l) in shares(23, 3_750, 0.01, 0.05).into_iter().zip(late) {
                session.cycle(w + if l < 0.03 { l } else { 0.0 });
            }
            // (The session's period is whole nanoseconds: 0.25 ppm short of the block's.)
            let truth = session.period_ns / (64.0 / RATE as f64 * 1e9) - 1.0;
            let excess = session.s.reader.rise() - truth;
            println!(
                "drift {drift:+} ppm: the edge rises {:.2} ppm faster",
                excess * 1e6
            );
            assert!(
                (0.0..0.6e-6).contains(&excess),
                "drift {drift} ppm: {excess}"
            );
        }
    }

    #[test]
    fn calls_late_in_their_cycle_do_not_pull_the_edge_early() {
        // After a quiet start (1-5 %), other plugins take 25-35 % before Salve, and every 300
        // cycles a burst of load makes Salve's call start at 97 % of its cycle: just before
        // the next wake-up, where it looks like an early call of the next cycle. The edge must
        // not follow it down.
        let quiet = shares(30, 3_750, 0.01, 0.05);
        let busy = shares(31, 20_000, 0.25, 0.35)
            .into_iter()
            .enumerate()
            .map(|(i, w)| if i % 300 == 299 { 0.97 } else { w });
        let waits: Vec<f64> = quiet.into_iter().chain(busy).collect();
        // 1.5 % to 2.0 % (6.9 % at the worst when the drift was learned from the snaps).
        told_within(&waits, ", late calls", 0.04);
    }

    #[test]
    fn late_calls_in_cycles_that_miss_do_not_pull_the_edge_early() {
        // Other plugins take 55-65 % before Salve after a quiet start; every 150 cycles the
        // thread is held up and Salve's call starts at 92-99 % of its cycle, which then misses
        // (the driver skips the next period). Each such call looks like an early call of the
        // next cycle, and the next call comes a whole skipped cycle later, so the gap does not
        // tell; the next call, landing where the old edge expects it, does.
        for drift in [0.0, 80.0, -80.0] {
            let mut session = Session::after_a_quiet_start(drift, 50);
            let busy = shares(51, 20_000, 0.55, 0.65);
            let late = shares(52, 20_000, 0.92, 0.99);
            let mut worst = 0.0f64;
            for (i, (&w, &l)) in busy.iter().zip(&late).enumerate() {
                if i % 150 == 149 {
                    session.cycle(l);
                    session.miss(1);
                    continue;
                }
                let r = session.cycle(w);
                let error = session.wait_error(&r, w);
                worst = worst.max(error);
            }
            println!(
                "drift {drift:+} ppm, late calls before misses: worst wait error {:.2} % of the cycle",
                worst * 100.0
            );
            // 1.9 % (3.4-8.7 % when the drift was learned from the snaps, where a late
            // call within 2 % of the next wake-up counted as the floor's noise). Without the
            // confirmation, 21.5 % and growing.
            assert!(worst < 0.04, "drift {drift} ppm: {worst}");
        }
    }

    #[test]
    fn the_cycle_is_followed_across_records_lost_to_a_starved_fleet_thread() {
        // After a quiet start, other plugins take 60-70 % of each cycle before Salve: two audio
        // threads that take both cores starve the fleet thread, and half a second of records
        // (375 cycles) is lost to the full ring, three times. No call after a hole comes down
        // to the floor again, so the edge must be carried across it.
        for drift in [0.0, 80.0, -80.0] {
            let mut session = Session::after_a_quiet_start(drift, 60);
            let busy = shares(61, 6_000, 0.6, 0.7);
            let mut worst = 0.0f64;
            for (i, &w) in busy.iter().enumerate() {
                session.s.starved = i % 2_000 >= 1_000 && i % 2_000 < 1_375;
                let r = session.cycle(w);
                if session.s.starved {
                    continue;
                }
                assert!(r.reading.regular, "drift {drift} ppm, cycle {i}");
                assert!(!r.reading.late, "drift {drift} ppm, cycle {i}");
                worst = worst.max(session.wait_error(&r, w));
            }
            println!(
                "drift {drift:+} ppm, records lost: worst wait error {:.2} % of the cycle",
                worst * 100.0
            );
            // Started afresh after each hole, the first call's wait was taken for the wake-up:
            // 60 % off, and no cycle to trust for the next 512 calls.
            assert!(worst < 0.04, "drift {drift} ppm: {worst}");
            // Nor did a hole count as a callback gap.
            assert_eq!(session.s.count(EventKind::CallbackGap), 0);
        }
    }

    #[test]
    fn records_lost_while_the_stream_settles_do_not_shift_the_cycle() {
        // Hundreds of instances start at once and the fleet thread, busy with them, loses a
        // third of a second of records (250 cycles) while the streams settle, when the edge
        // may rise 0.2 % of a period per cycle. The cycles over the hole are whole periods:
        // counted in periods grown by that allowance, the call after the hole was put 250 x
        // 0.2 % = half a cycle late, and the edge never came down to it again.
        for drift in [0.0, 80.0, -80.0] {
            let mut session = Session::new(drift);
            let busy = shares(63, 3_000, 0.0, 0.03);
            let mut worst = 0.0f64;
            for (i, &w) in busy.iter().enumerate() {
                session.s.starved = (300..550).contains(&i);
                let r = session.cycle(w);
                if session.s.starved || i < 100 {
                    continue;
                }
                worst = worst.max(session.wait_error(&r, w));
            }
            println!(
                "drift {drift:+} ppm, records lost while settling: worst wait error {:.2} % of the cycle",
                worst * 100.0
            );
            assert!(worst < 0.04, "drift {drift} ppm: {worst}");
        }
    }

    #[test]
    fn a_call_that_moves_earlier_for_good_is_told_at_once() {
        // Other plugins before Salve take 55-65 % of each cycle (after a quiet start); then the
        // instances before this one are shed and its calls move earlier for good, by 3 % to
        // 40 % of the cycle: the new, lower waits are told within a few cycles.
        for drop in [0.03, 0.08, 0.15, 0.4] {
            let mut session = Session::after_a_quiet_start(0.0, 60);
            for w in shares(61, 2_000, 0.55, 0.65) {
                session.cycle(w);
            }
            let mut worst = 0.0f64;
            for (i, w) in shares(62, 2_000, 0.55 - drop, 0.65 - drop)
                .into_iter()
                .enumerate()
            {
                let r = session.cycle(w);
                if i >= 3 {
                    let error = session.wait_error(&r, w);
                    worst = worst.max(error);
                }
            }
            println!(
                "calls {:.0} % earlier: worst wait error {:.2} % of the cycle",
                drop * 100.0,
                worst * 100.0
            );
            assert!(worst < 0.05, "{drop}: {worst}");
        }
    }

    #[test]
    fn a_stall_while_the_edge_settles_teaches_no_drift() {
        // The runner's session-step: 5 s of a stopped transport (others at 3 %), 5 s at 26 %,
        // 12 s at 72 %, then 26 % again, each cycle within 5 % of that. Once, in the first
        // seconds, the thread is held up: Salve's call starts at 93 % of its cycle, which then
        // misses. That call looks like an early one of the next cycle; taken as the floor, the
        // edge's climb back up to the real one was learned as 68 ppm of drift, the edge then
        // rose through the load, and at the fall back to 26 % the estimate wrapped: 55.6 % off.
        for stall_at in [100, 300, 555, 800, 1_500] {
            let mut session = Session::new(0.0);
            let jitter = shares(70, 40_000, 0.95, 1.05);
            let mut worst = 0.0f64;
            for (i, j) in jitter.into_iter().enumerate() {
                if i == stall_at {
                    session.cycle(0.93);
                    session.miss(1);
                    continue;
                }
                let t = i as f64 * session.period_ns * 1e-9;
                let load = match t {
                    t if t < 5.0 => 0.03,
                    t if t < 10.0 => 0.26,
                    t if t < 22.0 => 0.72,
                    _ => 0.26,
                };
                let r = session.cycle(load * j);
                if i > 4_000 {
                    let error = session.wait_error(&r, load * j);
                    worst = worst.max(error);
                }
            }
            println!(
                "a stall at cycle {stall_at}: worst wait error {:.2} % of the cycle",
                worst * 100.0
            );
            assert!(worst < 0.06, "stall at {stall_at}: {worst}");
        }
    }

    #[test]
    fn a_slow_patch_while_the_drift_is_learned_does_not_make_the_edge_rise_too_fast_or_slow() {
        // The runner's session-step (5 s of a stopped transport with others at 1-5 %, 5 s at
        // 21-29 %, 12 s at 67-77 %, then 21-29 % again) in which, in the first seconds, the
        // machine runs slow for 300 or 600 cycles: every call starts 0.5 % or 1.2 % of a period
        // later, so a window's lowest call or two lie that far above the floor. One run
        // measured it: that low, taken for the floor's noise, made the edge rise 6.7 ppm a
        // cycle too fast, and through the 12 s with no call near the floor the wait read 15.4 %
        // low. Every start of the patch from cycle 1,000 to 3,580, the audio clock 0 or ±80 ppm
        // off: 3.6 % at the worst (26 % when the drift was the line through a run's first and
        // last lows, a low's stray from the line through the one before it the noise, and a
        // run of two lows ended by a shift learned from).
        let seconds = |cycles: f64, period_ns: f64| cycles * period_ns * 1e-9;
        let mut worst = (0.0f64, 0, 0.0, 0, 0.0);
        for patch_at in (1_000..3_600).step_by(60) {
            for drift in [0.0, 80.0, -80.0] {
                for (length, lift) in [(300, 0.005), (600, 0.005), (300, 0.012)] {
                    let mut session = Session::new(drift);
                    let mut error = 0.0f64;
                    for (i, w) in shares(90, 3_750, 0.01, 0.05).into_iter().enumerate() {
                        let slow = (patch_at..patch_at + length).contains(&i);
                        session.cycle(if slow { w + lift } else { w });
                    }
                    let steps = [(5.0, 0.21, 0.29), (12.0, 0.67, 0.77), (10.0, 0.21, 0.29)];
                    for (k, &(length_s, lo, hi)) in steps.iter().enumerate() {
                        let n = (length_s / seconds(1.0, session.period_ns)) as usize;
                        for (i, w) in shares(91 + k as u64, n, lo, hi).into_iter().enumerate() {
                            let r = session.cycle(w);
                            if k > 0 || i > 750 {
                                error = error.max(session.wait_error(&r, w));
                            }
                        }
                    }
                    if error > worst.0 {
                        worst = (error, patch_at, drift, length, lift);
                    }
                }
            }
        }
        let (error, at, drift, length, lift) = worst;
        println!(
            "slow patches while learning: worst wait error {:.2} % of the cycle ({length} cycles \
             {:.1} % late from cycle {at}, drift {drift:+} ppm)",
            error * 100.0,
            lift * 100.0
        );
        assert!(error < 0.06, "{worst:?}");
    }

    #[test]
    fn calls_that_come_earlier_at_the_end_of_a_quiet_start_do_not_make_the_edge_fall_behind() {
        // The runner's clean session as one run measured it: five quiet seconds with the
        // others at 2.4-2.7 % before Salve, except that the last few hundred of its cycles came
        // 2 % of a period earlier (just under a shift: the floor moved down), then 55 s at
        // 21-29 %. The last low, taken as the floor, tilted the run's line by -10.7 ppm; with
        // the lows' mean height above it as the noise the edge rose 7 ppm a cycle slower than
        // the wake-up, and the wait grew from 26 % to 50 % (25.7 % at the 99th percentile).
        for (drop_at, drop) in [
            (3_300, 0.0197),
            (3_450, 0.0197),
            (3_300, 0.012),
            (3_000, 0.0197),
        ] {
            for drift in [0.0, 80.0, -80.0] {
                let mut session = Session::new(drift);
                for (i, w) in shares(95, 3_750, 0.024, 0.027).into_iter().enumerate() {
                    session.cycle(if i >= drop_at { w - drop } else { w });
                }
                let worst = session.worst_error_over(shares(96, 41_250, 0.21, 0.29), 750);
                println!(
                    "calls {:.1} % earlier from cycle {drop_at}, drift {drift:+} ppm: worst wait \
                     error {:.2} % of the cycle",
                    drop * 100.0,
                    worst * 100.0
                );
                assert!(worst < 0.06, "{drop_at} {drop} {drift}: {worst}");
            }
        }
    }

    #[test]
    fn two_first_lows_a_few_cycles_apart_teach_no_drift() {
        // The first windows' lowest calls fall on either side of a window's end, a few cycles
        // apart (run CN's two-thread session): the line through them says nothing of the drift
        // (their places differ by the load's noise over 8 cycles: 200 ppm). Learned, the edge
        // rose 200 ppm a cycle, every later low strayed 5 % from it and started a run of its
        // own, and the wait read 3 % for a true 30-80 % for the whole run.
        let mut worst = (0.0f64, 0, 0.0);
        for first in (1_016..1_040).chain(1_272..1_296) {
            for drift in [0.0, 80.0, -80.0] {
                let mut session = Session::new(drift);
                for (i, w) in shares(97, 3_750, 0.03, 0.05).into_iter().enumerate() {
                    session.cycle(if i == first || i == first + 8 {
                        0.01
                    } else {
                        w
                    });
                }
                let error = session.worst_error_over(shares(98, 20_000, 0.3, 0.4), 750);
                if error > worst.0 {
                    worst = (error, first, drift);
                }
            }
        }
        println!(
            "two first lows 8 cycles apart: worst wait error {:.2} % of the cycle (at cycle {}, \
             drift {:+} ppm)",
            worst.0 * 100.0,
            worst.1,
            worst.2
        );
        assert!(worst.0 < 0.06, "{worst:?}");
    }

    #[test]
    fn a_host_that_restarts_its_cycle_after_an_overrun_is_followed_at_once() {
        // The chaos runner's own-fault scenarios, as a driver that recovers from an xrun by
        // starting afresh: one call takes 1.42 periods, and the host's next cycle starts as it
        // ends, its calls from then on 0.42 of a period later on the old grid. Read against
        // the old grid, every wait after it was 42 % too high; a settled edge rises too slowly
        // to follow (the fleet then saw a cycle 80 % full and shed a clean session to 4x).
        // The same when something else held the host's thread for 2.25 periods before the call
        // (the runner's preemption scenario): the call itself takes its usual time but ends past
        // its period, and the next begins as it ends. And when a call woken 12 % late takes 95 %
        // of a period (a slow patch of the machine): neither overran its period alone. And when
        // the restarted cycle's first call begins 7 % of a period after the late one ended (the
        // host's own work between them, or its wake-up). And when that first call comes 14 % or
        // 30 % of a period late in the cycle it opens, the next calls a period after the cycle's
        // start (the chaos runner writing a progress line after the late call): read from the
        // first call, every wait after it was 86 % high. And when that first call lands just
        // before the old grid's next wake-up (earlier than calls usually land): it was taken
        // for an early call of the old grid, and every wait after it read 81 % high.
        // And all of these on a machine that holds up every eighth call by 25-45 % of a period
        // (the runs of the own-fault suite on a noisy day): the usual spread of the waits that
        // tells a restart from a late call must not grow with them.
        for noisy in [false, true] {
            for (at, held, load, after, first_late) in [
                (300, 0.0, 1.42, 0.0, 0.0),
                (800, 0.0, 1.42, 0.0, 0.0),
                (2_000, 0.0, 1.42, 0.0, 0.0),
                (4_000, 0.0, 1.42, 0.0, 0.0),
                (2_000, 2.25, 0.3, 0.0, 0.0),
                (2_000, 0.12, 0.95, 0.0, 0.0),
                (4_000, 0.0, 5.2, 0.07, 0.0),
                (2_000, 0.12, 0.95, 0.07, 0.0),
                (2_000, 2.25, 0.3, 0.12, 0.0),
                (4_000, 0.0, 5.2, 0.15, 0.0),
                (2_000, 2.25, 0.3, 0.0, 0.14),
                (4_000, 0.0, 1.42, 0.05, 0.14),
                (2_000, 0.12, 0.95, 0.0, 0.3),
                (2_000, 2.25, 0.46, 0.19, 0.09),
                (4_000, 2.25, 0.46, 0.17, 0.0),
            ] {
                let held_up = shares(98, 6_000, 0.25, 0.45);
                let mut s = Stream::new();
                let period = s.block_ns() as f64;
                let mut wake = s.next_ns as f64;
                let mut worst = 0.0f64;
                let mut opens_late = 0.0;
                for (i, w) in shares(99, 6_000, 0.0, 0.02).into_iter().enumerate() {
                    let (late, load, after) = if i == at {
                        (held, load, after)
                    } else if noisy && i % 8 == 7 && i != at + 1 {
                        (held_up[i], 0.3, 0.0)
                    } else {
                        (0.0, 0.3, 0.0)
                    };
                    let late = late + std::mem::take(&mut opens_late);
                    let start = wake + (w + late) * period;
                    s.next_ns = start as u64;
                    let r = s.block(load);
                    let end = start + load * period;
                    // A call that ends past its period restarts the host's cycle.
                    wake = if end > wake + period {
                        if i == at {
                            opens_late = first_late;
                        }
                        end + (after - opens_late) * period
                    } else {
                        wake + period
                    };
                    // (The restart's own call is read at the wake-up: it is the first of its
                    // cycle that the reader sees.)
                    let opening = i == at + 1 && first_late > 0.0;
                    if i > at && i > 100 && !opening {
                        let error = r.reading.wait_ns as f64 / period - (w + late);
                        worst = worst.max(error.abs());
                    }
                }
                println!(
                    "a restart after a call of {load} periods at cycle {at} (held {held} periods \
                     before it, the next {after} after it and {first_late} late in its cycle{}): \
                     worst wait error {:.2} % of the cycle",
                    if noisy {
                        ", every eighth call held up"
                    } else {
                        ""
                    },
                    worst * 100.0
                );
                assert!(
                    worst < 0.05,
                    "overrun at {at}, held {held}, load {load}, noisy {noisy}: {worst}"
                );
            }
        }
    }

    #[test]
    fn a_full_cycle_that_overruns_into_the_next_calls_start_is_no_restart() {
        // A session whose other plugins take 82-88 % of each cycle before Salve: a stall makes
        // one of Salve's calls end just before the next cycle's call begins, as late in its
        // cycle as ever. The host kept its grid; taken for a restart, the wake-up would move to
        // that call and every wait after it read 85 % low, a full session seen as empty.
        for at in [4_000, 6_000, 9_000] {
            let mut s = Stream::new();
            // (After a quiet start that shows the host's wake-up.)
            let mut waits = shares(7, 3_750, 0.0, 0.02);
            waits.extend(shares(8, 6_000, 0.82, 0.88));
            let mut worst = 0.0f64;
            for (i, &w) in waits.iter().enumerate() {
                let load = if i == at {
                    1.0 + waits[i + 1] - w - 0.03
                } else {
                    0.1
                };
                let error = s.call_at(i as f64, w, load);
                if i > at {
                    worst = worst.max(error);
                }
            }
            println!(
                "a full cycle overrun into the next call at cycle {at}: worst wait error {:.2} % \
                 of the cycle",
                worst * 100.0
            );
            assert!(worst < 0.05, "overrun at {at}: {worst}");
        }
    }

    #[test]
    fn a_full_session_whose_host_misses_every_other_cycle_keeps_its_edge() {
        // The runner's two-thread session in its last second (run DG): the other plugins take
        // 88-96 % of each cycle before Salve, and the host misses every other cycle, so each
        // call comes two periods after the last, as late in its cycle. A call more than 2 % of
        // a period before the next wake-up was taken for an early one of the cycle after; the
        // next, as early, confirmed it, and the edge came down to the calls: waits of 5 %
        // against 80-95 %.
        for seed in [12, 13, 14] {
            let mut s = Stream::new();
            // (A quiet start that shows the wake-up, then a busy session, every cycle played.)
            let mut waits = shares(7, 3_750, 0.0, 0.02);
            waits.extend(shares(11, 3_000, 0.80, 0.86));
            let missing = waits.len();
            waits.extend(shares(seed, 1_500, 0.88, 0.96));
            let (mut cycle, mut worst) = (0.0, 0.0f64);
            for (i, &w) in waits.iter().enumerate() {
                let error = s.call_at(cycle, w, 0.03);
                if i >= missing {
                    worst = worst.max(error);
                }
                // (The first call of the overload comes after a missed cycle too.)
                cycle += if i + 1 >= missing { 2.0 } else { 1.0 };
            }
            println!(
                "a host missing every other cycle, 88-96 % full (seed {seed}): worst wait error \
                 {:.2} % of the cycle",
                worst * 100.0
            );
            assert!(worst < 0.05, "seed {seed}: {worst}");
        }
    }

    #[test]
    fn a_new_block_size_forgets_where_calls_usually_landed() {
        // A session at 64 samples (calls 40-44 % into their cycle), then the host goes on at
        // 128 samples with nothing before Salve. Where calls usually land tells a restart of
        // the host's cycle from a late call (the restart's call lands where the late one ended,
        // here 42 % into the old cycle); learned at the old size it no longer holds, and a
        // restart soon after (a call of 1.42 periods, the host starting afresh as it ends) must
        // still be followed at once.
        for at in [30, 80, 200] {
            let mut s = Stream::new();
            let mut worst = 0.0f64;
            let mut wake = s.next_ns as f64;
            // (After a quiet start that shows the host's wake-up.)
            let mut waits = shares(7, 3_750, 0.0, 0.02);
            waits.extend(shares(9, 3_000, 0.40, 0.44));
            for w in waits {
                s.next_ns = (wake + w * s.block_ns() as f64) as u64;
                s.block(0.1);
                wake += s.block_ns() as f64;
            }
            s.info.samples = 128;
            let period = s.block_ns() as f64;
            for (i, w) in shares(10, 1_000, 0.0, 0.02).into_iter().enumerate() {
                let start = wake + w * period;
                s.next_ns = start as u64;
                let load = if i == at { 1.42 } else { 0.1 };
                let r = s.block(load);
                let end = start + load * period;
                wake = if end > wake + period {
                    end
                } else {
                    wake + period
                };
                if i > at {
                    let error = r.reading.wait_ns as f64 / period - w;
                    worst = worst.max(error.abs());
                }
            }
            println!(
                "a restart {at} calls after the block size doubled: worst wait error {:.2} % of \
                 the cycle",
                worst * 100.0
            );
            assert!(worst < 0.05, "restart at {at}: {worst}");
        }
    }

    #[test]
    fn a_shift_of_the_cycle_while_the_drift_is_learned_does_not_pull_the_edge_away() {
        // The runner's clean session as one run measured it: a stopped transport with the
        // others at 2-3 % of each cycle, but from 0.6 s to 2.25 s every call starts 3 % of a
        // period later (the host's cycle shifted after a stall, and back); then 55 s of others
        // at 24-28 %. The shift back fell in the first window the drift is learned from, was
        // learned as -13 ppm, and the edge then fell below every call: the wait grew by 1 % of
        // the cycle a second, 50 % off after 50 s, and the fleet shed quality for nothing
        // (62 % off at the worst, with the audio clock 0 or 80 ppm fast or slow).
        for drift in [0.0, 80.0, -80.0] {
            let mut session = Session::new(drift);
            for (i, w) in shares(80, 3_750, 0.02, 0.03).into_iter().enumerate() {
                let shifted = (450..1_690).contains(&i);
                session.cycle(if shifted { w + 0.03 } else { w });
            }
            let worst = session.worst_error_over(shares(81, 41_250, 0.24, 0.28), 750);
            println!(
                "drift {drift:+} ppm, the cycle shifted while learning: worst wait error {:.2} % \
                 of the cycle",
                worst * 100.0
            );
            // 4.3 % (6.7 % at the worst when the drift was learned from the snaps).
            assert!(worst < 0.06, "drift {drift} ppm: {worst}");
        }
    }

    #[test]
    fn a_session_that_fills_up_is_seen_in_wait_and_slack() {
        let mut session = Session::new(30.0);
        // (Past the first cadence check: before it the cycle is not trusted.)
        for w in shares(3, CADENCE_WINDOW as usize + 10, 0.0, 0.2) {
            session.cycle(w);
        }
        // The other plugins' load climbs to 80 % of the cycle.
        let r = session.cycle(0.8);
        let p = session.period_ns;
        assert!(
            (r.reading.wait_ns as f64 / p - 0.8).abs() < 0.02,
            "{}",
            r.reading.wait_ns as f64 / p
        );
        // Salve's 10 % leaves about 10 % of the cycle.
        assert!(
            (r.reading.slack_ns(&r) as f64 / p - 0.1).abs() < 0.03,
            "{}",
            r.reading.slack_ns(&r)
        );
        assert!(r.reading.regular);
        assert_eq!(r.reading.cycles, 1);
    }

    #[test]
    fn a_regular_host_that_misses_one_period_is_told_every_time() {
        let mut session = Session::new(0.0);
        for _ in 0..50 {
            session.cycle(0.2);
        }
        for _ in 0..3 {
            session.miss(1);
            let r = session.cycle(0.2);
            assert!(r.events.contains(EventKind::CallbackGap), "{:?}", r.events);
            assert_eq!(r.reading.cycles, 2);
            for _ in 0..20 {
                assert!(!session.cycle(0.2).events.contains(EventKind::CallbackGap));
            }
        }
        // Missing a period did not become the host's norm.
        assert_eq!(session.s.count(EventKind::CallbackGap), 3);
    }

    /// A host without an audio clock (nice-plug's standalone with its dummy backend): after each
    /// cycle's start it sleeps until a period later and wakes `oversleep_ns` late (the timer's
    /// slack), then calls Salve after `before` of a period of its own work.
    fn free_running(period_samples: u32, oversleep_ns: (u64, u64), cycles: usize) -> Vec<Seen> {
        let mut s = Stream::new();
        s.info.samples = period_samples;
        let period = s.block_ns();
        let jitter = shares(41, cycles, 0.0, 1.0);
        let before = shares(42, cycles, 0.0, 0.01);
        let mut wake = s.next_ns;
        let mut records = Vec::new();
        for (j, b) in jitter.iter().zip(&before) {
            s.next_ns = wake + (b * period as f64) as u64;
            records.push(s.block(0.05));
            let (lo, hi) = oversleep_ns;
            wake += period + lo + ((hi - lo) as f64 * j) as u64;
        }
        records
    }

    #[test]
    fn a_host_without_an_audio_clock_has_no_cycle_to_measure() {
        // 512 and 64 samples at 48 kHz, oversleeping by 30-150 us (what this VM's standalone
        // showed), or by 10-30 us (a quieter machine at 512 samples: 0.2 % of a period).
        for (samples, oversleep) in [
            (512, (30_000, 150_000)),
            (64, (30_000, 150_000)),
            (512, (10_000, 30_000)),
        ] {
            let records = free_running(samples, oversleep, 4 * CADENCE_WINDOW as usize);
            // Told at the first check, or for the slightest oversleep the second.
            let regular = records.iter().filter(|r| r.reading.regular).count();
            let after_two = records[2 * CADENCE_WINDOW as usize + 2..]
                .iter()
                .filter(|r| r.reading.regular)
                .count();
            println!("{samples} samples, oversleeping {oversleep:?} ns: {regular} calls regular");
            assert_eq!(
                after_two, 0,
                "{samples} samples, {oversleep:?}: {regular} regular"
            );
            if oversleep.0 >= 30_000 {
                assert_eq!(regular, 0, "{samples} samples, {oversleep:?}");
            }
        }
    }

    #[test]
    fn a_host_that_sleeps_to_a_steady_timeline_is_a_clock() {
        // The same host sleeping until its ideal timeline (the oversleep is not carried on):
        // a clock, each call up to 150 us late in its cycle.
        let mut s = Stream::new();
        s.info.samples = 512;
        let period = s.block_ns();
        let late = shares(43, 2 * CADENCE_WINDOW as usize, 30_000.0, 150_000.0);
        let mut wake = s.next_ns;
        let mut last = None;
        for l in late {
            s.next_ns = wake + l as u64;
            last = Some(s.block(0.05));
            wake += period;
        }
        let last = last.unwrap();
        assert!(last.reading.regular);
        // Told within the timer's slack: at most 150 us, 1.4 % of the cycle.
        assert!(last.reading.wait_ns < 150_000, "{}", last.reading.wait_ns);
    }

    #[test]
    fn a_bursty_host_is_not_a_regular_cycle() {
        let mut s = Stream::new();
        for _ in 0..40 {
            s.burst();
        }
        let r = s.block(0.1);
        assert!(!r.reading.regular);
    }
}
