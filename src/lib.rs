//! Salve: a stereo saturator with 1x-16x oversampling that watches its own real-time health.
//!
//! This file holds the plugin itself (its identity, lifecycle and `process()`), the CLAP and VST3
//! exports are at the bottom. The audio path lives in [`dsp`], the parameters in [`params`], the
//! factory presets in [`presets`] and the editor in [`editor`].

pub mod dsp;
pub mod editor;
pub mod healer;
mod hooks;
pub mod params;
pub mod presets;
pub mod probe;

use dsp::{Controls, Engine, Factor, OutputStats, Path};
use nice_plug::prelude::*;
use params::SalveParams;
use probe::clock::MonotonicClock;
use probe::events::{EventKind, Events};
use probe::record::BlockRecord;
use probe::telemetry::Telemetry;
use probe::{BlockInfo, Probe, ProbeConfig};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// The lowest sample rate Salve accepts, in Hz (hosts and validators do try 1 kHz).
pub const MIN_SAMPLE_RATE: f32 = 1_000.0;
/// The highest sample rate Salve accepts, in Hz (8x 192 kHz).
pub const MAX_SAMPLE_RATE: f32 = 1_536_000.0;

pub struct Salve {
    params: Arc<SalveParams>,
    /// Built in `activate` for the host's sample rate; `None` while inactive.
    engine: Option<Engine>,
    /// Per-sample control values of the chunk being processed, filled from the smoothers.
    controls: Box<Controls>,
    /// Whether the host renders offline (no deadline: always the best quality).
    offline: bool,
    /// Times and checks every block; built in `activate`.
    probe: Option<Probe<MonotonicClock>>,
    /// The probe's clock, calibrated once per instance.
    clock: Option<MonotonicClock>,
    /// The reading end of the probe's ring, until the background thread takes it.
    records: Option<rtrb::Consumer<BlockRecord>>,
    /// What the probe publishes, shared with the editor and the background thread.
    telemetry: Arc<Telemetry>,
    hooks: hooks::Hooks,
}

impl Default for Salve {
    fn default() -> Self {
        Self {
            params: Arc::new(SalveParams::default()),
            engine: None,
            controls: Box::default(),
            offline: false,
            probe: None,
            clock: None,
            records: None,
            telemetry: Arc::new(Telemetry::new()),
            hooks: hooks::Hooks::default(),
        }
    }
}

impl Salve {
    /// The factor to run at now: the best one offline (unless the user wants renders to match
    /// realtime), otherwise the user's choice.
    fn target_factor(&self) -> Factor {
        if self.offline && !self.params.render_like_realtime.value() {
            Factor::X16
        } else {
            self.params.oversampling.value().realtime_factor()
        }
    }
}

/// Fills `ctl[..n]` from the parameter smoothers, advancing them by `n` samples.
fn fill_controls(params: &SalveParams, ctl: &mut Controls, n: usize) {
    params.drive.smoothed.next_block_exact(&mut ctl.drive[..n]);
    params.mix.smoothed.next_block_exact(&mut ctl.mix[..n]);
    params
        .output
        .smoothed
        .next_block_exact(&mut ctl.output[..n]);
    if params.tone.smoothed.is_smoothing() {
        for i in 0..n {
            let (lo, hi) = dsp::filters::tilt_gains(params.tone.smoothed.next());
            ctl.tilt_low[i] = lo;
            ctl.tilt_high[i] = hi;
        }
    } else {
        let (lo, hi) = dsp::filters::tilt_gains(params.tone.smoothed.next());
        ctl.tilt_low[..n].fill(lo);
        ctl.tilt_high[..n].fill(hi);
    }
}

impl Plugin for Salve {
    const NAME: &'static str = "Salve";
    const VENDOR: &'static str = "Salve Audio";
    const URL: &'static str = "https://salve.audio";
    const EMAIL: &'static str = "support@salve.audio";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_input_ports: &[],
            aux_output_ports: &[],
            names: PortNames::const_default(),
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::SalveEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let sr = buffer_config.sample_rate;
        if !(sr.is_finite() && (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sr)) {
            nice_error!(
                "Salve does not run at {sr} Hz (it needs {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
            );
            return false;
        }
        self.offline = buffer_config.process_mode == ProcessMode::Offline;
        let engine = Engine::new(sr, self.target_factor());
        context.set_latency_samples(engine.latency());
        self.engine = Some(engine);
        match &mut self.probe {
            // Keep the probe across activations so that it notices a sample-rate change.
            Some(probe) => probe.restart_stream(),
            None => {
                let clock = self.clock.take().unwrap_or_default();
                let (probe, records) =
                    Probe::new(clock, ProbeConfig::default(), self.telemetry.clone());
                self.probe = Some(probe);
                self.records = Some(records);
            }
        }
        true
    }

    fn reset(&mut self) {
        let factor = self.target_factor();
        let curve = self.params.curve.value();
        if let Some(engine) = &mut self.engine {
            engine.set_factor(factor);
            engine.set_curve(curve);
            engine.reset();
        }
        if let Some(probe) = &mut self.probe {
            probe.restart_stream();
        }
    }

    fn deactivate(&mut self) {
        self.engine = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let factor = self.target_factor();
        let (Some(engine), Some(probe)) = (self.engine.as_mut(), self.probe.as_mut()) else {
            for channel in buffer.as_slice() {
                channel.fill(0.0);
            }
            return ProcessStatus::Normal;
        };
        let start = probe.begin();
        let transport = context.transport();
        let info = BlockInfo {
            samples: buffer.samples() as u32,
            sample_rate: transport.sample_rate,
            realtime: !self.offline,
            playing: transport.playing,
            position: transport.pos_samples(),
            loop_range: transport.loop_range_samples,
        };

        // Parameters are read every block rather than in `activate`/`reset`, because nice-plug
        // loads a state without calling either.
        engine.set_factor(factor);
        engine.set_curve(self.params.curve.value());
        let panic_armed = self.hooks.arm(&self.params.hooks, engine);

        let params = &self.params;
        let controls = &mut self.controls;
        let mut dsp = || {
            catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: flushing denormals only changes results below 1e-38; the guard
                // restores the host's floating-point mode before returning, also on unwinding.
                unsafe {
                    no_denormals::no_denormals(|| {
                        let channels = buffer.as_slice();
                        match channels.split_first_mut() {
                            Some((left, rest)) => {
                                let right = rest.first_mut().map(|r| &mut **r);
                                engine.process(left, right, controls, |ctl, n| {
                                    fill_controls(params, ctl, n)
                                })
                            }
                            None => OutputStats::default(),
                        }
                    })
                }
            }))
        };
        // A panic allocates (its payload, the unwinding exception); only a test's injected panic
        // is allowed to do that under the allocation checker.
        let result = if panic_armed {
            util::permit_alloc(dsp)
        } else {
            dsp()
        };

        let mut events = Events::default();
        let stats = match result {
            Ok(stats) => stats,
            Err(payload) => {
                // Keep the host alive: silence this block, restart the DSP and play it safe.
                // The payload is leaked rather than freed here, on the audio thread.
                std::mem::forget(payload);
                for channel in buffer.as_slice() {
                    channel.fill(0.0);
                }
                engine.set_safe_mode(true);
                engine.restart();
                events.insert(EventKind::Panic);
                OutputStats {
                    restarted: false,
                    ..OutputStats::default()
                }
            }
        };
        let heard = match engine.active_path() {
            Path::Tier(f) => f.ratio() as u8,
            Path::Bypass => 0,
        };
        probe.end(start, &info, &stats, heard, events);
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Salve {
    const CLAP_ID: &'static str = "audio.salve.saturator";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("A stereo saturator with oversampling that heals itself");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Distortion,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];

    fn remote_controls(&self, context: &mut impl RemoteControlsContext) {
        context.add_section("Salve", |section| {
            section.add_page("Main", |page| {
                page.add_param(&self.params.drive);
                page.add_param(&self.params.curve);
                page.add_param(&self.params.tone);
                page.add_param(&self.params.mix);
                page.add_param(&self.params.output);
                page.add_param(&self.params.oversampling);
            });
        });
    }
}

impl Vst3Plugin for Salve {
    const VST3_CLASS_ID: [u8; 16] = *b"SalveHealSatur01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Distortion];
}

nice_export_clap!(Salve);
nice_export_vst3!(Salve);
