//! Cost of the probe per `process()` call at 64-sample stereo blocks: two clock reads, the
//! budget/continuity/output checks, the health score, the atomics and the ring push (with a
//! reader draining the ring, as the background thread does). The output scan itself (peak, NaN,
//! DC, subnormals) is folded into the engine's output loop and is part of the engine benchmark.

use criterion::{Criterion, criterion_group, criterion_main};
use salve::dsp::OutputStats;
use salve::probe::clock::Clock;
use salve::probe::clock::MonotonicClock;
use salve::probe::events::Events;
use salve::probe::telemetry::Telemetry;
use salve::probe::{BlockInfo, Probe, ProbeConfig};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The production clock, read as the probe reads it, plus a virtual offset the bench moves by one
/// period per call: the calls then form the stream a host makes (one a period), which is the
/// path the probe takes in a session, while every reading still costs a real clock read (and
/// one relaxed load more).
#[derive(Clone)]
struct StreamClock {
    real: MonotonicClock,
    offset_ns: Arc<AtomicU64>,
}

impl Clock for StreamClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.real.now_ns() + self.offset_ns.load(Ordering::Relaxed)
    }
}

fn run<C: Clock>(c: &mut Criterion, name: &str, clock: C, mut between: impl FnMut()) {
    let (mut probe, mut consumer) =
        Probe::new(clock, ProbeConfig::default(), Telemetry::channel().0);
    let mut info = BlockInfo {
        samples: 64,
        sample_rate: 48_000.0,
        realtime: true,
        playing: true,
        position: Some(0),
        loop_range: None,
    };
    let stats = OutputStats {
        peak: 0.5,
        mean: 0.001,
        ..Default::default()
    };
    let mut n = 0u32;
    c.bench_function(name, |b| {
        b.iter(|| {
            let start = probe.begin();
            let record = probe.end(start, &info, &stats, 4, Events::default());
            info.position = info.position.map(|p| p + 64);
            between();
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) {
                while consumer.pop().is_ok() {}
            }
            // What the plugin reads of it: the load and the events (the reflex).
            black_box((record.load, record.events));
        })
    });
}

fn probe(c: &mut Criterion) {
    // A host's stream: one call a period (64 samples at 48 kHz).
    let offset_ns = Arc::new(AtomicU64::new(0));
    let clock = StreamClock {
        real: MonotonicClock::new(),
        offset_ns: offset_ns.clone(),
    };
    run(c, "probe/64", clock, || {
        offset_ns.store(
            offset_ns.load(Ordering::Relaxed) + 1_333_333,
            Ordering::Relaxed,
        )
    });
    // Calls back to back, as a host that renders ahead in bursts makes them.
    run(c, "probe/64-burst", MonotonicClock::new(), || {});
}

/// The parts: one clock read (the probe takes two a call) and one ring push with a reader.
fn parts(c: &mut Criterion) {
    let clock = MonotonicClock::new();
    c.bench_function("probe/clock", |b| b.iter(|| black_box(clock.now_ns())));
    let q = quanta::Clock::new();
    c.bench_function("probe/raw", |b| b.iter(|| black_box(q.raw())));
    let (mut producer, mut consumer) =
        rtrb::RingBuffer::<salve::probe::record::BlockRecord>::new(salve::probe::RING_CAPACITY);
    let record = salve::probe::record::BlockRecord::default();
    let mut n = 0u32;
    c.bench_function("probe/push", |b| {
        b.iter(|| {
            let _ = producer.push(black_box(record));
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) {
                while consumer.pop().is_ok() {}
            }
        })
    });
}

criterion_group!(benches, probe, parts);
criterion_main!(benches);
