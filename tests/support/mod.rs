//! A small CLAP host for the tests: loads the real Salve library through its CLAP entry point with
//! clack-host, and drives it the way a DAW would (activate, process blocks, automate parameters,
//! save and load state).
//!
//! The library it loads is a debug build of Salve made with the `alloc-checks` feature (and
//! `test-hooks`, which adds a hidden fault-injection parameter), so the
//! plugin aborts on any allocation inside `process()`; the host side of every `process()` call
//! also runs under `assert_no_alloc`.

#![allow(dead_code)]

use assert_no_alloc::assert_no_alloc;
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use std::ffi::CString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// Salve's CLAP id.
pub const CLAP_ID: &str = "audio.salve.saturator";

/// Builds (once per test binary) the plugin library with allocation checks and returns its path.
pub fn plugin_library() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // The plugin's crash journal goes under target/, not into the user's data directory
        // (a test may have set its own already).
        if std::env::var_os("SALVE_JOURNAL_DIR").is_none() {
            // SAFETY: set once, before any plugin instance (the only reader) exists; other test
            // threads wait on this OnceLock before they create one.
            unsafe {
                std::env::set_var(
                    "SALVE_JOURNAL_DIR",
                    root.join("target").join("test-journal"),
                );
            }
        }
        // Built in the workspace's own target directory, so it shares the dependencies with this
        // test build (only the nice-plug crates and Salve differ by feature), and copied out at
        // once: the plain `libsalve` there belongs to the normal build.
        let target = root.join("target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--lib",
                "-p",
                "salve",
                "--features",
                "alloc-checks,test-hooks",
            ])
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("run cargo to build the plugin library");
        assert!(status.success(), "building the plugin library failed");
        let name = |suffix: &str| {
            format!(
                "{}salve{suffix}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )
        };
        let lib = target.join("alloc-checks").join(name("-alloc-checks"));
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        // Copied beside it and renamed over it: a new file, never rewritten in place, because
        // another process (the crash tests' child host, or its parent) may have it loaded.
        let tmp = lib.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::copy(target.join("debug").join(name("")), &tmp).expect("copy the library");
        std::fs::rename(&tmp, &lib).expect("move the library copy in place");
        lib
    })
}

pub struct TestHostShared;

impl SharedHandler<'_> for TestHostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// The loaded library; instances borrow nothing from it but must not outlive it.
pub fn load_entry() -> PluginEntry {
    load_entry_from(plugin_library())
}

/// Loads Salve's CLAP entry from another build (a bundle, say).
pub fn load_entry_from(library: &std::path::Path) -> PluginEntry {
    // SAFETY: we load our own plugin, which is a well-behaved CLAP library.
    unsafe { PluginEntry::load(library) }.expect("load the CLAP entry")
}

/// One plugin instance and its extensions.
pub struct Instance {
    pub instance: PluginInstance<TestHost>,
    _entry: PluginEntry,
}

impl Instance {
    pub fn new() -> Self {
        Self::from_entry(load_entry())
    }

    /// An instance from an entry loaded with [`load_entry_from`].
    pub fn from_entry(entry: PluginEntry) -> Self {
        let host_info =
            HostInfo::new("Salve tests", "Salve", "https://salve.audio", "1.0").expect("host info");
        let id = CString::new(CLAP_ID).unwrap();
        let instance =
            PluginInstance::<TestHost>::new(|_| TestHostShared, |_| (), &entry, &id, &host_info)
                .expect("instantiate Salve");
        Self {
            instance,
            _entry: entry,
        }
    }

    fn params_ext(&mut self) -> PluginParams {
        self.instance
            .plugin_handle()
            .get_extension::<PluginParams>()
            .expect("params extension")
    }

    /// `(clap id, name, min, max, default)` of every parameter.
    pub fn param_infos(&mut self) -> Vec<(u32, String, f64, f64, f64)> {
        let ext = self.params_ext();
        let handle = self.instance.plugin_handle();
        let count = ext.count(&handle);
        let mut out = Vec::new();
        for i in 0..count {
            let mut buf = ParamInfoBuffer::new();
            let info = ext.get_info(&handle, i, &mut buf).expect("param info");
            out.push((
                info.id.get(),
                String::from_utf8_lossy(info.name).into_owned(),
                info.min_value,
                info.max_value,
                info.default_value,
            ));
        }
        out
    }

    /// The CLAP id of the parameter shown as `name`.
    pub fn param_id(&mut self, name: &str) -> u32 {
        self.param_infos()
            .into_iter()
            .find(|p| p.1 == name)
            .unwrap_or_else(|| panic!("no parameter named {name}"))
            .0
    }

    pub fn param_value(&mut self, id: u32) -> f64 {
        let ext = self.params_ext();
        ext.get_value(&self.instance.plugin_handle(), ClapId::new(id))
            .expect("param value")
    }

    /// The value the plugin parses from `text` for a parameter, as a host's text entry does.
    pub fn text_to_value(&mut self, id: u32, text: &str) -> f64 {
        let ext = self.params_ext();
        let text = CString::new(text).unwrap();
        ext.text_to_value(&self.instance.plugin_handle(), ClapId::new(id), &text)
            .unwrap_or_else(|| panic!("parse {text:?}"))
    }

    /// The CLAP value of a parameter given as display text (`"12 dB"`, `"16x"`, `"Tube"`).
    pub fn value_of(&mut self, name: &str, text: &str) -> (u32, f64) {
        let id = self.param_id(name);
        (id, self.text_to_value(id, text))
    }

    /// Every parameter's value, by name.
    pub fn param_values(&mut self) -> Vec<(String, f64)> {
        self.param_infos()
            .into_iter()
            .map(|(id, name, ..)| (name, self.param_value(id)))
            .collect()
    }

    /// Sets parameters from the main thread, as a host does while the plugin is inactive.
    pub fn set_params(&mut self, values: &[(u32, f64)]) {
        let ext = self.params_ext();
        let events: Vec<ParamValueEvent> = values
            .iter()
            .map(|&(id, v)| ParamValueEvent::new(0, ClapId::new(id), Pckn::match_all(), v))
            .collect();
        let input = InputEvents::from_buffer(&events);
        let mut out_buf = EventBuffer::new();
        let mut output = OutputEvents::from_buffer(&mut out_buf);
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .expect("parameters are flushed from the main thread while inactive");
        ext.flush(&mut handle, &input, &mut output);
    }

    pub fn save_state(&mut self) -> Vec<u8> {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginState>()
            .expect("state extension");
        let mut bytes = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut bytes)
            .expect("save state");
        bytes
    }

    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginState>()
            .expect("state extension");
        ext.load(&self.instance.plugin_handle(), &mut &bytes[..])
            .is_ok()
    }

    pub fn latency(&mut self) -> u32 {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginLatency>()
            .expect("latency extension");
        ext.get(&self.instance.plugin_handle())
    }

    /// Switches between realtime and offline rendering (only while inactive).
    pub fn set_offline(&mut self, offline: bool) {
        let ext = self
            .instance
            .plugin_handle()
            .get_extension::<PluginRender>()
            .expect("render extension");
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        ext.set(&self.instance.plugin_handle(), mode)
            .expect("set render mode");
    }

    /// Activates at `sample_rate` with blocks of at most `max_block` samples and starts
    /// processing.
    pub fn activate(&mut self, sample_rate: f64, max_block: u32) -> Processor {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .expect("activate")
            .start_processing()
            .expect("start processing");
        Processor {
            processor: Some(processor),
            max_block: max_block as usize,
            inputs: [vec![0.0; max_block as usize], vec![0.0; max_block as usize]],
            outputs: [vec![0.0; max_block as usize], vec![0.0; max_block as usize]],
            input_ports: AudioPorts::with_capacity(2, 1),
            output_ports: AudioPorts::with_capacity(2, 1),
            events: Vec::with_capacity(64),
            out_events: EventBuffer::with_capacity(64),
            steady_time: 0,
        }
    }

    /// Stops processing and deactivates.
    pub fn deactivate(&mut self, mut processor: Processor) {
        let p = processor.processor.take().unwrap();
        self.instance.deactivate(p.stop_processing());
    }
}

/// An active, processing plugin with preallocated host buffers.
pub struct Processor {
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
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
    pub fn set_param(&mut self, id: u32, value: f64) {
        self.events.push(ParamValueEvent::new(
            0,
            ClapId::new(id),
            Pckn::match_all(),
            value,
        ));
    }

    /// Processes one stereo block (at most `max_block` long); returns the outputs.
    pub fn process(&mut self, left: &[f32], right: &[f32]) -> (&[f32], &[f32]) {
        let n = left.len();
        assert!(n <= self.max_block && right.len() == n);
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
        let processor = self.processor.as_mut().unwrap();
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
        status.expect("process");
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

/// A sine of `freq` Hz at `amp` (linear) lasting `len` samples.
pub fn sine(freq: f64, sample_rate: f64, amp: f32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (std::f64::consts::TAU * freq * i as f64 / sample_rate).sin() as f32 * amp)
        .collect()
}

/// The amplitude of the component at `freq` Hz in `signal` (Hann-windowed single DFT bin).
pub fn tone_amplitude(signal: &[f32], freq: f64, sample_rate: f64) -> f64 {
    let n = signal.len() as f64;
    let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
    for (i, &x) in signal.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
        let ph = std::f64::consts::TAU * freq * i as f64 / sample_rate;
        re += x as f64 * w * ph.cos();
        im -= x as f64 * w * ph.sin();
        wsum += w;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

/// Converts a linear amplitude to dB.
pub fn db(x: f64) -> f64 {
    20.0 * x.max(1e-30).log10()
}

/// The checkpoint inside a saved CLAP state blob (u64 length + JSON).
pub fn checkpoint_of(state: &[u8]) -> Option<salve::checkpoint::Checkpoint> {
    let json: serde_json::Value = serde_json::from_slice(state.get(8..)?).ok()?;
    let field = json["fields"]["session"].as_str()?;
    let persisted: salve::checkpoint::Persisted = serde_json::from_str(field).ok()?;
    salve::checkpoint::Checkpoint::from_text(persisted.current.as_deref()?).ok()
}

/// Plays a 220 Hz sine in real time for `seconds` (a block, then 10 ms of rest, as a host's
/// audio thread would leave the healer time to tick), calling `each` after every block.
pub fn play(p: &mut Processor, seconds: f64, mut each: impl FnMut(&mut Processor)) {
    let input = sine(220.0, 48_000.0, 0.3, p.max_block);
    let start = std::time::Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        p.process(&input, &input);
        each(p);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
