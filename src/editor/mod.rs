//! The editor window: the sound controls on the left, the health panel on the right, drawn with
//! egui. It reads the audio thread's data only through the probe's atomics and the healer's
//! state (which the audio thread never locks), and reports its own frame time to the healer.

pub mod health;
pub mod report;
pub mod visualizer;

use crate::healer::Healer;
use crate::healer::thread::Controls as HealerControls;
use crate::params::SalveParams;
use crate::probe::telemetry::Telemetry;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;

use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The editor's initial size, in logical pixels.
pub const EDITOR_WIDTH: f32 = 860.0;
pub const EDITOR_HEIGHT: f32 = 560.0;
/// A frame that takes longer than this (CPU time of `ui`, in microseconds) is a GUI overrun.
pub const FRAME_BUDGET_US: f32 = 8_000.0;
/// The panel redraws at most this often while nothing else happens.
pub const REPAINT_INTERVAL: Duration = Duration::from_millis(50);

pub type SalveEditor = EguiEditor<SalveApp>;

/// What the editor shares with the plugin.
#[derive(Clone)]
pub struct Shared {
    pub params: Arc<SalveParams>,
    pub telemetry: Arc<Telemetry>,
    pub healer: Arc<Mutex<Healer>>,
    pub controls: Arc<HealerControls>,
    pub decisions: Arc<crate::healer::shared::Decisions>,
    /// The GUI end of the audio tap (only the GUI thread locks it).
    pub analyzer: Arc<Mutex<visualizer::Analyzer>>,
    pub sample_rate: Arc<atomic_float::AtomicF32>,
    pub editor_state: Arc<EguiEditorState>,
}

/// The editor's state between repaints.
pub struct SalveApp {
    shared: Shared,
    gui: Option<GuiContext>,
    /// Mean and peak load per frame, oldest first.
    history: VecDeque<(f32, f32)>,
    /// Smoothed frame time, in microseconds.
    frame_us: f32,
    /// What the last report export or preset load said.
    message: Option<String>,
    /// The name typed for "Save preset".
    preset_name: String,
}

impl SalveApp {
    pub fn new(shared: Shared) -> Self {
        Self {
            shared,
            gui: None,
            history: VecDeque::with_capacity(health::GRAPH_FRAMES),
            frame_us: 0.0,
            message: None,
            preset_name: String::from("My preset"),
        }
    }

    fn sound(&mut self, ui: &mut egui::Ui, gui: &GuiContext) {
        let setter = gui.param_setter();
        ui.heading("Sound");
        self.preset_menu(ui, gui);
        let p = &self.shared.params;
        egui::Grid::new("sound").num_columns(2).show(ui, |ui| {
            let row = |ui: &mut egui::Ui, label: &str, tip: &str| {
                ui.label(label).on_hover_text(tip);
            };
            row(ui, "Drive", "How hard the signal hits the curve (0-36 dB).");
            ui.add(ParamSlider::for_param(&p.drive, &setter));
            ui.end_row();
            row(ui, "Curve", "Smooth, Soft clip, Tube (even harmonics) or Hard clip.");
            ui.add(ParamSlider::for_param(&p.curve, &setter));
            ui.end_row();
            row(ui, "Tone", "Tilts the saturated sound darker or brighter.");
            ui.add(ParamSlider::for_param(&p.tone, &setter));
            ui.end_row();
            row(ui, "Mix", "Dry/wet balance; phase-aligned at any setting.");
            ui.add(ParamSlider::for_param(&p.mix, &setter));
            ui.end_row();
            row(ui, "Output", "Output level (-24 to +24 dB).");
            ui.add(ParamSlider::for_param(&p.output, &setter));
            ui.end_row();
            row(ui, "Oversampling", "Auto lets Salve choose up to 16x; a fixed value is the highest it uses.");
            ui.add(ParamSlider::for_param(&p.oversampling, &setter));
            ui.end_row();
            row(ui, "Healing", "Auto adapts the quality to keep the session running; Monitor only reports; Off plays as set.");
            ui.add(ParamSlider::for_param(&p.healing, &setter));
            ui.end_row();
        });
    }

    fn visualizer(&self, ui: &mut egui::Ui) {
        let tier = self.shared.decisions.vis();
        ui.separator();
        ui.label(format!("Output ({})", tier.label()))
            .on_hover_text("Spectrum and scope of Salve's output. Salve lightens or stops the display first when the computer is short of time.");
        let mut analyzer = self
            .shared
            .analyzer
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        analyzer.update(tier);
        let rate = self.shared.sample_rate.load(Ordering::Relaxed);
        visualizer::show(ui, &analyzer, tier, rate);
    }

    fn preset_menu(&mut self, ui: &mut egui::Ui, gui: &GuiContext) {
        use crate::presets::{Preset, user_dir, user_files};
        let mut message = None;
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Preset")
                .selected_text("Presets")
                .show_ui(ui, |ui| {
                    for preset in Preset::factory() {
                        if ui
                            .selectable_label(false, &preset.name)
                            .on_hover_text(&preset.description)
                            .clicked()
                        {
                            gui.set_state(preset.to_state());
                        }
                    }
                    let files = user_files(&user_dir());
                    if !files.is_empty() {
                        ui.separator();
                    }
                    for path in files {
                        let name = path.file_stem().unwrap_or_default().to_string_lossy();
                        if ui.selectable_label(false, name.as_ref()).clicked() {
                            // A bad file changes nothing and says why.
                            match Preset::load(&path) {
                                Ok(p) => gui.set_state(p.to_state()),
                                Err(e) => message = Some(e.to_string()),
                            }
                        }
                    }
                });
        });
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.preset_name).desired_width(120.0));
            if ui
                .button("Save preset")
                .on_hover_text("Save the current settings to your Salve presets folder.")
                .clicked()
            {
                let preset = Preset::from_params(&self.shared.params, &self.preset_name);
                message = Some(match preset.save(&user_dir()) {
                    Ok(path) => format!("Preset saved to {}", path.display()),
                    Err(e) => format!("The preset could not be saved: {e}"),
                });
            }
        });
        if let Some(m) = message {
            self.message = Some(m);
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }

    fn health(&mut self, ui: &mut egui::Ui) {
        let t = &self.shared.telemetry;
        let mean = t.load_smoothed.load(Ordering::Relaxed);
        let peak = t.load.load(Ordering::Relaxed).max(mean);
        if self.history.len() == health::GRAPH_FRAMES {
            self.history.pop_front();
        }
        self.history.push_back((mean, peak));
        let ceiling = self.shared.params.oversampling.value().ceiling();
        let mut snapshot = {
            let healer = self.shared.healer.lock().unwrap_or_else(|p| p.into_inner());
            health::HealthSnapshot::capture(t, Some(&healer), ceiling)
        };
        snapshot.export_message = self.message.clone();
        ui.heading("Health");
        let actions = health::show(ui, &snapshot, &self.history);
        let c = &self.shared.controls;
        if actions.acknowledge {
            c.acknowledge.store(true, Ordering::Relaxed);
        }
        if actions.reset_learning {
            c.reset_learning.store(true, Ordering::Relaxed);
        }
        if actions.reset_counters {
            t.reset_counters();
        }
        if actions.export_report {
            self.message = Some(match report::write(&report::default_dir(), &snapshot) {
                Ok(path) => format!("Report written to {}", path.display()),
                Err(e) => format!("The report could not be written: {e}"),
            });
        }
    }
}

impl NiceEguiApp for SalveApp {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let started = Instant::now();
        let Some(gui) = self.gui.clone() else { return };
        ui.columns(2, |cols| {
            self.sound(&mut cols[0], &gui);
            self.visualizer(&mut cols[0]);
            egui::ScrollArea::vertical().show(&mut cols[1], |ui| self.health(ui));
        });
        ui.ctx().request_repaint_after(REPAINT_INTERVAL);
        let us = started.elapsed().as_secs_f32() * 1e6;
        self.frame_us += (us - self.frame_us) * 0.1;
        if us > FRAME_BUDGET_US {
            // Counted into the health score (lightly: a slow display never touches the sound).
            let t = &self.shared.telemetry.gui_frame_overruns;
            t.store(t.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        self.shared
            .controls
            .gui_frame_us
            .store(self.frame_us as u64, Ordering::Relaxed);
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
        EguiNiceSettings::new().with_tile("Salve"),
        SalveApp::new(shared),
    )
}
