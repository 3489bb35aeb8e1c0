//! The editor window: the sound controls on the left, the health panel on the right, drawn with
//! egui. It reads the audio thread's data only through the probe's atomics, and the healer only
//! through the view the fleet thread publishes (a triple buffer: the editor never takes the
//! healer's lock); it reports its own frame time to the fleet.

pub mod health;
pub mod meters;
pub mod preset_bar;
pub mod report;
pub mod style;
#[doc(hidden)]
pub mod testing;
pub mod visualizer;

use crate::healer::requests;
use crate::params::SalveParams;
use crate::probe::telemetry;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::ResizeHint;
use nice_plug::editor::dpi::LogicalSize;

use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::params::EditorLayout as Layout;

/// The editor's initial size, in logical pixels.
pub const EDITOR_WIDTH: f32 = Layout::WIDTH;
pub const EDITOR_HEIGHT: f32 = Layout::HEIGHT;
/// The smallest size the editor can be dragged to, in logical pixels.
pub const MIN_WIDTH: f32 = Layout::MIN_WIDTH;
pub const MIN_HEIGHT: f32 = Layout::MIN_HEIGHT;
/// A frame that takes longer than this (CPU time of `ui`, in microseconds) is a GUI overrun.
pub const FRAME_BUDGET_US: f32 = 8_000.0;
/// The panel redraws at most this often while nothing else happens.
pub const REPAINT_INTERVAL: Duration = Duration::from_millis(50);

pub type SalveEditor = EguiEditor<SalveApp>;

/// What the editor shares with the plugin.
#[derive(Clone)]
pub struct Shared {
    pub params: Arc<SalveParams>,
    pub telemetry: telemetry::Reader,
    /// The healer as the fleet thread last published it (the editor never locks the healer).
    pub healer: crate::healer::view::Reader,
    /// The editor's end of the instance's requests to the fleet, and of its report back.
    pub requests: requests::Editor,
    pub decisions: Arc<crate::healer::shared::Decisions>,
    /// The GUI end of the audio tap (only the GUI thread locks it).
    pub analyzer: Arc<Mutex<visualizer::Analyzer>>,
    pub sample_rate: Arc<atomic_float::AtomicF32>,
    pub editor_state: Arc<EguiEditorState>,
}

/// One complete host gesture setting `param` to `value`, so the host records one undoable change.
fn gesture<P: nice_plug::prelude::Param>(
    setter: &nice_plug::prelude::ParamSetter,
    param: &P,
    value: P::Plain,
) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

/// Segmented buttons for an enum parameter: every choice in view, the current one lit; a click
/// is one gesture.
fn choice<T: nice_plug::prelude::Enum + PartialEq + 'static>(
    ui: &mut egui::Ui,
    param: &nice_plug::prelude::EnumParam<T>,
    setter: &nice_plug::prelude::ParamSetter,
) {
    use nice_plug::prelude::Param;
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 2.0;
        let current = param.value();
        for (index, name) in T::variants().iter().enumerate() {
            let v = T::from_index(index);
            if ui.selectable_label(v == current, *name).clicked() && v != current {
                gesture(setter, param, v);
            }
        }
    })
    .response
    .on_hover_text(param.name());
}

/// The editor's state between repaints.
pub struct SalveApp {
    shared: Shared,
    gui: Option<GuiContext>,
    /// Mean and peak load per frame, oldest first.
    history: VecDeque<health::GraphPoint>,
    /// The dropout count at the previous frame, to mark new ones on the graph.
    dropouts_seen: u64,
    /// Smoothed frame time, in microseconds.
    frame_us: f32,
    /// What the last report export said (shown in the health panel).
    report_message: Option<String>,
    /// The preset bar (user presets listed from and saved to its folder).
    presets: preset_bar::PresetBar,
    /// The persisted size still has to be asked for (once per opening).
    restore_layout: bool,
    /// Whether the fleet still ticks this instance while it plays.
    heartbeat: crate::healer::shared::HeartbeatWatch,
    /// The input and output meters.
    meters: meters::Meters,
    /// The reference of "Match loudness", to show the gain it applies.
    loudness_reference: crate::dsp::shaper::LoudnessReference,
}

impl SalveApp {
    pub fn new(shared: Shared) -> Self {
        Self {
            shared,
            gui: None,
            history: VecDeque::with_capacity(health::GRAPH_FRAMES),
            dropouts_seen: 0,
            frame_us: 0.0,
            report_message: None,
            presets: preset_bar::PresetBar::new(crate::presets::user_dir()),
            restore_layout: false,
            heartbeat: Default::default(),
            meters: Default::default(),
            loudness_reference: crate::dsp::shaper::loudness_reference(),
        }
    }

    /// An app already connected to a GUI context: for tests and benchmarks, which draw it
    /// without a window.
    pub fn with_context(shared: Shared, gui: GuiContext) -> Self {
        Self {
            gui: Some(gui),
            ..Self::new(shared)
        }
    }

    /// Lists and saves user presets in `dir` instead of the user's presets folder.
    pub fn with_preset_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.presets.set_dir(dir.into());
        self
    }

    fn layout(&self) -> std::sync::MutexGuard<'_, Layout> {
        crate::sync::lock(&self.shared.params.editor_layout)
    }

    /// Draws the whole editor into `ui`.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let started = Instant::now();
        let Some(gui) = self.gui.clone() else { return };
        if std::mem::take(&mut self.restore_layout) {
            let layout = self.layout().sanitized();
            // The window's logical size includes the zoom; the layout's does not.
            let current = self.shared.editor_state.logical_size();
            if (current.width - layout.width * layout.zoom).abs() > 1.0
                || (current.height - layout.height * layout.zoom).abs() > 1.0
            {
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(
                        layout.width,
                        layout.height,
                    )));
            }
        }
        let levels = self.shared.telemetry.take_levels();
        self.meters.update(ui.input(|i| i.time), levels);
        ui.columns(2, |cols| {
            self.sound(&mut cols[0], &gui);
            self.visualizer(&mut cols[0]);
            // The scroll bar floats over the panel's right edge: keep the text clear of it.
            egui::ScrollArea::vertical().show(&mut cols[1], |ui| {
                egui::Frame::new()
                    .inner_margin(egui::Margin {
                        right: 10,
                        ..Default::default()
                    })
                    .show(ui, |ui| self.health(ui, &gui));
            });
        });
        ui.ctx().request_repaint_after(REPAINT_INTERVAL);
        let us = started.elapsed().as_secs_f32() * 1e6;
        self.frame_us += (us - self.frame_us) * 0.1;
        if us > FRAME_BUDGET_US {
            // Counted into the health score (lightly: a slow display never touches the sound).
            self.shared.telemetry.gui_frame_overrun();
        }
        self.shared.requests.frame_drawn(self.frame_us);
    }

    fn sound(&mut self, ui: &mut egui::Ui, gui: &GuiContext) {
        let setter = gui.param_setter();
        let params = self.shared.params.clone();
        let p = &*params;
        ui.horizontal(|ui| {
            ui.heading("Sound");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let on = p.bypass.value();
                let label = if on { "Bypassed" } else { "Bypass" };
                if ui
                    .selectable_label(on, label)
                    .on_hover_text(
                        "Pass the sound through untouched (same latency, crossfaded). The \
                         host's own bypass button does the same.",
                    )
                    .clicked()
                {
                    gesture(&setter, &p.bypass, !on);
                }
            });
        });
        self.presets.show(ui, p, gui);
        self.meters.show(ui);
        ui.add_space(4.0);
        egui::Grid::new("sound")
            .num_columns(2)
            .spacing(egui::vec2(10.0, 6.0))
            .show(ui, |ui| {
                let row = |ui: &mut egui::Ui, label: &str, tip: &str| {
                    ui.label(label).on_hover_text(tip);
                };
                let slider = "Drag, or click the value to type one; double-click resets.";
                row(ui, "Drive", &format!("How hard the signal hits the curve (0 to 36 dB). {slider}"));
                ui.add(ParamSlider::for_param(&p.drive, &setter));
                ui.end_row();
                row(ui, "Curve", "The shape of the saturation: Smooth, Soft clip, Tube (adds even harmonics) or Hard clip.");
                choice(ui, &p.curve, &setter);
                ui.end_row();
                row(ui, "Tone", &format!("Tilts the saturated sound darker or brighter (-100 to +100 %). {slider}"));
                ui.add(ParamSlider::for_param(&p.tone, &setter));
                ui.end_row();
                row(ui, "Mix", &format!("Dry/wet balance, phase-aligned at any setting. {slider}"));
                ui.add(ParamSlider::for_param(&p.mix, &setter));
                ui.end_row();
                row(ui, "Output", &format!("Output level (-24 to +24 dB). {slider}"));
                ui.horizontal(|ui| {
                    ui.add(ParamSlider::for_param(&p.output, &setter));
                    let on = p.match_loudness.value();
                    let text = if on {
                        let g = crate::dsp::shaper::loudness_match_gain(
                            &self.loudness_reference,
                            p.curve.value(),
                            p.drive.value(),
                            p.mix.value(),
                        );
                        format!("Match loudness {:+.1} dB", 20.0 * g.log10())
                    } else {
                        "Match loudness".to_owned()
                    };
                    if ui
                        .selectable_label(on, text)
                        .on_hover_text(
                            "Turns the output down as the drive turns the sound up, so you hear \
                             the character change, not the level. The figure is the gain it \
                             applies now.",
                        )
                        .clicked()
                    {
                        gesture(&setter, &p.match_loudness, !on);
                    }
                });
                ui.end_row();
                row(ui, "Oversampling", "The highest quality Salve may use. Auto lets it choose up to 16x; a fixed value is its ceiling. Higher is cleaner and costs more.");
                choice(ui, &p.oversampling, &setter);
                ui.end_row();
            });
    }

    fn visualizer(&self, ui: &mut egui::Ui) {
        let tier = self.shared.decisions.vis();
        ui.separator();
        ui.label(format!("Output ({})", tier.label()))
            .on_hover_text("Spectrum and scope of Salve's output. Salve lightens or stops the display first when the computer is short of time.");
        let mut analyzer = crate::sync::lock(&self.shared.analyzer);
        analyzer.update(tier);
        let rate = self.shared.sample_rate.load(Ordering::Relaxed);
        visualizer::show(ui, &analyzer, tier, rate);
    }

    fn health(&mut self, ui: &mut egui::Ui, gui: &GuiContext) {
        let t = &self.shared.telemetry;
        let mean = t.load_smoothed();
        let peak = t.take_frame_peak().max(mean);
        let dropouts = t.dropouts();
        if self.history.len() == health::GRAPH_FRAMES {
            self.history.pop_front();
        }
        self.history.push_back(health::GraphPoint {
            mean,
            peak,
            // A counter reset is not a dropout.
            dropout: dropouts > self.dropouts_seen,
        });
        self.dropouts_seen = dropouts;
        let ceiling = self.shared.params.oversampling.value().ceiling();
        let mut snapshot = self
            .shared
            .healer
            .read(|healer| health::HealthSnapshot::capture(t, Some(healer), ceiling));
        snapshot.export_message = self.report_message.clone();
        snapshot.healer_stale = self.heartbeat.observe(
            ui.input(|i| i.time),
            self.shared.decisions.ticks(),
            t.blocks(),
        );
        let c = &self.shared.requests;
        let p = &self.shared.params;
        snapshot.healing = Some(p.healing.value());
        snapshot.bypassed = p.bypass.value();
        snapshot.details_open = self.layout().details_open;
        snapshot.last_checkpoint_s = c.last_checkpoint_wall_s();
        snapshot
            .counters
            .push(("Healer faults caught", c.tick_panics()));
        ui.heading("Health");
        let actions = health::show(ui, &snapshot, &self.history);
        if let Some(mode) = actions.set_healing {
            gesture(&gui.param_setter(), &p.healing, mode);
        }
        if let Some(open) = actions.details_open {
            self.layout().details_open = open;
        }
        if actions.acknowledge {
            c.acknowledge();
        }
        if actions.reset_learning {
            c.reset_learning();
        }
        if actions.reset_counters {
            t.reset_counters();
        }
        if actions.export_report {
            self.report_message = Some(match report::write(&report::default_dir(), &snapshot) {
                Ok(path) => format!("Report written to {}", path.display()),
                Err(e) => format!("The report could not be written: {e}"),
            });
        }
    }
}

impl NiceEguiApp for SalveApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        style::apply(&egui_ctx);
        egui_ctx.set_zoom_factor(self.layout().sanitized().zoom);
        self.restore_layout = true;
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        // The window hands its whole area to the content: keep the text and the controls off
        // its edges (the health panel's wrapped lines ended on the right edge, a letter cut).
        ResizableWindow::new("salve-editor")
            .min_size(egui::vec2(MIN_WIDTH, MIN_HEIGHT))
            .show(ui, |ui| {
                egui::Frame::new()
                    .inner_margin(egui::Margin::symmetric(8, 6))
                    .show(ui, |ui| self.draw(ui));
            });
    }

    fn resized(&mut self, new_size: nice_plug_egui::baseview::WindowSize) {
        let mut layout = self.layout();
        layout.width = new_size.logical.width as f32 / layout.zoom.max(0.1);
        layout.height = new_size.logical.height as f32 / layout.zoom.max(0.1);
    }

    fn zoom_factor_changed(&mut self, zoom_factor: f32) {
        self.layout().zoom = zoom_factor;
    }
}

/// The editor's size and open state, kept by the plugin for the whole instance.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(EDITOR_WIDTH, EDITOR_HEIGHT), 1.0)
}

/// Creates the editor for a plugin instance.
pub fn create(shared: Shared) -> Option<SalveEditor> {
    create_egui_editor(
        shared.editor_state.clone(),
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Salve").with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(MIN_WIDTH, MIN_HEIGHT)),
        ),
        SalveApp::new(shared),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws one frame of the editor without a window.
    fn frame(app: &mut SalveApp, ctx: &egui::Context) {
        ctx.run_ui(egui::RawInput::default(), |ui| app.draw(ui))
            .drop_without_applying_deltas();
    }

    #[test]
    fn the_load_graph_takes_each_frames_peak_and_marks_new_dropouts() {
        let plugin = crate::Salve::default();
        let mut shared = plugin.editor_shared();
        // The test plays the probe's part through a writer of its own.
        let (telemetry, reader) = telemetry::Telemetry::channel();
        shared.telemetry = reader;
        let block = |load| crate::probe::record::BlockRecord {
            load,
            ..Default::default()
        };
        let (_host, gui) = testing::RecordingHost::new(shared.params.as_ref());
        let mut app = SalveApp::with_context(shared, gui);
        let ctx = egui::Context::default();
        telemetry.block(&block(0.2), 0.2, 0);
        frame(&mut app, &ctx);
        // Between two frames: one block overran and the host's callback came late once.
        telemetry.block(&block(1.3), 0.2, 0);
        telemetry.bump(crate::probe::events::EventKind::CallbackGap);
        frame(&mut app, &ctx);
        let last = *app.history.back().unwrap();
        assert_eq!((last.peak, last.dropout), (1.3, true));
        // The next frame starts afresh: the peak was taken, the dropout already marked.
        frame(&mut app, &ctx);
        let last = *app.history.back().unwrap();
        assert_eq!((last.peak, last.dropout), (0.2, false));
    }
}
