//! The chaos runner's use of the one test host ([`salve_host`]): an instance of the chaos build
//! whose audio side ([`Voice`]) may be taken to another thread while it plays, as a host hands a
//! plugin's processor to its audio threads. Parameters are addressed by their `#[id]` and set by
//! their display text.

use clack_host::prelude::PluginEntry;
pub use salve_host::Processor as Voice;
use salve_host::{Instance, Variant};
use std::path::{Path, PathBuf};

/// Builds the chaos variant of the plugin library and returns the path of a copy of it.
pub fn build_library(root: &Path, target: &Path) -> Result<PathBuf, String> {
    eprintln!("Building Salve with the chaos feature...");
    salve_host::build_library(root, target, Variant::Chaos)
}

pub use salve_host::load;

/// One Salve instance as the runner plays it, inactive or processing.
pub struct Player {
    instance: Instance,
    voice: Option<Voice>,
}

impl Player {
    pub fn new(entry: &PluginEntry) -> Result<Self, String> {
        Ok(Self {
            instance: Instance::new(entry, "Salve chaos runner"),
            voice: None,
        })
    }

    /// Sets parameters (`#[id]`, display text) while inactive, as a host's main thread does.
    pub fn set_inactive(&mut self, values: &[(&str, &str)]) -> Result<(), String> {
        if self.voice.is_some() {
            return Err("parameters can only be flushed while inactive".into());
        }
        let values: Vec<(u32, f64)> = values
            .iter()
            .map(|(id, text)| self.instance.value_of(id, text))
            .collect();
        self.instance.set_params(&values);
        Ok(())
    }

    /// Queues a parameter change (`#[id]`, display text) for the start of the next block.
    pub fn set(&mut self, id: &str, text: &str) -> Result<(), String> {
        let (clap_id, value) = self.instance.value_of(id, text);
        self.voice
            .as_mut()
            .ok_or("not active")?
            .set_param(clap_id, value);
        Ok(())
    }

    pub fn activate(&mut self, sample_rate: f64, max_block: usize) -> Result<(), String> {
        self.voice = Some(self.instance.activate(sample_rate, max_block as u32));
        Ok(())
    }

    /// Stops processing and deactivates (Salve writes its final checkpoint then).
    pub fn deactivate(&mut self) {
        if let Some(v) = self.voice.take() {
            self.instance.deactivate(v);
        }
    }

    /// Takes the audio side away to another thread (the instance stays active).
    pub fn take_voice(&mut self) -> Option<Voice> {
        self.voice.take()
    }

    /// Gives the audio side back, before deactivating.
    pub fn give_voice(&mut self, voice: Voice) {
        self.voice = Some(voice);
    }

    /// Processes one stereo block; returns the outputs.
    pub fn process(&mut self, left: &[f32], right: &[f32]) -> Result<[&[f32]; 2], String> {
        let (l, r) = self
            .voice
            .as_mut()
            .ok_or("not active")?
            .process(left, right);
        Ok([l, r])
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.deactivate();
    }
}
