//! The one CLAP host of Salve's tests and of its chaos runner (`cargo xtask chaos`).
//!
//! It builds a variant of the plugin library ([`build_library`]), loads it through its CLAP entry
//! point ([`load`]) and drives instances the way a DAW does: parameters set from the main thread
//! while inactive, activation, blocks processed with buffers allocated once at activation,
//! parameter changes queued for the next block, state saved and loaded.
//!
//! Parameters are addressed by their stable `#[id]` string (`"drive"`, `"oversampling"`), never
//! by the names a host shows, which may be reworded.
//!
//! A host that cannot do what it is asked (the library does not load, activation fails, a
//! parameter does not exist) panics with the reason: every caller is a test or a developer's
//! tool, and a panic there is the report.

use assert_no_alloc::assert_no_alloc;
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Salve's CLAP id.
pub const CLAP_ID: &str = "audio.salve.saturator";

/// A build of the plugin library for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Debug, with `alloc-checks` (the plugin aborts on any allocation inside `process()`) and
    /// `test-hooks` (a hidden fault-injection parameter): for the tests.
    Tests,
    /// Release, with `chaos` (hidden controls that slow Salve down and inject faults): for the
    /// chaos runner.
    Chaos,
}

impl Variant {
    fn features(self) -> &'static str {
        match self {
            Self::Tests => "alloc-checks,test-hooks",
            Self::Chaos => "chaos",
        }
    }

    fn profile_dir(self) -> &'static str {
        match self {
            Self::Tests => "debug",
            Self::Chaos => "release",
        }
    }

    /// Where the copy goes, under the target directory, and its name's suffix.
    fn copy_dir(self) -> (&'static str, &'static str) {
        match self {
            Self::Tests => ("alloc-checks", "-alloc-checks"),
            Self::Chaos => ("chaos-lib", "-chaos"),
        }
    }
}

/// Builds a variant of the plugin library from the workspace at `root` and returns the path of
/// a copy of it.
///
/// It builds in the workspace's own `target` directory, so the dependencies are shared with the
/// other builds there (only Salve and the crates whose features differ are compiled again), and
/// copies the library out at once: the plain `libsalve` there belongs to the normal build. The
/// copy is renamed into place, never rewritten: another process (a crash test's child host, a
/// runner still playing) may have the previous one loaded.
pub fn build_library(root: &Path, target: &Path, variant: Variant) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root).arg("build");
    if variant == Variant::Chaos {
        command.arg("--release");
    }
    let status = command
        .args(["--lib", "-p", "salve", "--features", variant.features()])
        .arg("--target-dir")
        .arg(target)
        .status()
        .map_err(|e| format!("run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the {variant:?} library failed"));
    }
    let name = |suffix: &str| {
        format!(
            "{}salve{suffix}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    };
    let built = target.join(variant.profile_dir()).join(name(""));
    let (dir, suffix) = variant.copy_dir();
    let copy = target.join(dir).join(name(suffix));
    std::fs::create_dir_all(target.join(dir)).map_err(|e| e.to_string())?;
    let tmp = copy.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::copy(&built, &tmp).map_err(|e| format!("copy {}: {e}", built.display()))?;
    std::fs::rename(&tmp, &copy).map_err(|e| e.to_string())?;
    Ok(copy)
}

/// Loads a Salve library's CLAP entry. Instances borrow nothing from it but must not outlive it
/// ([`Instance`] keeps a handle).
pub fn load(library: &Path) -> Result<PluginEntry, String> {
    // SAFETY: the library is a build of Salve, a well-behaved CLAP plugin.
    unsafe { PluginEntry::load(library) }.map_err(|e| format!("load {}: {e}", library.display()))
}

/// The CLAP id nice-plug gives the parameter whose `#[id]` is `id` (its documented hash: VST3
/// reserves the top bit for the host's own parameters).
pub fn clap_param_id(id: &str) -> u32 {
    let hash = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    hash & !(1 << 31)
}

pub struct HostShared;

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct Host;

impl HostHandlers for Host {
    type Shared<'a> = HostShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// What the host shows of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub clap_id: u32,
    pub name: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    /// Flagged as the plugin's bypass, for the host's own bypass button.
    pub bypass: bool,
}

/// One plugin instance, on the host's main thread.
pub struct Instance {
    pub instance: PluginInstance<Host>,
    /// The CLAP ids of the plugin's parameters, listed once (a parameter change in the chaos
    /// runner's loop need not walk the list again).
    clap_ids: Vec<u32>,
    _entry: PluginEntry,
}

impl Instance {
    /// Instantiates Salve from a loaded entry; `host_name` is what the plugin is told its host is.
    pub fn new(entry: &PluginEntry, host_name: &str) -> Self {
        let info = HostInfo::new(host_name, "Salve", "https://salve.audio", "1.0")
            .expect("valid host info");
        let id = CString::new(CLAP_ID).expect("no NUL in the id");
        let instance = PluginInstance::<Host>::new(|_| HostShared, |_| (), entry, &id, &info)
            .unwrap_or_else(|e| panic!("instantiate Salve: {e}"));
        let mut this = Self {
            instance,
            clap_ids: Vec::new(),
            _entry: entry.clone(),
        };
        this.clap_ids = this.param_infos().iter().map(|p| p.clap_id).collect();
        this
    }

    fn params_ext(&mut self) -> PluginParams {
        self.instance
            .plugin_handle()
            .get_extension::<PluginParams>()
            .expect("Salve has the params extension")
    }

    /// Every parameter, in the plugin's order.
    pub fn param_infos(&mut self) -> Vec<ParamInfo> {
        let ext = self.params_ext();
        let handle = self.instance.plugin_handle();
        (0..ext.count(&handle))
            .map(|i| {
                let mut buf = ParamInfoBuffer::new();
                let p = ext.get_info(&handle, i, &mut buf).expect("param info");
                ParamInfo {
                    clap_id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    min: p.min_value,
                    max: p.max_value,
                    default: p.default_value,
                    bypass: p.flags.contains(ParamInfoFlags::IS_BYPASS),
                }
            })
            .collect()
    }

    /// The CLAP id of the parameter whose `#[id]` is `id`; panics if this build has no such
    /// parameter (the chaos and test parameters exist only in their variants).
    pub fn param(&mut self, id: &str) -> u32 {
        let clap_id = clap_param_id(id);
        assert!(
            self.clap_ids.contains(&clap_id),
            "this build of Salve has no parameter {id:?}"
        );
        clap_id
    }

    /// A parameter's value (plain units: dB, ratio, an enum's index).
    pub fn param_value(&mut self, clap_id: u32) -> f64 {
        let ext = self.params_ext();
        ext.get_value(&self.instance.plugin_handle(), ClapId::new(clap_id))
            .expect("param value")
    }

    /// The value the plugin parses from `text` for a parameter, as a host's text entry does.
    pub fn text_to_value(&mut self, clap_id: u32, text: &str) -> f64 {
        let ext = self.params_ext();
        let c_text = CString::new(text).expect("no NUL in the text");
        ext.text_to_value(
            &self.instance.plugin_handle(),
            ClapId::new(clap_id),
            &c_text,
        )
        .unwrap_or_else(|| panic!("Salve cannot parse {text:?} for parameter {clap_id}"))
    }

    /// The CLAP id and value of parameter `id` given as display text (`"12 dB"`, `"16x"`).
    pub fn value_of(&mut self, id: &str, text: &str) -> (u32, f64) {
        let clap_id = self.param(id);
        (clap_id, self.text_to_value(clap_id, text))
    }

    /// Every parameter's value, by displayed name.
    pub fn param_values(&mut self) -> Vec<(String, f64)> {
        self.param_infos()
            .into_iter()
            .map(|p| {
                let value = self.param_value(p.clap_id);
                (p.name, value)
            })
            .collect()
    }

    /// Sets parameters from the main thread, as a host does while the plugin is inactive.
    pub fn set_params(&mut self, values: &[(u32, f64)]) {
        let ext = self.params_ext();
        let events: Vec<ParamValueEvent> = values
            .iter()
            .map(|&(id, v)| ParamValueEvent::new(0, ClapId::new(id), Pckn::match_all(), v))
            .collect();
        let mut out = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .expect("parameters are flushed from the main thread while inactive");
        ext.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::from_buffer(&mut out),
        );
    }

    fn state_ext(&mut self) -> PluginState {
        self.instance
            .plugin_handle()
            .get_extension::<PluginState>()
            .expect("Salve has the state extension")
    }

    pub fn save_state(&mut self) -> Vec<u8> {
        let ext = self.state_ext();
        let mut bytes = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut bytes)
            .expect("save state");
        bytes
    }

    /// Whether the plugin accepted the state.
    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let ext = self.state_ext();
        ext.load(&self.instance.plugin_handle(), &mut &bytes[..])
            .is_ok()
    }

    pub fn latency(&mut self) -> u32 {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginLatency>()
            .expect("Salve has the latency extension");
        ext.get(&self.instance.plugin_handle())
    }

    /// Switches between realtime and offline rendering (only while inactive).
    pub fn set_offline(&mut self, offline: bool) {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginRender>()
            .expect("Salve has the render extension");
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        ext.set(&self.instance.plugin_handle(), mode)
            .expect("set render mode");
    }

    /// Activates at `sample_rate` with blocks of at most `max_block` samples and starts
    /// processing. The returned audio side may go to another thread, as a host hands a plugin's
    /// processor to its audio threads; give it back to [`Instance::deactivate`].
    pub fn activate(&mut self, sample_rate: f64, max_block: u32) -> Processor {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .unwrap_or_else(|e| panic!("activate: {e}"))
            .start_processing()
            .unwrap_or_else(|e| panic!("start processing: {e}"));
        let max = max_block as usize;
        Processor {
            processor,
            max_block: max,
            inputs: [vec![0.0; max], vec![0.0; max]],
            outputs: [vec![0.0; max], vec![0.0; max]],
            input_ports: AudioPorts::with_capacity(2, 1),
            output_ports: AudioPorts::with_capacity(2, 1),
            events: Vec::with_capacity(64),
            out_events: EventBuffer::with_capacity(64),
            steady_time: 0,
        }
    }

    /// Stops processing and deactivates (Salve writes its final checkpoint then).
    pub fn deactivate(&mut self, processor: Processor) {
        self.instance
            .deactivate(processor.processor.stop_processing());
    }
}

/// The audio side of an active instance, with host buffers allocated once at activation.
pub struct Processor {
    processor: StartedPluginAudioProcessor<Host>,
    pub max_block: usize,
    inputs: [Vec<f32>; 2],
    outputs: [Vec<f32>; 2],
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    events: Vec<ParamValueEvent>,
    out_events: EventBuffer,
    steady_time: u64,
}

impl Processor {
    /// Queues a parameter change for the start of the next block.
    pub fn set_param(&mut self, clap_id: u32, value: f64) {
        self.events.push(ParamValueEvent::new(
            0,
            ClapId::new(clap_id),
            Pckn::match_all(),
            value,
        ));
    }

    /// Processes one stereo block (at most `max_block` long); returns the outputs.
    ///
    /// The host's side of the call runs under `assert_no_alloc`: in a binary whose global
    /// allocator is `assert_no_alloc::AllocDisabler` (the tests), an allocation aborts.
    pub fn process(&mut self, left: &[f32], right: &[f32]) -> (&[f32], &[f32]) {
        let n = left.len();
        assert!(
            n <= self.max_block && right.len() == n,
            "block of {n} samples"
        );
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
        let events = InputEvents::from_buffer(&self.events);
        self.out_events.clear();
        let mut out_events = OutputEvents::from_buffer(&mut self.out_events);
        let processor = &mut self.processor;
        let steady = self.steady_time;
        let status = assert_no_alloc(|| {
            processor.process(
                &input,
                &mut output,
                &events,
                &mut out_events,
                Some(steady),
                None,
            )
        });
        if let Err(e) = status {
            panic!("process: {e}");
        }
        self.events.clear();
        self.steady_time += n as u64;
        (&self.outputs[0][..n], &self.outputs[1][..n])
    }

    /// Processes a whole stereo signal in blocks of `block` samples and returns the outputs.
    pub fn run(&mut self, left: &[f32], right: &[f32], block: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut l, mut r) = (
            Vec::with_capacity(left.len()),
            Vec::with_capacity(left.len()),
        );
        for (cl, cr) in left.chunks(block).zip(right.chunks(block)) {
            let (ol, or) = self.process(cl, cr);
            l.extend_from_slice(ol);
            r.extend_from_slice(or);
        }
        (l, r)
    }

    /// [`Processor::run`] on a mono signal fed to both channels; returns the left output.
    pub fn run_mono(&mut self, input: &[f32], block: usize) -> Vec<f32> {
        self.run(input, input, block).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_param_id_hash_matches_nice_plugs() {
        // Values nice-plug's `hash_param_id` gives (31-multiplier string hash, top bit cleared).
        assert_eq!(clap_param_id(""), 0);
        assert_eq!(clap_param_id("a"), 97);
        assert_eq!(clap_param_id("ab"), 97 * 31 + 98);
        // A long id overflows and keeps the top bit clear.
        assert_eq!(clap_param_id("oversampling") >> 31, 0);
    }
}
