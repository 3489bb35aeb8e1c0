//! The quality levels the healer moves between, and the visualizer tiers it sheds first.

use crate::dsp::{Factor, Path};
use serde::{Deserialize, Serialize};

/// Audio quality, lowest first. Each level above `Safe` is an oversampling ratio; `Safe` is
/// safe mode, the one safe state: the clean, latency-preserving path ([`crate::dsp::Path::Safe`],
/// ratio 0 in block records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Level {
    /// Saved under its old name, so older checkpoints still read.
    #[serde(rename = "Emergency")]
    Safe = 0,
    Minimal = 1,
    Low = 2,
    Medium = 3,
    High = 4,
    Ultra = 5,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Safe,
        Level::Minimal,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Ultra,
    ];

    pub fn from_u8(v: u8) -> Level {
        Self::ALL[(v as usize).min(5)]
    }

    pub fn from_factor(f: Factor) -> Level {
        Self::from_u8(f.stages() as u8 + 1)
    }

    /// The factor this level plays; `None` for safe mode.
    pub fn factor(self) -> Option<Factor> {
        match self {
            Level::Safe => None,
            l => Some(Factor::from_stages(l as usize - 1)),
        }
    }

    /// The oversampling ratio (0 for safe mode).
    pub fn ratio(self) -> u32 {
        self.factor().map_or(0, |f| f.ratio() as u32)
    }

    pub fn path(self) -> Path {
        self.factor().map_or(Path::Safe, Path::Tier)
    }

    /// The level that plays `ratio` (0 = safe mode).
    pub fn from_ratio(ratio: u8) -> Level {
        match ratio {
            0 => Level::Safe,
            r => Level::from_u8(r.trailing_zeros() as u8 + 1),
        }
    }

    pub fn down(self) -> Level {
        Self::from_u8((self as u8).saturating_sub(1))
    }

    pub fn up(self) -> Level {
        Self::from_u8(self as u8 + 1)
    }

    pub fn label(self) -> &'static str {
        match self {
            Level::Safe => "Safe mode",
            Level::Minimal => "Minimal (1x)",
            Level::Low => "Low (2x)",
            Level::Medium => "Medium (4x)",
            Level::High => "High (8x)",
            Level::Ultra => "Ultra (16x)",
        }
    }
}

/// How much the visualizer draws, highest first. Shed before any audio quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum VisTier {
    Off = 0,
    /// The level meter only (saved under its old name, so older checkpoints still read).
    #[serde(rename = "Minimal")]
    Meter = 1,
    Reduced = 2,
    Full = 3,
}

impl VisTier {
    pub fn from_u8(v: u8) -> VisTier {
        [
            VisTier::Off,
            VisTier::Meter,
            VisTier::Reduced,
            VisTier::Full,
        ][(v as usize).min(3)]
    }

    pub fn down(self) -> VisTier {
        Self::from_u8((self as u8).saturating_sub(1))
    }

    pub fn up(self) -> VisTier {
        Self::from_u8(self as u8 + 1)
    }

    pub fn label(self) -> &'static str {
        match self {
            VisTier::Off => "Off",
            VisTier::Meter => "Meter only",
            VisTier::Reduced => "Reduced",
            VisTier::Full => "Full",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_factors_and_back() {
        for f in Factor::ALL {
            let l = Level::from_factor(f);
            assert_eq!(l.factor(), Some(f));
            assert_eq!(Level::from_ratio(f.ratio() as u8), l);
        }
        assert_eq!(Level::Safe.factor(), None);
        assert_eq!(Level::from_ratio(0), Level::Safe);
        assert_eq!(Level::Ultra.up(), Level::Ultra);
        assert_eq!(Level::Safe.down(), Level::Safe);
    }

    #[test]
    fn renamed_variants_keep_the_names_older_checkpoints_saved() {
        assert_eq!(
            serde_json::to_string(&Level::Safe).unwrap(),
            "\"Emergency\""
        );
        assert_eq!(
            serde_json::to_string(&VisTier::Meter).unwrap(),
            "\"Minimal\""
        );
        assert_eq!(
            serde_json::from_str::<Level>("\"Emergency\"").unwrap(),
            Level::Safe
        );
        assert_eq!(
            serde_json::from_str::<VisTier>("\"Minimal\"").unwrap(),
            VisTier::Meter
        );
        // The checkpoints' own encoding (MessagePack) round-trips them too.
        let bytes = rmp_serde::to_vec(&(Level::Safe, VisTier::Meter)).unwrap();
        let back: (Level, VisTier) = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, (Level::Safe, VisTier::Meter));
    }
}
