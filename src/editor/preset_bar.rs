//! The preset bar: the current preset's name (marked `*` once edited), previous and next, Save,
//! Save as and Delete (asking before a user preset is replaced or removed), and an A/B compare
//! of two settings. A damaged preset file changes nothing and says why.
//!
//! Presets load through the host (`GuiContext::set_state`), like a host's own preset; A/B
//! switches restore each parameter with one host gesture, so they are exact and undoable.

use crate::params::SalveParams;
use crate::presets::{Preset, user_files};
use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::{Param, ParamSetter};
use std::path::{Path, PathBuf};

/// A preset in the list: the factory's, then the user's (sorted by file name).
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Factory(Preset),
    User { name: String, path: PathBuf },
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Factory(p) => &p.name,
            Entry::User { name, .. } => name,
        }
    }
}

/// Every preset, in the order previous/next walk them.
pub fn entries(dir: &Path) -> Vec<Entry> {
    let mut list: Vec<Entry> = Preset::factory().into_iter().map(Entry::Factory).collect();
    list.extend(user_files(dir).into_iter().map(|path| {
        Entry::User {
            name: path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            path,
        }
    }));
    list
}

/// The preset loaded or saved last, and how it sounded then (to tell when it is edited).
#[derive(Clone, Debug)]
struct Current {
    entry: Entry,
    sound: Preset,
}

/// What waits for the user's yes or no.
#[derive(Clone, Debug, PartialEq)]
enum Confirm {
    /// Replace this user preset with the current settings under its name.
    Replace(Preset),
    Delete {
        name: String,
        path: PathBuf,
    },
}

/// The sound parameters' normalized values: one A/B slot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Snapshot([f32; 6]);

impl Snapshot {
    fn take(p: &SalveParams) -> Self {
        Self([
            p.drive.unmodulated_normalized_value(),
            p.curve.unmodulated_normalized_value(),
            p.tone.unmodulated_normalized_value(),
            p.mix.unmodulated_normalized_value(),
            p.output.unmodulated_normalized_value(),
            p.oversampling.unmodulated_normalized_value(),
        ])
    }

    /// Sets every parameter that differs, one gesture each.
    fn restore(&self, p: &SalveParams, setter: &ParamSetter) {
        fn set<P: Param>(setter: &ParamSetter, param: &P, normalized: f32) {
            if param.unmodulated_normalized_value() != normalized {
                setter.begin_set_parameter(param);
                setter.set_parameter_normalized(param, normalized);
                setter.end_set_parameter(param);
            }
        }
        let v = self.0;
        set(setter, &p.drive, v[0]);
        set(setter, &p.curve, v[1]);
        set(setter, &p.tone, v[2]);
        set(setter, &p.mix, v[3]);
        set(setter, &p.output, v[4]);
        set(setter, &p.oversampling, v[5]);
    }
}

/// The preset bar's state between frames.
#[derive(Debug)]
pub struct PresetBar {
    dir: PathBuf,
    current: Option<Current>,
    /// The name typed for "Save as".
    name: String,
    confirm: Option<Confirm>,
    message: Option<String>,
    /// The two A/B slots and which one is being edited (0 = A).
    slots: [Option<Snapshot>; 2],
    slot: usize,
}

impl PresetBar {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            current: None,
            name: String::from("My preset"),
            confirm: None,
            message: None,
            slots: [None; 2],
            slot: 0,
        }
    }

    pub fn set_dir(&mut self, dir: PathBuf) {
        self.dir = dir;
    }

    /// The current preset's name as the bar shows it: `*` once edited, "No preset" before any.
    pub fn title(&self, params: &SalveParams) -> String {
        match &self.current {
            None => "No preset".into(),
            Some(c) => {
                let now = Preset::from_params(params, c.entry.name());
                let mark = if now.same_sound(&c.sound) { "" } else { " *" };
                format!("{}{mark}", c.entry.name())
            }
        }
    }

    fn load(&mut self, entry: Entry, gui: &GuiContext) {
        let preset = match &entry {
            Entry::Factory(p) => Ok(p.clone()),
            Entry::User { path, .. } => Preset::load(path),
        };
        match preset {
            Ok(p) => {
                gui.set_state(p.to_state());
                self.current = Some(Current { entry, sound: p });
                self.message = None;
            }
            // A bad file changes nothing and says why.
            Err(e) => self.message = Some(e.to_string()),
        }
    }

    /// The preset `step` places from the current one (wrapping), or the first.
    fn walk(&mut self, step: isize, gui: &GuiContext) {
        let list = entries(&self.dir);
        if list.is_empty() {
            return;
        }
        let at = self
            .current
            .as_ref()
            .and_then(|c| list.iter().position(|e| e.name() == c.entry.name()));
        let next = match at {
            Some(i) => (i as isize + step).rem_euclid(list.len() as isize) as usize,
            None if step < 0 => list.len() - 1,
            None => 0,
        };
        self.load(list[next].clone(), gui);
    }

    fn save(&mut self, preset: Preset) {
        match preset.save(&self.dir) {
            Ok(path) => {
                self.message = Some(format!("Saved \"{}\" to {}", preset.name, path.display()));
                let name = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                self.current = Some(Current {
                    entry: Entry::User { name, path },
                    sound: preset,
                });
            }
            Err(e) => self.message = Some(format!("The preset could not be saved: {e}")),
        }
    }

    /// Saves the current settings as `name`, asking first if a user preset has that name.
    fn save_as(&mut self, params: &SalveParams, name: &str) {
        let preset = Preset::from_params(params, name);
        if preset.path_in(&self.dir).exists() {
            self.confirm = Some(Confirm::Replace(preset));
        } else {
            self.save(preset);
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, params: &SalveParams, gui: &GuiContext) {
        let setter = gui.param_setter();
        ui.horizontal(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            if ui
                .small_button("<")
                .on_hover_text("Previous preset")
                .clicked()
            {
                self.walk(-1, gui);
            }
            let title = self.title(params);
            let mut chosen = None;
            egui::ComboBox::from_id_salt("preset")
                .selected_text(&title)
                .width(150.0)
                .show_ui(ui, |ui| {
                    for entry in entries(&self.dir) {
                        let tip = match &entry {
                            Entry::Factory(p) => p.description.clone(),
                            Entry::User { path, .. } => path.display().to_string(),
                        };
                        let on = self
                            .current
                            .as_ref()
                            .is_some_and(|c| c.entry.name() == entry.name());
                        if ui
                            .selectable_label(on, entry.name())
                            .on_hover_text(tip)
                            .clicked()
                        {
                            chosen = Some(entry);
                        }
                    }
                })
                .response
                .on_hover_text("The current preset; * means you have changed it since.");
            if let Some(entry) = chosen {
                self.load(entry, gui);
            }
            if ui.small_button(">").on_hover_text("Next preset").clicked() {
                self.walk(1, gui);
            }
            let user = match &self.current {
                Some(Current {
                    entry: Entry::User { name, path },
                    ..
                }) => Some((name.clone(), path.clone())),
                _ => None,
            };
            if ui
                .add_enabled(user.is_some(), egui::Button::new("Save"))
                .on_hover_text("Save your changes into this preset (asks first).")
                .on_disabled_hover_text("Factory presets stay as they are: use Save as.")
                .clicked()
                && let Some((name, _)) = &user
            {
                self.confirm = Some(Confirm::Replace(Preset::from_params(params, name)));
            }
            if ui
                .add_enabled(user.is_some(), egui::Button::new("Delete"))
                .on_hover_text("Delete this preset file (asks first).")
                .on_disabled_hover_text("Only your own presets can be deleted.")
                .clicked()
                && let Some((name, path)) = user
            {
                self.confirm = Some(Confirm::Delete { name, path });
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Name");
            ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(110.0))
                .labelled_by(label.id)
                .on_hover_text("The name to save the current settings under.");
            if ui
                .button("Save as")
                .on_hover_text(
                    "Save the current settings as a new preset in your Salve presets folder.",
                )
                .clicked()
            {
                let name = self.name.trim().to_owned();
                self.save_as(params, &name);
            }
            ui.separator();
            for (i, slot) in ["A", "B"].into_iter().enumerate() {
                if ui
                    .selectable_label(self.slot == i, slot)
                    .on_hover_text("Compare two settings: edit one, switch, edit the other.")
                    .clicked()
                    && self.slot != i
                {
                    self.slots[self.slot] = Some(Snapshot::take(params));
                    match self.slots[i] {
                        Some(s) => s.restore(params, &setter),
                        // The first visit starts from a copy.
                        None => self.slots[i] = Some(Snapshot::take(params)),
                    }
                    self.slot = i;
                }
            }
            let (from, to) = if self.slot == 0 {
                ("A", "B")
            } else {
                ("B", "A")
            };
            if ui
                .small_button(format!("Copy {from} to {to}"))
                .on_hover_text(format!("Copy the settings of {from} into {to}."))
                .clicked()
            {
                self.slots[1 - self.slot] = Some(Snapshot::take(params));
            }
        });
        if let Some(confirm) = self.confirm.clone() {
            ui.horizontal(|ui| {
                let (question, yes) = match &confirm {
                    Confirm::Replace(p) => {
                        (format!("Replace your preset \"{}\"?", p.name), "Replace")
                    }
                    Confirm::Delete { name, .. } => {
                        (format!("Delete your preset \"{name}\"?"), "Delete it")
                    }
                };
                ui.label(question);
                if ui.button(yes).clicked() {
                    self.confirm = None;
                    match confirm {
                        Confirm::Replace(p) => self.save(p),
                        Confirm::Delete { name, path } => match std::fs::remove_file(&path) {
                            Ok(()) => {
                                self.current = None;
                                self.message = Some(format!("Deleted \"{name}\"."));
                            }
                            Err(e) => {
                                self.message = Some(format!("\"{name}\" could not be deleted: {e}"))
                            }
                        },
                    }
                }
                if ui.button("Cancel").clicked() {
                    self.confirm = None;
                }
            });
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }
}
