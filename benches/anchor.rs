//! The anchor: Salve's up/down half-band cascade against the same cascade built from a well-kept
//! crate (`halfband`, after Laurent de Soras' HIIR), in the same run on the same machine.
//!
//! Both sides use the very same designs: every stage's coefficient count and transition band
//! from `salve::dsp::oversampler::STAGE_DESIGNS`, which the crate's own designer turns into the
//! same coefficients (checked below), so the stop-band attenuation is equal (at least 96 dB per
//! stage). Each measurement takes a 64-sample stereo block up by the factor and back down, with
//! no shaping in between; criterion reports the time per stereo frame at the base rate.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use halfband::iir::{Downsampler, Polyphase, PolyphaseEven, PolyphaseOdd, Upsampler};
use salve::dsp::halfband::{Lanes, design_f32};
use salve::dsp::oversampler::{MAX_FACTOR, Oversampler, STAGE_DESIGNS};
use salve::dsp::{Factor, Simd};
use std::hint::black_box;

const BLOCK: usize = 64;

/// One 2x stage of the crate, up and down, for one channel.
struct Stage<P: Polyphase> {
    up: Upsampler<P>,
    down: Downsampler<P>,
}

impl<P: Polyphase> Stage<P> {
    fn new(stage: usize) -> Self {
        let (n, transition) = STAGE_DESIGNS[stage];
        let coefs = halfband::iir::design::coefs_transition(n, transition);
        Self {
            up: Upsampler::new(&coefs),
            down: Downsampler::new(&coefs),
        }
    }
}

/// The crate's cascade for one channel: Salve's four stages (8, 5, 4 and 4 coefficients).
struct Channel {
    s1: Stage<PolyphaseEven<4>>,
    s2: Stage<PolyphaseOdd<3>>,
    s3: Stage<PolyphaseEven<2>>,
    s4: Stage<PolyphaseEven<2>>,
}

impl Channel {
    fn new() -> Self {
        Self {
            s1: Stage::new(0),
            s2: Stage::new(1),
            s3: Stage::new(2),
            s4: Stage::new(3),
        }
    }

    /// Up by `1 << stages` and back down, in place, with two scratch buffers.
    fn round_trip(&mut self, stages: usize, io: &mut [f32], a: &mut [f32], b: &mut [f32]) {
        let n = io.len();
        if stages >= 1 {
            self.s1.up.process_block(io, &mut a[..2 * n]);
        }
        if stages >= 2 {
            self.s2.up.process_block(&a[..2 * n], &mut b[..4 * n]);
        }
        if stages >= 3 {
            self.s3.up.process_block(&b[..4 * n], &mut a[..8 * n]);
        }
        if stages >= 4 {
            self.s4.up.process_block(&a[..8 * n], &mut b[..16 * n]);
            self.s4.down.process_block(&b[..16 * n], &mut a[..8 * n]);
        }
        if stages >= 3 {
            self.s3.down.process_block(&a[..8 * n], &mut b[..4 * n]);
        }
        if stages >= 2 {
            self.s2.down.process_block(&b[..4 * n], &mut a[..2 * n]);
        }
        if stages >= 1 {
            self.s1.down.process_block(&a[..2 * n], io);
        }
    }
}

/// The crate's designer and Salve's give the same coefficients, so both cascades have the same
/// response and the same stop-band attenuation.
fn check_same_designs() {
    fn same<const N: usize>(stage: usize) {
        let (n, transition) = STAGE_DESIGNS[stage];
        assert_eq!(n, N);
        let ours = design_f32::<N>(transition);
        let theirs = halfband::iir::design::coefs_transition(n, transition);
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a - b).abs() < 1e-6,
                "stage {stage}: {ours:?} against {theirs:?}"
            );
        }
    }
    same::<8>(0);
    same::<5>(1);
    same::<4>(2);
    same::<4>(3);
}

fn anchor(c: &mut Criterion) {
    check_same_designs();
    let input: Vec<f32> = (0..BLOCK).map(|i| (i as f32 * 0.06).sin() * 0.7).collect();
    // Salve as the engine runs it: on the best instruction set this CPU has.
    let simd = Simd::detect();
    let mut group = c.benchmark_group("cascade");
    group.throughput(Throughput::Elements(BLOCK as u64));
    for factor in &Factor::ALL[1..] {
        let stages = factor.stages();
        let name = format!("{}x", factor.ratio());

        let mut os = Oversampler::new(*factor);
        let mut a: Vec<Lanes> = vec![[0.0; 2]; BLOCK * MAX_FACTOR];
        let mut b: Vec<Lanes> = vec![[0.0; 2]; BLOCK * MAX_FACTOR];
        group.bench_function(BenchmarkId::new("salve", &name), |bench| {
            bench.iter(|| {
                for (lanes, &x) in a.iter_mut().zip(&input) {
                    *lanes = [x, x];
                }
                os.round_trip(simd, BLOCK, &mut a, &mut b);
                black_box(&a[..BLOCK]);
            })
        });

        let mut channels = [Channel::new(), Channel::new()];
        let (mut left, mut right) = (input.clone(), input.clone());
        let mut sa = vec![0.0f32; BLOCK * MAX_FACTOR];
        let mut sb = vec![0.0f32; BLOCK * MAX_FACTOR];
        group.bench_function(BenchmarkId::new("halfband", &name), |bench| {
            bench.iter(|| {
                left.copy_from_slice(&input);
                right.copy_from_slice(&input);
                channels[0].round_trip(stages, &mut left, &mut sa, &mut sb);
                channels[1].round_trip(stages, &mut right, &mut sa, &mut sb);
                black_box((&left, &right));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, anchor);
criterion_main!(benches);
