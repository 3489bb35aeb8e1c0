//! The visualizer's analysis cost per GUI frame at each tier: draining one frame's worth of audio
//! (800 samples, 60 fps at 48 kHz) from the tap and analysing it (FFT at Full and Reduced).

use criterion::{Criterion, criterion_group, criterion_main};
use salve::editor::visualizer::{Analyzer, Tap};
use salve::healer::level::VisTier;
use std::hint::black_box;

fn visualizer(c: &mut Criterion) {
    let frame: Vec<f32> = (0..800).map(|i| (i as f32 * 0.13).sin() * 0.5).collect();
    for tier in [
        VisTier::Full,
        VisTier::Reduced,
        VisTier::Minimal,
        VisTier::Off,
    ] {
        let (mut tap, reader) = Tap::new();
        let mut analyzer = Analyzer::new(reader);
        c.bench_function(&format!("visualizer/{}", tier.label()), |b| {
            b.iter(|| {
                tap.push(true, &frame, None);
                analyzer.update(tier);
                black_box(analyzer.peak)
            })
        });
    }
}

criterion_group!(benches, visualizer);
criterion_main!(benches);
