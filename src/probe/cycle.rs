//! Where a `process()` call lands in the host's cycle, estimated from inside one plugin instance.
//!
//! The audio driver wakes the host's thread once per period P; the host runs its graph; Salve's
//! call starts `wait` after the wake-up (the work done before Salve in this cycle), runs for
//! `busy`, and leaves `slack = P - wait - busy` before the next wake-up.
//!
//! A plugin sees only its own calls, so the wake-up is inferred. The call starts, less whole
//! periods, form a cloud whose lower edge is the wake-up plus the least work ever done before
//! this instance; [`CycleEstimator`] follows that edge. It counts the periods between calls from
//! the gap (a late call after a missed cycle counts two), snaps the edge down to any call that
//! starts earlier than it, and lets it rise by [`DRIFT_PER_CYCLE`] of a period per cycle, which
//! tracks an audio clock slower than the CPU's (crystals differ by up to about 100 ppm).
//!
//! What the figures prove, and what they cannot:
//! - `wait` is exact up to the least wait seen since the edge last snapped (the work before
//!   Salve in the emptiest cycle), plus the drift allowance since then. Measured against known
//!   schedules (`tests.rs`: other work before Salve uniform between 1 % and 70 % of the cycle,
//!   the audio clock 0 or ±80 ppm off, a missed cycle): the worst error over 20,000 cycles is
//!   2.2 % to 5.0 % of the cycle, the larger when the audio clock runs fast.
//! - Work after Salve in the cycle is invisible: only dropouts (a call two periods late, a
//!   transport jump) show it.
//! - Hosts that render ahead of real time or call in bursts (ASIO-Guard style) have no wake-up
//!   per call: several calls land in one "cycle" and `wait` includes Salve's own earlier calls.
//!   [`CycleEstimator::regular`] says whether the host calls once a period.
//! - A host that runs plugins on several threads has one cycle per thread; the record carries a
//!   tag of the calling thread so that they are told apart.
//!
//! The same record of gaps judges callback gaps: a gap counts when it exceeds
//! [`ProbeConfig::gap_min_periods`](super::ProbeConfig) and is not the host's rhythm, that is,
//! no more than 5 % of the last [`RHYTHM_LEN`] gaps were as long (over `gap_factor`). So a
//! regular host that misses one period is told at once, and a missed period never becomes the
//! norm, while a host that calls in bursts is judged against its own bursts.

/// How far the estimated wake-up may rise per cycle, as a share of the period (100 ppm).
pub const DRIFT_PER_CYCLE: f64 = 1e-4;
/// A call this share of a period before the predicted wake-up still belongs to that cycle (the
/// estimate had drifted late); waits up to `1 - EARLY_SHARE` of a period are told exactly.
const EARLY_SHARE: f64 = 0.1;
/// How many recent gaps make the host's rhythm.
pub const RHYTHM_LEN: usize = 64;
/// A gap this short (in periods) is a call back to back with the previous one: a burst.
const BURST_GAP: f32 = 0.5;

/// The cycle position of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CyclePosition {
    /// From the estimated wake-up to the call's start (ns).
    pub wait_ns: u64,
    /// Whole periods since the previous call (1 in a steady stream, 2 after a missed cycle, 0
    /// within a burst); 0 for the first call of a stream.
    pub cycles: u32,
    /// The gap since the previous call over the previous block's duration (0 for the first).
    pub gap_ratio: f32,
}

/// Follows the host's cycle from the start times of one instance's calls. Wait-free and
/// allocation-free: a few floating-point operations per call.
#[derive(Debug, Clone, Copy)]
pub struct CycleEstimator {
    /// The estimated wake-up of the current cycle (ns, on the probe's clock).
    wake_ns: f64,
    previous_start_ns: Option<u64>,
    /// The last gap ratios (in periods), a ring.
    gaps: [f32; RHYTHM_LEN],
    next: usize,
    filled: usize,
    /// How many of them are bursts (shorter than [`BURST_GAP`]).
    bursts: usize,
}

impl Default for CycleEstimator {
    fn default() -> Self {
        Self {
            wake_ns: 0.0,
            previous_start_ns: None,
            gaps: [0.0; RHYTHM_LEN],
            next: 0,
            filled: 0,
            bursts: 0,
        }
    }
}

impl CycleEstimator {
    /// Starts over (a new stream: activation, reset, a new block size or rate).
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// Whether gaps of `ratio` periods are part of the host's rhythm: more than 5 % of the
    /// recent gaps (this one not counted) were longer. Scans the ring: call it only for a gap
    /// that would otherwise count.
    pub fn is_rhythm(&self, ratio: f32) -> bool {
        let earlier = self.filled.saturating_sub(1);
        let newest = (self.next + RHYTHM_LEN - 1) % RHYTHM_LEN;
        let longer = (0..self.filled)
            .filter(|&i| i != newest && self.gaps[i] > ratio)
            .count();
        longer * 20 > earlier
    }

    /// Whether the host calls about once a period (at most 5 % of its recent calls come back to
    /// back): only then is `wait` a position in a cycle.
    pub fn regular(&self) -> bool {
        self.bursts * 20 <= self.filled
    }

    /// A call starting at `start_ns`, one period (`period_ns`) after the previous block's start
    /// in a steady stream; `previous_block_ns` is the previous block's duration.
    #[inline]
    pub fn observe(
        &mut self,
        start_ns: u64,
        period_ns: f64,
        previous_block_ns: f64,
    ) -> CyclePosition {
        let Some(previous) = self.previous_start_ns.replace(start_ns) else {
            self.wake_ns = start_ns as f64;
            return CyclePosition::default();
        };
        let gap = start_ns.saturating_sub(previous) as f64;
        let gap_ratio = (gap / previous_block_ns.max(1.0)) as f32;
        // The cycle this call is in, counted from the previous call's wake-up: a call starts
        // between its wake-up and the next one, so whole periods since that wake-up tell (a
        // call a little before the predicted wake-up belongs to it: the edge then snaps down).
        let period = period_ns.max(1.0) * (1.0 + DRIFT_PER_CYCLE);
        let since_wake = start_ns as f64 - self.wake_ns;
        let cycles = (since_wake / period + EARLY_SHARE).floor().max(0.0);
        self.wake_ns += cycles * period;
        let start = start_ns as f64;
        if start < self.wake_ns {
            self.wake_ns = start;
        }
        if gap_ratio.is_finite() {
            if self.filled == RHYTHM_LEN && self.gaps[self.next] < BURST_GAP {
                self.bursts -= 1;
            }
            self.gaps[self.next] = gap_ratio;
            self.bursts += (gap_ratio < BURST_GAP) as usize;
            self.next = (self.next + 1) % RHYTHM_LEN;
            self.filled = (self.filled + 1).min(RHYTHM_LEN);
        }
        CyclePosition {
            wait_ns: (start - self.wake_ns) as u64,
            cycles: cycles.min(u32::MAX as f64) as u32,
            gap_ratio,
        }
    }
}

/// A tag of the calling OS thread: the address of a thread-local, distinct for every live
/// thread, read without a system call or an allocation.
#[inline]
pub fn thread_tag() -> u64 {
    thread_local! {
        static TAG: u8 = const { 0 };
    }
    TAG.with(|t| t as *const u8 as u64)
}
