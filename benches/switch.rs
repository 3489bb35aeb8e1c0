//! The worst block, not only the mean: around a tier switch, against the steady blocks of the
//! tiers it crossfades (a switch runs both tiers while the new one warms and fades in, so its
//! blocks cost more, and they must not cost several blocks' work at once); the first blocks after
//! an activation (the engine reset, its filters from rest); and blocks with the safety limiter
//! engaged (a hot signal at +12 dB of output gain).
//!
//! Each measurement runs 24 blocks of 64 samples at 48 kHz and reports the dearest of them:
//! `steady/<n>x` with no switch, `<kind>/<from>x-<to>x` with the switch asked for before the
//! first block (the longest switch, a step up's warm-up and 10 ms fade, is 15 blocks). The
//! engine is warmed at the first factor before every measurement. Compare a switch's figure with
//! the two `steady` figures added up (their crossfade's steady cost).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use salve::dsp::{Controls, Curve, Engine, Factor};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BLOCK: usize = 64;
const BLOCKS: usize = 24;

#[derive(Clone, Copy)]
enum Kind {
    Steady,
    Down,
    Urgent,
    Up,
    /// The engine reset (as at every activation) just before the first block.
    Activated,
}

/// The dearest of [`BLOCKS`] blocks, starting at `from` and switching to `to` as `kind` says.
fn worst_block(
    from: Factor,
    to: Factor,
    kind: Kind,
    input: &[f32],
    ctl: &mut Controls,
) -> Duration {
    let mut engine = Engine::new(48_000.0, from);
    engine.set_curve(Curve::Smooth);
    let (mut left, mut right) = (input.to_vec(), input.to_vec());
    for _ in 0..32 {
        engine.process(&mut left, Some(&mut right), ctl, |_, _| {});
    }
    match kind {
        Kind::Steady => {}
        Kind::Down | Kind::Up => engine.set_factor(to),
        Kind::Urgent => {
            engine.set_factor(to);
            engine.set_urgent();
        }
        Kind::Activated => engine.reset(),
    }
    let mut worst = Duration::ZERO;
    for _ in 0..BLOCKS {
        left.copy_from_slice(input);
        right.copy_from_slice(input);
        let start = Instant::now();
        engine.process(&mut left, Some(&mut right), ctl, |_, _| {});
        worst = worst.max(start.elapsed());
        black_box((&left, &right));
    }
    worst
}

fn switches(c: &mut Criterion) {
    let input: Vec<f32> = (0..BLOCK).map(|i| (i as f32 * 0.06).sin() * 0.7).collect();
    let mut ctl = Controls::default();
    ctl.fill(4.0, 1.0, 0.0, 0.5);
    // The limiter engaged: the same signal at +12 dB of output gain peaks near +12 dBFS.
    let mut hot = Controls::default();
    hot.fill(4.0, 1.0, 0.0, 4.0);
    let mut group = c.benchmark_group("worst_block");
    let mut bench = |name: &str, from: Factor, to: Factor, kind: Kind| {
        let id = match kind {
            Kind::Steady | Kind::Activated => BenchmarkId::new(name, format!("{}x", from.ratio())),
            _ => BenchmarkId::new(name, format!("{}x-{}x", from.ratio(), to.ratio())),
        };
        let ctl = if name == "limiting" {
            &mut hot
        } else {
            &mut ctl
        };
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| worst_block(from, to, kind, &input, ctl))
                    .sum()
            })
        });
    };
    for f in [Factor::X16, Factor::X8, Factor::X2, Factor::X1] {
        bench("steady", f, f, Kind::Steady);
    }
    bench("down", Factor::X16, Factor::X8, Kind::Down);
    bench("urgent", Factor::X16, Factor::X8, Kind::Urgent);
    bench("urgent", Factor::X2, Factor::X1, Kind::Urgent);
    bench("up", Factor::X8, Factor::X16, Kind::Up);
    bench("activated", Factor::X16, Factor::X16, Kind::Activated);
    bench("activated", Factor::X1, Factor::X1, Kind::Activated);
    bench("limiting", Factor::X16, Factor::X16, Kind::Steady);
    bench("limiting", Factor::X1, Factor::X1, Kind::Steady);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = switches
}
criterion_main!(benches);
