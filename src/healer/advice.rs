//! What the user can do when healing cannot help ([`Recommendation`]), in plain words.

use serde::{Deserialize, Serialize};

/// What the user can do when healing cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Recommendation {
    /// Something outside Salve interrupts the audio thread; lowering Salve's quality does not help.
    OutsideInterruptions {
        period_s: f32,
        extra_ms: f32,
        block: u32,
    },
    /// Still over budget at the lowest quality.
    OverloadAtMinimal { block: u32 },
    /// The host's audio thread is late, while Salve's own load is low.
    HostDropouts { per_minute: f32, block: u32 },
    /// The DSP keeps producing invalid audio.
    RepeatedInvalidAudio,
}

impl Recommendation {
    /// The advice in plain words, with the concrete action.
    pub fn text(&self) -> String {
        let bigger = |b: u32| (b.max(32) * 2).next_power_of_two();
        match *self {
            Recommendation::OutsideInterruptions {
                period_s,
                extra_ms,
                block,
            } => format!(
                "Something outside Salve interrupts the audio about every {period_s:.0} s \
                 ({extra_ms:.1} ms each); lowering Salve's quality does not help. Raise the host \
                 buffer to {} samples, or close other busy programs.",
                bigger(block)
            ),
            Recommendation::OverloadAtMinimal { block } => format!(
                "Salve is over its time budget even at its lowest quality. Raise the host buffer \
                 to {} samples, or freeze this track.",
                bigger(block)
            ),
            Recommendation::HostDropouts { per_minute, block } => format!(
                "The host's audio is dropping out ({per_minute:.0} per minute) while Salve's own \
                 load is low. Raise the host buffer to {} samples.",
                bigger(block)
            ),
            Recommendation::RepeatedInvalidAudio => "Salve's processing produced invalid audio \
                 repeatedly and is playing it safe (clean signal, same latency). It retries \
                 on its own; if this keeps happening, choose another curve and report it."
                .to_owned(),
        }
    }

    pub(super) fn same_kind(&self, other: &Recommendation) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}
