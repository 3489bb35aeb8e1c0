//! The editor window: the sound controls and the health panel, drawn with egui.

use crate::params::SalveParams;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};
use std::sync::Arc;

/// The editor's initial size, in logical pixels.
pub const EDITOR_WIDTH: f32 = 720.0;
pub const EDITOR_HEIGHT: f32 = 480.0;

pub type SalveEditor = EguiEditor<SalveApp>;

/// The editor's state between repaints.
pub struct SalveApp {
    params: Arc<SalveParams>,
    gui: Option<GuiContext>,
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
        let Some(gui) = &self.gui else { return };
        let setter = gui.param_setter();
        let p = &self.params;
        ui.heading("Salve");
        egui::Grid::new("sound").num_columns(2).show(ui, |ui| {
            ui.label("Drive");
            ui.add(ParamSlider::for_param(&p.drive, &setter));
            ui.end_row();
            ui.label("Curve");
            ui.add(ParamSlider::for_param(&p.curve, &setter));
            ui.end_row();
            ui.label("Tone");
            ui.add(ParamSlider::for_param(&p.tone, &setter));
            ui.end_row();
            ui.label("Mix");
            ui.add(ParamSlider::for_param(&p.mix, &setter));
            ui.end_row();
            ui.label("Output");
            ui.add(ParamSlider::for_param(&p.output, &setter));
            ui.end_row();
            ui.label("Oversampling");
            ui.add(ParamSlider::for_param(&p.oversampling, &setter));
            ui.end_row();
        });
        ui.separator();
        ui.label("Health: not available yet.");
    }
}

/// Creates the editor for a plugin instance.
pub fn create(params: Arc<SalveParams>) -> Option<SalveEditor> {
    create_egui_editor(
        EguiEditorState::from_size(LogicalSize::new(EDITOR_WIDTH, EDITOR_HEIGHT), 1.0),
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Salve"),
        SalveApp { params, gui: None },
    )
}
