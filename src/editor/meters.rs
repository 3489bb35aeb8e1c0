//! The input and output meters: an RMS bar and a held peak on a dB scale, with the figures in
//! words. The audio thread publishes the levels (see [`crate::probe::telemetry::Level`]); the
//! editor takes them once a frame and gives the peaks their fall.

use crate::probe::telemetry::Level;
use egui::{Rect, RichText, Sense, Stroke, Ui, pos2, vec2};

/// The scale, in dBFS.
pub const FLOOR_DB: f32 = -60.0;
pub const TOP_DB: f32 = 6.0;
/// How fast a held peak falls once the signal drops, in dB per second (a common meter fall).
pub const PEAK_FALL_DB_PER_S: f32 = 20.0;
/// The scale's marks, in dBFS.
const MARKS_DB: [f32; 6] = [-48.0, -36.0, -24.0, -12.0, -6.0, 0.0];

/// Linear to dBFS, with silence at the floor.
pub fn db(x: f32) -> f32 {
    if x > 0.0 {
        (20.0 * x.log10()).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

/// `-12.0 dB`, or `-inf` at the floor.
pub fn db_text(db: f32) -> String {
    if db <= FLOOR_DB {
        "-inf".into()
    } else {
        format!("{db:.1} dB")
    }
}

/// One meter's display state.
#[derive(Clone, Copy, Debug)]
pub struct Meter {
    /// The held peak, falling (dBFS).
    pub peak_db: f32,
    /// The RMS level (dBFS).
    pub rms_db: f32,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            peak_db: FLOOR_DB,
            rms_db: FLOOR_DB,
        }
    }
}

impl Meter {
    /// Takes a frame's level, `dt_s` after the last one.
    pub fn update(&mut self, level: Level, dt_s: f32) {
        let fallen = self.peak_db - PEAK_FALL_DB_PER_S * dt_s.max(0.0);
        self.peak_db = db(level.peak).max(fallen).max(FLOOR_DB);
        self.rms_db = db(level.rms());
    }
}

/// The input and output meters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Meters {
    pub input: Meter,
    pub output: Meter,
    last_s: Option<f64>,
}

impl Meters {
    /// Takes a frame's levels at `now_s` (the editor's clock).
    pub fn update(&mut self, now_s: f64, (input, output): (Level, Level)) {
        let dt = self.last_s.map_or(0.0, |t| (now_s - t) as f32);
        self.last_s = Some(now_s);
        self.input.update(input, dt);
        self.output.update(output, dt);
    }

    pub fn show(&self, ui: &mut Ui) {
        egui::Grid::new("meters")
            .num_columns(3)
            .spacing(vec2(8.0, 4.0))
            .show(ui, |ui| {
                for (name, m, tip) in [
                    ("In", &self.input, "The level coming into Salve."),
                    ("Out", &self.output, "The level Salve sends on."),
                ] {
                    ui.label(RichText::new(name).strong()).on_hover_text(tip);
                    bar(ui, m);
                    ui.label(
                        RichText::new(format!(
                            "peak {}  RMS {}",
                            number(m.peak_db),
                            db_text(m.rms_db)
                        ))
                        .monospace()
                        .size(11.0),
                    )
                    .on_hover_text(
                        "Peak: the highest sample lately (held, then falling). RMS: the average \
                         level over the last 0.3 s.",
                    );
                    ui.end_row();
                }
            });
    }
}

/// `-12.9`, or `-inf` at the floor (the unit follows once, after the RMS).
fn number(db: f32) -> String {
    if db <= FLOOR_DB {
        "-inf".into()
    } else {
        format!("{db:.1}")
    }
}

/// Where `db` sits across the bar, 0..=1.
fn position(db: f32) -> f32 {
    ((db - FLOOR_DB) / (TOP_DB - FLOOR_DB)).clamp(0.0, 1.0)
}

fn bar(ui: &mut Ui, m: &Meter) {
    let (rect, _) = ui.allocate_exact_size(vec2(150.0, 12.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(rect, 2.0, visuals.extreme_bg_color);
    let x = |db: f32| rect.left() + rect.width() * position(db);
    // The RMS bar: calm below -6 dBFS, warm up to 0, red above.
    let colour = if m.rms_db > 0.0 {
        super::style::CORAL
    } else if m.rms_db > -6.0 {
        super::style::AMBER
    } else {
        super::style::SAGE
    };
    if m.rms_db > FLOOR_DB {
        painter.rect_filled(
            Rect::from_min_max(rect.min, pos2(x(m.rms_db), rect.max.y)),
            2.0,
            colour,
        );
    }
    for mark in MARKS_DB {
        let mx = x(mark);
        painter.line_segment(
            [pos2(mx, rect.max.y - 3.0), pos2(mx, rect.max.y)],
            Stroke::new(1.0, visuals.weak_text_color()),
        );
    }
    if m.peak_db > FLOOR_DB {
        let px = x(m.peak_db);
        painter.line_segment(
            [pos2(px, rect.min.y), pos2(px, rect.max.y)],
            Stroke::new(2.0, visuals.strong_text_color()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peak_holds_then_falls_at_its_rate_and_silence_reads_minus_infinity() {
        let mut m = Meter::default();
        m.update(
            Level {
                peak: 0.5,
                power: 0.125,
            },
            0.0,
        );
        assert!((m.peak_db - -6.02).abs() < 0.01);
        // Half a second of silence: 10 dB lower.
        m.update(Level::default(), 0.5);
        assert!((m.peak_db - -16.02).abs() < 0.01);
        assert_eq!(db_text(m.rms_db), "-inf");
        assert_eq!(db_text(-12.04), "-12.0 dB");
    }
}
