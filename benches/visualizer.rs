//! The visualizer's analysis cost per GUI frame at each tier: draining one frame's worth of audio
//! (800 samples, 60 fps at 48 kHz) from the tap and analysing it (FFT at Full and Reduced).
//! And the whole editor frame at each tier: the same analysis plus egui's layout of both columns
//! and the tessellation of what it drew (everything but the GPU upload and the driver).

use criterion::{Criterion, criterion_group, criterion_main};
use salve::dsp::tap::Tap;
use salve::editor::testing::RecordingHost;
use salve::editor::visualizer::Analyzer;
use salve::editor::{EDITOR_HEIGHT, EDITOR_WIDTH, SalveApp};
use salve::healer::level::VisTier;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

const TIERS: [VisTier; 4] = [
    VisTier::Full,
    VisTier::Reduced,
    VisTier::Meter,
    VisTier::Off,
];

fn visualizer(c: &mut Criterion) {
    let frame: Vec<f32> = (0..800).map(|i| (i as f32 * 0.13).sin() * 0.5).collect();
    for tier in TIERS {
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

fn editor_frame(c: &mut Criterion) {
    let frame: Vec<f32> = (0..800).map(|i| (i as f32 * 0.13).sin() * 0.5).collect();
    let plugin = salve::Salve::default();
    for tier in TIERS {
        let mut shared = plugin.editor_shared();
        let (mut tap, reader) = Tap::new();
        shared.analyzer = Arc::new(Mutex::new(Analyzer::new(reader)));
        let (decisions, fleet, _audio) =
            salve::healer::shared::Decisions::new(salve::healer::level::Level::Ultra);
        fleet.publish_vis(tier);
        shared.decisions = decisions;
        let (_host, gui) = RecordingHost::new(shared.params.as_ref());
        let mut app = SalveApp::with_context(shared, gui);
        let ctx = egui::Context::default();
        let input = || egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(EDITOR_WIDTH, EDITOR_HEIGHT),
            )),
            ..Default::default()
        };
        c.bench_function(&format!("editor_frame/{}", tier.label()), |b| {
            b.iter(|| {
                tap.push(true, &frame, None);
                let mut out = ctx.run_ui(input(), |ui| {
                    egui::CentralPanel::default().show(ui, |ui| app.draw(ui));
                });
                // No renderer here: the font texture's updates are dropped, not uploaded.
                out.textures_delta.clear();
                let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
                black_box(prims.len())
            })
        });
    }
}

criterion_group!(benches, visualizer, editor_frame);
criterion_main!(benches);
