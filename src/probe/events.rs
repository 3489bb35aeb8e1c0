//! What the probe can notice about a block, and what each observation can and cannot prove.

/// One kind of event. The doc comment of each says what it proves and what it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// Salve's own processing took longer than the block's duration (load > 1). Proves Salve
    /// alone would have missed a deadline had the host left it the whole budget; it cannot tell
    /// whether the host actually dropped audio (hosts keep reserve and run other plugins).
    Overrun,
    /// Load above the near-miss threshold (default 0.8) without an overrun: a warning sign, not
    /// a fault.
    NearMiss,
    /// The time between two callback starts was much longer than the previous block's duration
    /// while the host had been calling at a steady pace. Proves the thread calling Salve was late
    /// (stalled or overloaded); it cannot prove an audible dropout (the host may have buffers to
    /// spare) nor say who was slow.
    CallbackGap,
    /// A playing transport moved forward by about the time the host fell behind, instead of by
    /// one block: the host skipped audio to catch up with the clock. Jumps that do not match the
    /// lost time are seeks; jumps back to the loop start are loops; neither is counted here.
    TransportJump,
    /// The block length differs from the previous one. Many hosts do this legitimately (splitting
    /// blocks at automation points); it only matters to the healer as a change of conditions.
    BlockSizeChange,
    /// The sample rate differs from the previous activation's.
    SampleRateChange,
    /// An offline (non-realtime) block: there is no deadline, so its time is not a load.
    Offline,
    /// The DSP produced NaN or infinity. The block was replaced by silence, the DSP state reset
    /// and the sound faded back in: the "restart component" recovery.
    NonFinite,
    /// More than a quarter of the block's input samples were subnormal: the kind of signal that
    /// makes unprotected DSP slow. Salve flushes them, so it proves only that they arrived.
    DenormalStorm,
    /// The output's DC offset has stayed above -26 dBFS: a curve or input is pushing the signal
    /// off-centre for longer than the DC blocker's time constant.
    DcDrift,
    /// The safety limiter caught output above +6 dBFS in this block.
    Limiter,
    /// Salve's processing panicked. The block was silenced, the DSP reset and safe processing
    /// switched on; the host kept running.
    Panic,
}

impl EventKind {
    /// Every kind, in bit order.
    pub const ALL: [EventKind; 12] = [
        EventKind::Overrun,
        EventKind::NearMiss,
        EventKind::CallbackGap,
        EventKind::TransportJump,
        EventKind::BlockSizeChange,
        EventKind::SampleRateChange,
        EventKind::Offline,
        EventKind::NonFinite,
        EventKind::DenormalStorm,
        EventKind::DcDrift,
        EventKind::Limiter,
        EventKind::Panic,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// A stable name for logs and tools (the chaos runner reads these); never reworded, unlike
    /// [`EventKind::label`].
    pub fn id(self) -> &'static str {
        match self {
            EventKind::Overrun => "overrun",
            EventKind::NearMiss => "near_miss",
            EventKind::CallbackGap => "callback_gap",
            EventKind::TransportJump => "transport_jump",
            EventKind::BlockSizeChange => "block_size_change",
            EventKind::SampleRateChange => "sample_rate_change",
            EventKind::Offline => "offline",
            EventKind::NonFinite => "non_finite",
            EventKind::DenormalStorm => "denormal_storm",
            EventKind::DcDrift => "dc_drift",
            EventKind::Limiter => "limiter",
            EventKind::Panic => "panic",
        }
    }

    /// A short name for reports and the health panel.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Overrun => "overrun",
            EventKind::NearMiss => "near miss",
            EventKind::CallbackGap => "callback gap",
            EventKind::TransportJump => "transport jump",
            EventKind::BlockSizeChange => "block size change",
            EventKind::SampleRateChange => "sample rate change",
            EventKind::Offline => "offline block",
            EventKind::NonFinite => "NaN/Inf restart",
            EventKind::DenormalStorm => "denormal storm",
            EventKind::DcDrift => "DC drift",
            EventKind::Limiter => "limiter",
            EventKind::Panic => "panic",
        }
    }
}

/// A set of [`EventKind`]s, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Events(pub u16);

impl Events {
    pub fn insert(&mut self, kind: EventKind) {
        self.0 |= 1 << kind as u8;
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set.
    pub fn iter(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_bit_order_and_fit() {
        for (i, k) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        const { assert!(EventKind::COUNT <= 16) };
    }

    #[test]
    fn every_kind_has_its_own_id() {
        let ids: std::collections::BTreeSet<&str> = EventKind::ALL.iter().map(|k| k.id()).collect();
        assert_eq!(ids.len(), EventKind::COUNT);
        assert!(
            ids.iter()
                .all(|id| id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn set_holds_what_was_inserted() {
        let mut e = Events::default();
        assert!(e.is_empty());
        e.insert(EventKind::Overrun);
        e.insert(EventKind::Panic);
        assert!(e.contains(EventKind::Overrun) && e.contains(EventKind::Panic));
        assert!(!e.contains(EventKind::NearMiss));
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            [EventKind::Overrun, EventKind::Panic]
        );
    }
}
