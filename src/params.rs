//! The plugin state a host saves: the parameters a musician and a host see (their ranges,
//! defaults, units and smoothing), the persisted session and the editor's layout.

use crate::dsp::{Curve, Factor};
use nice_plug::prelude::*;
use std::sync::Arc;

/// Parameter smoothing for gains, in milliseconds.
const GAIN_SMOOTHING_MS: f32 = 50.0;
/// Parameter smoothing for mix and tone, in milliseconds.
const LINEAR_SMOOTHING_MS: f32 = 30.0;
/// The drive range's top, in dB.
pub const DRIVE_MAX_DB: f32 = 36.0;
/// The output range, in dB either side of unity.
pub const OUTPUT_RANGE_DB: f32 = 24.0;

/// Counts the changes of every parameter the audio thread reads, so that it reads them only
/// when one changed: each parameter lies in a cache line of its own, and with hundreds of
/// instances playing, reading ten of them at every block cost more than Salve's DSP at 1x.
///
/// Every such parameter calls [`ParamChanges::notifier`]'s callback after its value changed
/// (nice-plug calls it on whichever thread set the value: the audio thread for automation, the
/// main thread when a state loads). The audio thread reads [`ParamChanges::count`] before the
/// values: a change that lands after that read shows in the next block's count.
#[derive(Debug, Default)]
pub struct ParamChanges(std::sync::atomic::AtomicU64);

impl ParamChanges {
    /// How many changes so far (acquire: the values they stored are seen after it).
    #[inline]
    pub fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A parameter callback that counts a change (wait-free: one atomic add).
    pub fn notifier<T>(self: &Arc<Self>) -> Arc<dyn Fn(T) + Send + Sync> {
        let changes = self.clone();
        Arc::new(move |_| {
            changes.0.fetch_add(1, std::sync::atomic::Ordering::Release);
        })
    }
}

/// The user's oversampling choice: `Auto` lets the healer pick (up to 16x); the others fix the
/// factor, which the healer then treats as a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Oversampling {
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    #[id = "1x"]
    #[name = "1x"]
    X1,
    #[id = "2x"]
    #[name = "2x"]
    X2,
    #[id = "4x"]
    #[name = "4x"]
    X4,
    #[id = "8x"]
    #[name = "8x"]
    X8,
    #[id = "16x"]
    #[name = "16x"]
    X16,
}

impl Oversampling {
    /// The highest level the healer may choose: `Auto` lets it go up to 16x.
    pub fn ceiling(self) -> crate::healer::level::Level {
        use crate::healer::level::Level;
        match self {
            Oversampling::Auto => Level::Ultra,
            fixed => Level::from_factor(fixed.realtime_factor()),
        }
    }

    /// The factor this choice runs at without healing (`Auto` without the healer means 4x).
    pub fn realtime_factor(self) -> Factor {
        match self {
            Oversampling::Auto | Oversampling::X4 => Factor::X4,
            Oversampling::X1 => Factor::X1,
            Oversampling::X2 => Factor::X2,
            Oversampling::X8 => Factor::X8,
            Oversampling::X16 => Factor::X16,
        }
    }
}

/// What the healer may do (see [`crate::healer::Mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Healing {
    /// Detects, predicts and adapts the quality.
    #[id = "auto"]
    #[name = "Auto"]
    Auto,
    /// Detects, predicts and reports what it would do; changes nothing.
    #[id = "monitor"]
    #[name = "Monitor only"]
    MonitorOnly,
    /// The oversampling plays as set.
    #[id = "off"]
    #[name = "Off"]
    Off,
}

impl Healing {
    pub fn mode(self) -> crate::healer::Mode {
        match self {
            Healing::Auto => crate::healer::Mode::Auto,
            Healing::MonitorOnly => crate::healer::Mode::MonitorOnly,
            Healing::Off => crate::healer::Mode::Off,
        }
    }
}

#[derive(Params)]
pub struct SalveParams {
    /// The host's bypass (flagged as such, so the host's own bypass button drives it): the input
    /// passes unchanged with the same latency, crossfaded in and out.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// How hard the signal hits the curve, as a linear gain shown in dB.
    #[id = "drive"]
    pub drive: FloatParam,
    #[id = "curve"]
    pub curve: EnumParam<Curve>,
    /// Tilt from dark (-100 %) to bright (+100 %), applied to the saturated signal.
    #[id = "tone"]
    pub tone: FloatParam,
    /// Wet share, 0..=1 shown as a percentage.
    #[id = "mix"]
    pub mix: FloatParam,
    /// Output gain, linear, shown in dB.
    #[id = "output"]
    pub output: FloatParam,
    /// Turns the output down as the drive turns the sound up (see
    /// [`crate::dsp::shaper::loudness_match_gain`]), so the drive changes the character, not the
    /// level. Off by default; smoothed.
    #[id = "match_loudness"]
    pub match_loudness: BoolParam,
    #[id = "oversampling"]
    pub oversampling: EnumParam<Oversampling>,
    /// Offline renders use 16x unless this is on, in which case they use the realtime factor, so a
    /// bounce matches what was heard.
    #[id = "render_rt"]
    pub render_like_realtime: BoolParam,
    /// Whether Salve adapts its quality to keep the session running.
    #[id = "healing"]
    pub healing: EnumParam<Healing>,
    /// The latest checkpoint of the healing session, carried by every host save (see
    /// [`crate::checkpoint`]).
    #[persist = "session"]
    pub session: Arc<std::sync::Mutex<crate::checkpoint::Persisted>>,
    /// The editor's size and zoom, so the window reopens as the user left it.
    #[persist = "editor"]
    pub editor_layout: Arc<std::sync::Mutex<EditorLayout>>,
    /// Fault injection for the tests; empty unless built with `test-hooks`.
    #[nested(group = "Test")]
    pub hooks: crate::hooks::HookParams,
    /// Chaos controls for `cargo xtask chaos`; empty unless built with `chaos`.
    #[nested(group = "Chaos")]
    pub chaos: crate::hooks::ChaosParams,
    /// Counts the changes of the parameters above (not the hooks').
    pub changes: Arc<ParamChanges>,
}

impl Default for SalveParams {
    fn default() -> Self {
        let changes = Arc::new(ParamChanges::default());
        Self {
            drive: FloatParam::new(
                "Drive",
                util::db_to_gain(6.0),
                FloatRange::Skewed {
                    min: 1.0,
                    max: util::db_to_gain(DRIVE_MAX_DB),
                    factor: FloatRange::gain_skew_factor(0.0, DRIVE_MAX_DB),
                },
            )
            .with_smoother(SmoothingStyle::Logarithmic(GAIN_SMOOTHING_MS))
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db())
            .with_callback(changes.notifier()),
            curve: EnumParam::new("Curve", Curve::Smooth).with_callback(changes.notifier()),
            tone: FloatParam::new(
                "Tone",
                0.0,
                FloatRange::Linear {
                    min: -1.0,
                    max: 1.0,
                },
            )
            .with_smoother(SmoothingStyle::Linear(LINEAR_SMOOTHING_MS))
            .with_unit(" %")
            .with_value_to_string(Arc::new(|v| format!("{:+.0}", v * 100.0)))
            .with_string_to_value(Arc::new(|s| {
                s.trim()
                    .trim_end_matches('%')
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .map(|v| v / 100.0)
            }))
            .with_callback(changes.notifier()),
            mix: FloatParam::new("Mix", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_smoother(SmoothingStyle::Linear(LINEAR_SMOOTHING_MS))
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage())
                .with_callback(changes.notifier()),
            output: FloatParam::new(
                "Output",
                1.0,
                FloatRange::Skewed {
                    min: util::db_to_gain(-OUTPUT_RANGE_DB),
                    max: util::db_to_gain(OUTPUT_RANGE_DB),
                    factor: FloatRange::gain_skew_factor(-OUTPUT_RANGE_DB, OUTPUT_RANGE_DB),
                },
            )
            .with_smoother(SmoothingStyle::Logarithmic(GAIN_SMOOTHING_MS))
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db())
            .with_callback(changes.notifier()),
            oversampling: EnumParam::new("Oversampling", Oversampling::Auto)
                .with_callback(changes.notifier()),
            bypass: BoolParam::new("Bypass", false)
                .make_bypass()
                .with_value_to_string(Arc::new(|on| if on { "Bypassed" } else { "Active" }.into()))
                .with_string_to_value(Arc::new(|text| match text.trim().to_lowercase().as_str() {
                    "bypassed" | "on" | "true" | "1" => Some(true),
                    "active" | "off" | "false" | "0" => Some(false),
                    _ => None,
                }))
                .with_callback(changes.notifier()),
            match_loudness: BoolParam::new("Match loudness", false)
                .with_value_to_string(Arc::new(|on| if on { "On" } else { "Off" }.into()))
                .with_callback(changes.notifier()),
            render_like_realtime: BoolParam::new("Render like realtime", false)
                .non_automatable()
                .with_value_to_string(Arc::new(|on| if on { "On" } else { "Off" }.into()))
                .with_callback(changes.notifier()),
            healing: EnumParam::new("Healing", Healing::Auto)
                .non_automatable()
                .with_callback(changes.notifier()),
            session: Default::default(),
            editor_layout: Default::default(),
            hooks: Default::default(),
            chaos: crate::hooks::ChaosParams::new(&changes),
            changes,
        }
    }
}

/// The editor's window as the user left it: its size (logical pixels, before the host's DPI
/// scale) and zoom. It lives here, with the rest of the plugin state, so that the editor depends
/// on the parameters and never the other way round.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EditorLayout {
    pub width: f32,
    pub height: f32,
    pub zoom: f32,
    /// Whether the health panel's "Details" section is open.
    #[serde(default)]
    pub details_open: bool,
}

impl Default for EditorLayout {
    fn default() -> Self {
        Self {
            width: Self::WIDTH,
            height: Self::HEIGHT,
            zoom: 1.0,
            details_open: false,
        }
    }
}

impl EditorLayout {
    /// The editor's initial size, in logical pixels.
    pub const WIDTH: f32 = 860.0;
    pub const HEIGHT: f32 = 560.0;
    /// The smallest size the editor can be dragged to, in logical pixels.
    pub const MIN_WIDTH: f32 = 720.0;
    pub const MIN_HEIGHT: f32 = 480.0;

    /// The same layout with absurd values (from a hostile or damaged state) brought into range.
    pub fn sanitized(self) -> Self {
        let fit = |v: f32, lo: f32, hi: f32, default: f32| {
            if v.is_finite() {
                v.clamp(lo, hi)
            } else {
                default
            }
        };
        Self {
            width: fit(self.width, Self::MIN_WIDTH, 4.0 * Self::WIDTH, Self::WIDTH),
            height: fit(
                self.height,
                Self::MIN_HEIGHT,
                4.0 * Self::HEIGHT,
                Self::HEIGHT,
            ),
            zoom: fit(self.zoom, 0.5, 3.0, 1.0),
            details_open: self.details_open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_layout_is_brought_into_range() {
        let ok = EditorLayout {
            width: 1000.0,
            height: 700.0,
            zoom: 1.25,
            details_open: true,
        };
        assert_eq!(ok.sanitized(), ok);
        let bad = EditorLayout {
            width: f32::NAN,
            height: 1e9,
            zoom: 0.0,
            details_open: false,
        }
        .sanitized();
        assert_eq!(bad.width, EditorLayout::WIDTH);
        assert_eq!(bad.height, 4.0 * EditorLayout::HEIGHT);
        assert_eq!(bad.zoom, 0.5);
        // The layout travels in the plugin state as JSON.
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<EditorLayout>(&json).unwrap(), ok);
    }
}
