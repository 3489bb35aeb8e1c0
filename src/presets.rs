//! Presets: the human-readable preset file format, the factory presets shipped in `presets/`,
//! and their conversion into the plugin state nice-plug loads.
//!
//! A preset file is a JSON object with values in the units the editor shows (see the README):
//! `name`, `description`, `drive_db`, `curve`, `tone_percent`, `mix_percent`, `output_db`,
//! `oversampling`. Unknown keys and out-of-range values are errors, never silently ignored.

use crate::dsp::Curve;
use crate::params::{DRIVE_MAX_DB, OUTPUT_RANGE_DB, Oversampling};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::{Enum, PluginState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The factory presets, compiled in: `(file name, contents)`.
pub const FACTORY: &[(&str, &str)] = &[
    (
        "clean-glue.json",
        include_str!("../presets/clean-glue.json"),
    ),
    ("warm-tape.json", include_str!("../presets/warm-tape.json")),
    (
        "tube-crunch.json",
        include_str!("../presets/tube-crunch.json"),
    ),
    ("hard-edge.json", include_str!("../presets/hard-edge.json")),
    ("fuzz.json", include_str!("../presets/fuzz.json")),
];

/// One preset, in display units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 0 ..= 36 dB.
    pub drive_db: f32,
    /// `smooth`, `soft`, `tube` or `hard`.
    pub curve: String,
    /// -100 (dark) ..= 100 (bright).
    pub tone_percent: f32,
    /// 0 (dry) ..= 100 (wet).
    pub mix_percent: f32,
    /// -24 ..= 24 dB.
    pub output_db: f32,
    /// `auto`, `1x`, `2x`, `4x`, `8x` or `16x`.
    pub oversampling: String,
}

/// Why a preset could not be used, in words for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum PresetError {
    /// Not valid JSON, or not the preset's shape.
    Format(String),
    /// A value outside its range or not one of the choices.
    Value(String),
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresetError::Format(e) => write!(f, "This is not a Salve preset file: {e}"),
            PresetError::Value(e) => write!(f, "This preset has a value Salve cannot use: {e}"),
        }
    }
}

impl std::error::Error for PresetError {}

/// The enum variant whose state id is `id`.
fn variant_by_id<T: Enum>(id: &str) -> Option<T> {
    T::ids()?.iter().position(|&v| v == id).map(T::from_index)
}

fn check_range(what: &str, value: f32, min: f32, max: f32) -> Result<(), PresetError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PresetError::Value(format!(
            "{what} is {value}, it must be between {min} and {max}"
        )))
    }
}

impl Preset {
    /// Parses and validates a preset file's contents.
    pub fn parse(json: &str) -> Result<Self, PresetError> {
        let preset: Preset =
            serde_json::from_str(json).map_err(|e| PresetError::Format(e.to_string()))?;
        preset.validate()?;
        Ok(preset)
    }

    fn validate(&self) -> Result<(), PresetError> {
        check_range("drive_db", self.drive_db, 0.0, DRIVE_MAX_DB)?;
        check_range("tone_percent", self.tone_percent, -100.0, 100.0)?;
        check_range("mix_percent", self.mix_percent, 0.0, 100.0)?;
        check_range(
            "output_db",
            self.output_db,
            -OUTPUT_RANGE_DB,
            OUTPUT_RANGE_DB,
        )?;
        if variant_by_id::<Curve>(&self.curve).is_none() {
            return Err(PresetError::Value(format!(
                "curve is {:?}, it must be one of {:?}",
                self.curve,
                Curve::ids().unwrap_or_default()
            )));
        }
        if variant_by_id::<Oversampling>(&self.oversampling).is_none() {
            return Err(PresetError::Value(format!(
                "oversampling is {:?}, it must be one of {:?}",
                self.oversampling,
                Oversampling::ids().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// The plugin state that sets every parameter the preset names (and nothing else), in the
    /// units nice-plug stores: gains as linear factors, percentages as fractions.
    pub fn to_state(&self) -> PluginState {
        let db = |v: f32| 10f32.powf(v / 20.0);
        let params: BTreeMap<String, ParamValue> = [
            ("drive", ParamValue::F32(db(self.drive_db))),
            ("curve", ParamValue::String(self.curve.clone())),
            ("tone", ParamValue::F32(self.tone_percent / 100.0)),
            ("mix", ParamValue::F32(self.mix_percent / 100.0)),
            ("output", ParamValue::F32(db(self.output_db))),
            (
                "oversampling",
                ParamValue::String(self.oversampling.clone()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        PluginState {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            params,
            fields: BTreeMap::new(),
        }
    }

    /// The preset that reproduces the current settings, named `name`.
    pub fn from_params(params: &crate::params::SalveParams, name: &str) -> Self {
        let id = |index: usize, ids: Option<&'static [&'static str]>| {
            ids.and_then(|ids| ids.get(index))
                .copied()
                .unwrap_or_default()
                .to_owned()
        };
        let db = |gain: f32| 20.0 * gain.max(1e-6).log10();
        Self {
            name: name.to_owned(),
            description: String::new(),
            drive_db: (db(params.drive.value()) * 10.0).round() / 10.0,
            curve: id(params.curve.value().to_index(), Curve::ids()),
            tone_percent: (params.tone.value() * 100.0).round(),
            mix_percent: (params.mix.value() * 100.0).round(),
            output_db: (db(params.output.value()) * 10.0).round() / 10.0,
            oversampling: id(params.oversampling.value().to_index(), Oversampling::ids()),
        }
    }

    /// Reads and validates a user preset file; on any error nothing is applied.
    pub fn load(path: &std::path::Path) -> Result<Self, PresetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PresetError::Format(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Where [`Preset::save`] writes this preset in `dir`: a file named after it.
    pub fn path_in(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let stem: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == ' ' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stem = stem.trim();
        dir.join(format!(
            "{}.json",
            if stem.is_empty() { "preset" } else { stem }
        ))
    }

    /// Whether `other` sounds the same: every value but the name and the description.
    pub fn same_sound(&self, other: &Preset) -> bool {
        Preset {
            name: String::new(),
            description: String::new(),
            ..self.clone()
        } == Preset {
            name: String::new(),
            description: String::new(),
            ..other.clone()
        }
    }

    /// Writes the preset as a pretty JSON file named after it in `dir` (see
    /// [`Preset::path_in`]); returns its path.
    pub fn save(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = self.path_in(dir);
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, json + "\n")?;
        Ok(path)
    }

    /// Every factory preset, parsed.
    pub fn factory() -> Vec<Preset> {
        FACTORY
            .iter()
            .map(|(file, json)| {
                Preset::parse(json).unwrap_or_else(|e| panic!("factory preset {file}: {e}"))
            })
            .collect()
    }
}

/// Where user presets live: the user's documents folder (or home), under `Salve presets`.
pub fn user_dir() -> std::path::PathBuf {
    dirs::document_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("Salve presets")
}

/// The `.json` files in `dir`, sorted by name.
pub fn user_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_factory_preset_parses_and_has_a_unique_name() {
        let presets = Preset::factory();
        assert!(presets.len() >= 5);
        let mut names: Vec<_> = presets.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), presets.len());
    }

    #[test]
    fn the_current_settings_save_and_load_back() {
        let params = crate::params::SalveParams::default();
        let preset = Preset::from_params(&params, "My: sound/1");
        let dir = std::env::temp_dir().join(format!("salve-presets-{}", std::process::id()));
        let path = preset.save(&dir).unwrap();
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("My_ sound_1")
        );
        assert_eq!(Preset::load(&path).unwrap(), preset);
        assert_eq!(user_files(&dir), vec![path.clone()]);
        // A damaged file says why and yields nothing to apply.
        std::fs::write(&path, "{ \"name\": 3 }").unwrap();
        let err = Preset::load(&path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("This is not a Salve preset file"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_explain_themselves() {
        let err = Preset::parse("{").unwrap_err();
        assert!(matches!(err, PresetError::Format(_)), "{err}");
        let good = FACTORY[0].1;
        let bad = good.replace("\"smooth\"", "\"crunchy\"");
        let err = Preset::parse(&bad).unwrap_err();
        assert!(err.to_string().contains("curve"), "{err}");
        let bad = good.replace("\"drive_db\": 3.0", "\"drive_db\": 99");
        let err = Preset::parse(&bad).unwrap_err();
        assert!(err.to_string().contains("drive_db"), "{err}");
        let bad = good.replace("\"name\"", "\"nmae\"");
        assert!(matches!(Preset::parse(&bad), Err(PresetError::Format(_))));
    }
}
