//! The visualizer: a spectrum analyzer (realfft, log-frequency axis, dB scale, smoothed) and an
//! oscilloscope of the output. Audio reaches it through a wait-free ring that the audio thread
//! ([`crate::dsp::tap`]) only feeds while the editor is open and the healer allows a visualizer
//! tier; all analysis runs on the GUI thread, at a size and rate set by the tier.

use crate::healer::level::VisTier;
use egui::{Color32, Pos2, Stroke};
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// FFT sizes per tier.
pub const FULL_FFT: usize = 4096;
pub const REDUCED_FFT: usize = 1024;
/// Samples the scope shows.
pub const SCOPE_LEN: usize = 1024;

/// The GUI's end: the recent samples and the analysis.
pub struct Analyzer {
    consumer: rtrb::Consumer<f32>,
    /// The most recent samples, as a ring written at `pos`.
    history: Vec<f32>,
    pos: usize,
    /// The last [`SCOPE_LEN`] samples in order.
    scope: Vec<f32>,
    full: Arc<dyn RealToComplex<f32>>,
    reduced: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    /// Smoothed magnitudes in dB, per bin of the current size.
    pub db: Vec<f32>,
    pub peak: f32,
    pub rms: f32,
    frame: u64,
}

impl Analyzer {
    pub fn new(consumer: rtrb::Consumer<f32>) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let full = planner.plan_fft_forward(FULL_FFT);
        let reduced = planner.plan_fft_forward(REDUCED_FFT);
        let scratch = full.make_scratch_vec();
        Self {
            consumer,
            history: vec![0.0; FULL_FFT],
            pos: 0,
            scope: vec![0.0; SCOPE_LEN],
            spectrum: full.make_output_vec(),
            full,
            reduced,
            input: vec![0.0; FULL_FFT],
            scratch,
            db: Vec::new(),
            peak: 0.0,
            rms: 0.0,
            frame: 0,
        }
    }

    /// Takes what the audio thread pushed, then analyses as much as `tier` asks: Full, a 4096
    /// FFT every frame; Reduced, a 1024 FFT every third frame; Minimal, the level meter only;
    /// Off, nothing (the samples are still drained).
    pub fn update(&mut self, tier: VisTier) {
        let available = self.consumer.slots();
        if let Ok(chunk) = self.consumer.read_chunk(available) {
            let (a, b) = chunk.as_slices();
            for &x in a.iter().chain(b) {
                self.history[self.pos] = if x.is_finite() { x } else { 0.0 };
                self.pos = (self.pos + 1) % FULL_FFT;
            }
            chunk.commit_all();
        }
        self.frame += 1;
        if tier == VisTier::Off {
            return;
        }
        let (history, pos) = (&self.history, self.pos);
        let recent = |n: usize, i: usize| history[(pos + FULL_FFT - n + i) % FULL_FFT];
        for (i, s) in self.scope.iter_mut().enumerate() {
            *s = recent(SCOPE_LEN, i);
        }
        self.peak = self.scope.iter().fold(0.0, |m, x| m.max(x.abs()));
        self.rms = (self.scope.iter().map(|x| x * x).sum::<f32>() / SCOPE_LEN as f32).sqrt();
        let (fft, n) = match tier {
            VisTier::Full => (self.full.clone(), FULL_FFT),
            VisTier::Reduced if self.frame.is_multiple_of(3) => (self.reduced.clone(), REDUCED_FFT),
            _ => return,
        };
        for (i, dst) in self.input[..n].iter_mut().enumerate() {
            let w = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos();
            *dst = recent(n, i) * w;
        }
        let out = &mut self.spectrum[..n / 2 + 1];
        if fft
            .process_with_scratch(&mut self.input[..n], out, &mut self.scratch)
            .is_err()
        {
            return;
        }
        if self.db.len() != out.len() {
            self.db = vec![-120.0; out.len()];
        }
        let norm = 4.0 / n as f32;
        for (d, c) in self.db.iter_mut().zip(out.iter()) {
            let mag = 20.0 * (c.norm() * norm).max(1e-7).log10();
            // Fast rise, slow fall.
            *d = if mag > *d { mag } else { *d + (mag - *d) * 0.2 };
        }
    }

    /// The most recent samples for the scope.
    pub fn scope(&self) -> &[f32] {
        &self.scope
    }
}

/// Draws the visualizer for `tier` at `sample_rate`.
pub fn show(ui: &mut egui::Ui, a: &Analyzer, tier: VisTier, sample_rate: f32) {
    let width = ui.available_width().max(200.0);
    match tier {
        VisTier::Off => {
            ui.label("Display off (resources go to the sound).");
        }
        VisTier::Meter => meter(ui, a, width),
        VisTier::Reduced | VisTier::Full => {
            spectrum(ui, a, width, sample_rate);
            scope(ui, a, width);
        }
    }
}

fn meter(ui: &mut egui::Ui, a: &Analyzer, width: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 12.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, Color32::from_gray(28));
    let x = |v: f32| {
        rect.left() + ((20.0 * v.max(1e-6).log10() + 60.0) / 66.0).clamp(0.0, 1.0) * rect.width()
    };
    p.rect_filled(
        egui::Rect::from_min_max(rect.min, Pos2::new(x(a.rms), rect.bottom())),
        2.0,
        Color32::from_rgb(90, 140, 200),
    );
    p.line_segment(
        [
            Pos2::new(x(a.peak), rect.top()),
            Pos2::new(x(a.peak), rect.bottom()),
        ],
        Stroke::new(2.0, Color32::WHITE),
    );
}

/// Below this peak (about -100 dBFS) the display says "No signal" instead of drawing noise.
const SILENCE: f32 = 1e-5;

/// The frequencies and levels the spectrum's axes mark.
const FREQ_MARKS_HZ: [(f32, &str); 5] = [
    (50.0, "50"),
    (200.0, "200"),
    (1_000.0, "1k"),
    (5_000.0, "5k"),
    (15_000.0, "15k"),
];
const DB_MARKS: [f32; 4] = [-24.0, -48.0, -72.0, -96.0];

/// Says so where the display would be (a label, so screen readers and tests see it too).
fn no_signal(ui: &mut egui::Ui, rect: egui::Rect) {
    ui.put(
        rect,
        egui::Label::new(egui::RichText::new("No signal").color(Color32::from_gray(130))),
    );
}

fn spectrum(ui: &mut egui::Ui, a: &Analyzer, width: f32, sample_rate: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 110.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, Color32::from_gray(20));
    let (lo, hi) = (20f32.ln(), (sample_rate / 2.0).max(40.0).ln());
    let x_of = |f: f32| rect.left() + ((f.max(20.0).ln() - lo) / (hi - lo)) * rect.width();
    let y_of = |db: f32| rect.top() + (-db / 100.0).clamp(0.0, 1.0) * rect.height();
    let (grid, text) = (Color32::from_gray(45), Color32::from_gray(140));
    let font = egui::FontId::proportional(10.0);
    for (f, label) in FREQ_MARKS_HZ {
        if f >= sample_rate / 2.0 {
            continue;
        }
        let x = x_of(f);
        p.line_segment(
            [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
            Stroke::new(1.0, grid),
        );
        p.text(
            Pos2::new(x + 2.0, rect.bottom() - 1.0),
            egui::Align2::LEFT_BOTTOM,
            label,
            font.clone(),
            text,
        );
    }
    for db in DB_MARKS {
        let y = y_of(db);
        p.line_segment(
            [Pos2::new(rect.left(), y), Pos2::new(rect.right(), y)],
            Stroke::new(1.0, grid),
        );
        p.text(
            Pos2::new(rect.left() + 2.0, y - 1.0),
            egui::Align2::LEFT_BOTTOM,
            format!("{db:.0} dB"),
            font.clone(),
            text,
        );
    }
    if a.peak < SILENCE || a.db.len() < 2 {
        no_signal(ui, rect);
        return;
    }
    let bins = a.db.len();
    let points: Vec<Pos2> = (1..bins)
        .map(|i| {
            let f = i as f32 * sample_rate / (2.0 * (bins - 1) as f32);
            Pos2::new(x_of(f), y_of(a.db[i]))
        })
        .collect();
    p.add(egui::Shape::line(
        points,
        Stroke::new(1.0, Color32::from_rgb(120, 200, 160)),
    ));
}

fn scope(ui: &mut egui::Ui, a: &Analyzer, width: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 60.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, Color32::from_gray(20));
    if a.peak < SILENCE {
        no_signal(ui, rect);
        return;
    }
    let s = a.scope();
    let points: Vec<Pos2> = s
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            Pos2::new(
                rect.left() + i as f32 / s.len() as f32 * rect.width(),
                rect.center().y - v.clamp(-1.0, 1.0) * rect.height() * 0.45,
            )
        })
        .collect();
    p.add(egui::Shape::line(
        points,
        Stroke::new(1.0, Color32::from_gray(200)),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::tap::Tap;

    #[test]
    fn a_sine_peaks_at_its_bin_and_nothing_flows_while_disabled() {
        let (mut tap, consumer) = Tap::new();
        let mut a = Analyzer::new(consumer);
        let sine: Vec<f32> = (0..4096)
            .map(|i| (std::f32::consts::TAU * 1000.0 * i as f32 / 48_000.0).sin() * 0.5)
            .collect();
        tap.push(false, &sine, None);
        assert_eq!(
            a.consumer.slots(),
            0,
            "nothing may flow while the editor is closed"
        );
        tap.push(true, &sine, Some(&sine));
        a.update(VisTier::Full);
        let peak_bin =
            a.db.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0;
        let expected = (1000.0 / 48_000.0 * FULL_FFT as f32).round() as usize;
        assert!(peak_bin.abs_diff(expected) <= 1, "{peak_bin} vs {expected}");
        assert!((a.peak - 0.5).abs() < 0.01);
    }
}
