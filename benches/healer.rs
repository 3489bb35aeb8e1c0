//! Cost of the healer: one tick at 50 Hz with the 15 records of 64-sample blocks at 48 kHz that
//! arrive between two ticks, and the cost per record (a tick with 4096 records, the ring's
//! capacity, divided by 4096); and the fleet's measure of a tick of the session at 128 instances.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use salve::healer::level::Level;
use salve::healer::session::{Measurer, Sample};
use salve::healer::{Healer, HealerConfig, Mode, TickInputs};
use salve::probe::record::BlockRecord;
use std::hint::black_box;

fn records(n: usize) -> Vec<BlockRecord> {
    (0..n)
        .map(|i| BlockRecord {
            seq: i as u64,
            elapsed_ns: 500_000 + (i as u32 * 7919) % 100_000,
            deadline_ns: 1_333_333,
            samples: 64,
            sample_rate: 48_000.0,
            load: 0.4 + ((i * 7919) % 100) as f32 / 1000.0,
            ratio: 16,
            ..Default::default()
        })
        .collect()
}

fn healer(c: &mut Criterion) {
    let inputs = TickInputs {
        mode: Mode::Auto,
        ceiling: Level::Ultra,
        gui_frame_ms: Some(2.0),
        reflex_count: 0,
        panics_raised: 0,
        bypassed: false,
    };
    let mut group = c.benchmark_group("healer");
    for n in [15usize, 4096] {
        let batch = records(n);
        let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Default::default());
        h.start_session(48_000, 64, Level::Ultra);
        let mut now = 0u64;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("tick/{n}"), |b| {
            b.iter(|| {
                now += 20_000_000;
                black_box(h.tick(now, &batch, inputs))
            })
        });
    }
    group.finish();
}

/// The fleet's measure of one tick of the session: 128 instances on one host thread, each
/// playing the 30 cycles of a 40 ms tick (64-sample blocks at 48 kHz), one after another in
/// every cycle, handed over instance by instance as the fleet gathers them.
fn session(c: &mut Criterion) {
    let (instances, cycles, period) = (128u32, 30u64, 1_333_333u64);
    let mut samples = Vec::new();
    for instance in 0..instances {
        for cycle in 0..cycles {
            let wake = 1_000_000_000 + cycle * period + (cycle * 7919) % 5_000;
            samples.push(Sample {
                thread: 1,
                instance,
                wake_ns: wake,
                period_ns: period,
                wait_ns: 400_000 + instance as u64 * 3_000,
                busy_ns: 2_500,
                dropout: false,
                placed: true,
            });
        }
    }
    let mut measurer = Measurer::default();
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function(format!("measure/{}", samples.len()), |b| {
        b.iter(|| black_box(measurer.measure(black_box(&samples))))
    });
    group.finish();
}

criterion_group!(benches, healer, session);
criterion_main!(benches);
