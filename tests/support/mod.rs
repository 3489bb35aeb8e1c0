//! The tests' side of the CLAP host: the one host ([`salve_host`]) loads the real Salve library
//! through its CLAP entry point and drives it the way a DAW would; this adds the library build
//! for the tests, the allocation checker, and signal helpers.
//!
//! The library it loads is a debug build of Salve made with the `alloc-checks` feature (and
//! `test-hooks`, which adds a hidden fault-injection parameter), so the
//! plugin aborts on any allocation inside `process()`; the host side of every `process()` call
//! also runs under `assert_no_alloc`, which this binary's allocator enforces.

#![allow(dead_code)]

pub use salve_host::{Instance, Processor};
use std::path::PathBuf;
use std::sync::OnceLock;

#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

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
        salve_host::build_library(&root, &root.join("target"), salve_host::Variant::Tests)
            .expect("build the plugin library")
    })
}

/// The loaded test library.
pub fn load_entry() -> clack_host::prelude::PluginEntry {
    load_entry_from(plugin_library())
}

/// Loads Salve's CLAP entry from another build (a bundle, say).
pub fn load_entry_from(library: &std::path::Path) -> clack_host::prelude::PluginEntry {
    salve_host::load(library).expect("load the CLAP entry")
}

/// A new instance of the test library.
pub fn instance() -> Instance {
    Instance::new(&load_entry(), "Salve tests")
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
