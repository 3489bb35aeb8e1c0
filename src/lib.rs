//! Salve: a stereo saturator with 1x-16x oversampling that watches its own real-time health.
//!
//! This file holds the plugin itself (its identity, lifecycle and `process()`), the CLAP and VST3
//! exports are at the bottom. The audio path lives in [`dsp`], the parameters in [`params`], the
//! factory presets in [`presets`] and the editor in [`editor`].

pub mod dsp;
pub mod editor;
pub mod params;
pub mod presets;

use dsp::{Controls, Engine, Factor};
use nice_plug::prelude::*;
use params::SalveParams;
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
}

impl Default for Salve {
    fn default() -> Self {
        Self {
            params: Arc::new(SalveParams::default()),
            engine: None,
            controls: Box::default(),
            offline: false,
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
    }

    fn deactivate(&mut self) {
        self.engine = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let factor = self.target_factor();
        let Some(engine) = self.engine.as_mut() else {
            for channel in buffer.as_slice() {
                channel.fill(0.0);
            }
            return ProcessStatus::Normal;
        };
        // Parameters are read every block rather than in `activate`/`reset`, because nice-plug
        // loads a state without calling either.
        engine.set_factor(factor);
        engine.set_curve(self.params.curve.value());
        let params = &self.params;
        let controls = &mut self.controls;
        // SAFETY: flushing denormals only changes results that are below 1e-38 anyway; the guard
        // restores the host's floating-point mode before returning.
        unsafe {
            no_denormals::no_denormals(|| {
                let channels = buffer.as_slice();
                if let Some((left, rest)) = channels.split_first_mut() {
                    let right = rest.first_mut().map(|r| &mut **r);
                    engine.process(left, right, controls, |ctl, n| {
                        fill_controls(params, ctl, n)
                    });
                }
            })
        };
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
