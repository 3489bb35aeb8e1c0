//! Cost of the saturator engine per stereo sample, for every oversampling factor at 64- and
//! 512-sample blocks (criterion reports time per element = per stereo frame at the base rate).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use salve::dsp::{Controls, Curve, Engine, Factor};
use std::hint::black_box;

/// Benchmarks every factor at 64 and 512 samples with the tone at `tone` (0 = centre, where the
/// tilt filter is skipped).
fn bench(c: &mut Criterion, name: &str, tone: f32, blocks: &[usize]) {
    let mut group = c.benchmark_group(name);
    for &block in blocks {
        for factor in Factor::ALL {
            let mut engine = Engine::new(48_000.0, factor);
            engine.set_curve(Curve::Smooth);
            let mut ctl = Controls::default();
            ctl.fill(4.0, 1.0, tone, 0.5);
            let input: Vec<f32> = (0..block).map(|i| (i as f32 * 0.06).sin() * 0.7).collect();
            let (mut left, mut right) = (input.clone(), input.clone());
            group.throughput(Throughput::Elements(block as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{}x", factor.ratio()), block),
                &block,
                |b, _| {
                    b.iter(|| {
                        left.copy_from_slice(&input);
                        right.copy_from_slice(&input);
                        engine.process(&mut left, Some(&mut right), &mut ctl, |_, _| {});
                        black_box((&left, &right));
                    })
                },
            );
        }
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    bench(c, "engine", 0.0, &[64, 512]);
    bench(c, "engine_tilted", 0.3, &[64]);
}

criterion_group!(benches, engine);
criterion_main!(benches);
