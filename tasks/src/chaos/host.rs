//! The chaos runner's CLAP host: loads the chaos build of Salve through its CLAP entry point with
//! clack-host, sets parameters by their display text, and processes stereo blocks with
//! preallocated buffers, as a DAW's audio thread would.

use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use std::collections::HashMap;
use std::ffi::CString;
use std::path::Path;

/// Salve's CLAP id.
const CLAP_ID: &str = "audio.salve.saturator";

pub struct Shared;

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct Host;

impl HostHandlers for Host {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// The loaded library.
pub fn load(library: &Path) -> Result<PluginEntry, String> {
    // SAFETY: the library is the chaos build of Salve, a well-behaved CLAP plugin.
    unsafe { PluginEntry::load(library) }.map_err(|e| format!("load {}: {e}", library.display()))
}

/// One Salve instance, inactive or processing. Its audio side ([`Voice`]) may be taken to
/// another thread while it plays, as a host hands a plugin's processor to its audio threads.
pub struct Salve {
    instance: PluginInstance<Host>,
    /// Parameter ids by display name.
    ids: HashMap<String, u32>,
    voice: Option<Voice>,
}

/// The audio side of an active instance: its started processor and preallocated buffers.
pub struct Voice {
    processor: StartedPluginAudioProcessor<Host>,
    inputs: [Vec<f32>; 2],
    outputs: [Vec<f32>; 2],
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    pending: Vec<ParamValueEvent>,
    out_events: EventBuffer,
    steady_time: u64,
}

impl Salve {
    pub fn new(entry: &PluginEntry) -> Result<Self, String> {
        let info = HostInfo::new("Salve chaos runner", "Salve", "https://salve.audio", "1.0")
            .map_err(|e| e.to_string())?;
        let id = CString::new(CLAP_ID).unwrap();
        let instance = PluginInstance::<Host>::new(|_| Shared, |_| (), entry, &id, &info)
            .map_err(|e| format!("instantiate Salve: {e}"))?;
        let mut salve = Self {
            instance,
            ids: HashMap::new(),
            voice: None,
        };
        let ext = salve.params_ext()?;
        let handle = salve.instance.plugin_handle();
        for i in 0..ext.count(&handle) {
            let mut buf = ParamInfoBuffer::new();
            if let Some(p) = ext.get_info(&handle, i, &mut buf) {
                salve
                    .ids
                    .insert(String::from_utf8_lossy(p.name).into_owned(), p.id.get());
            }
        }
        Ok(salve)
    }

    fn params_ext(&mut self) -> Result<PluginParams, String> {
        self.instance
            .plugin_handle()
            .get_extension::<PluginParams>()
            .ok_or_else(|| "Salve has no params extension".to_string())
    }

    /// The CLAP event setting parameter `name` to the value its display text `text` means.
    fn event(&mut self, name: &str, text: &str) -> Result<ParamValueEvent, String> {
        let id = *self
            .ids
            .get(name)
            .ok_or_else(|| format!("Salve has no parameter {name:?} (is this the chaos build?)"))?;
        let ext = self.params_ext()?;
        let c_text = CString::new(text).unwrap();
        let value = ext
            .text_to_value(&self.instance.plugin_handle(), ClapId::new(id), &c_text)
            .ok_or_else(|| format!("{name} cannot be {text:?}"))?;
        Ok(ParamValueEvent::new(
            0,
            ClapId::new(id),
            Pckn::match_all(),
            value,
        ))
    }

    /// Sets parameters (by display text) while inactive, as a host's main thread does.
    pub fn set_inactive(&mut self, values: &[(&str, &str)]) -> Result<(), String> {
        let events = values
            .iter()
            .map(|(n, t)| self.event(n, t))
            .collect::<Result<Vec<_>, _>>()?;
        let ext = self.params_ext()?;
        let mut out = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .ok_or("parameters can only be flushed while inactive")?;
        ext.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::from_buffer(&mut out),
        );
        Ok(())
    }

    /// Queues a parameter change (by display text) for the start of the next block.
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
        let e = self.event(name, text)?;
        self.voice.as_mut().ok_or("not active")?.pending.push(e);
        Ok(())
    }

    pub fn activate(&mut self, sample_rate: f64, max_block: usize) -> Result<(), String> {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        let stopped = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| format!("activate: {e}"))?;
        let processor = stopped
            .start_processing()
            .map_err(|_| "start processing failed".to_string())?;
        self.voice = Some(Voice {
            processor,
            inputs: [vec![0.0; max_block], vec![0.0; max_block]],
            outputs: [vec![0.0; max_block], vec![0.0; max_block]],
            input_ports: AudioPorts::with_capacity(2, 1),
            output_ports: AudioPorts::with_capacity(2, 1),
            pending: Vec::with_capacity(16),
            out_events: EventBuffer::with_capacity(16),
            steady_time: 0,
        });
        Ok(())
    }

    /// Stops processing and deactivates (Salve writes its final checkpoint then).
    pub fn deactivate(&mut self) {
        if let Some(v) = self.voice.take() {
            self.instance.deactivate(v.processor.stop_processing());
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
        self.voice
            .as_mut()
            .ok_or("not active")?
            .process(left, right)
    }
}

impl Voice {
    /// Processes one stereo block; returns the outputs.
    pub fn process(&mut self, left: &[f32], right: &[f32]) -> Result<[&[f32]; 2], String> {
        let n = left.len();
        // The host's buffers are preallocated at activation: no allocation per block.
        self.inputs[0][..n].copy_from_slice(left);
        self.inputs[1][..n].copy_from_slice(right);
        let [in_l, in_r] = &mut self.inputs;
        let [out_l, out_r] = &mut self.outputs;
        let input = self.input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                [&mut in_l[..n], &mut in_r[..n]]
                    .into_iter()
                    .map(InputChannel::variable),
            ),
        }]);
        let mut output = self.output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                [&mut out_l[..n], &mut out_r[..n]].into_iter(),
            ),
        }]);
        let events = InputEvents::from_buffer(&self.pending);
        self.out_events.clear();
        let mut out_events = OutputEvents::from_buffer(&mut self.out_events);
        self.processor
            .process(
                &input,
                &mut output,
                &events,
                &mut out_events,
                Some(self.steady_time),
                None,
            )
            .map_err(|e| format!("process: {e}"))?;
        self.pending.clear();
        self.steady_time += n as u64;
        Ok([&self.outputs[0][..n], &self.outputs[1][..n]])
    }
}

impl Drop for Salve {
    fn drop(&mut self) {
        self.deactivate();
    }
}
