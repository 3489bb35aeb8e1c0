//! Time for the probe: a small trait so that tests drive a virtual clock and production reads the
//! CPU's monotonic time-stamp counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonic clock in nanoseconds. Reading it must be wait-free and must not allocate.
pub trait Clock: Send + 'static {
    fn now_ns(&self) -> u64;
}

/// The production clock: quanta reads the invariant TSC where the CPU has one (a few
/// nanoseconds, no system call) and falls back to the OS monotonic clock elsewhere. Clones share
/// one origin: a plugin instance makes one and hands clones to its probe and its healer, so that
/// its time never goes backwards across re-activations.
///
/// Every instance's clock counts from its own creation, on one process-wide time base (one
/// calibration, one origin), so that the fleet can put all instances' blocks on one time line:
/// [`MonotonicClock::process_offset_ns`].
#[derive(Clone)]
pub struct MonotonicClock {
    clock: quanta::Clock,
    /// The raw reading at this clock's zero.
    base: u64,
    /// Nanoseconds per 2^[`SCALE_SHIFT`] raw ticks: quanta's calibration, taken once so that a
    /// reading is one multiplication, inline, with no branch on the kind of counter.
    scale: u64,
    /// When this clock started, in ns since the process-wide origin.
    offset_ns: u64,
}

/// The scale's fixed point: 2^40 ticks are minutes of a GHz counter, so the scale is exact to a
/// few parts in 10^12 (and exactly 2^40 where quanta falls back to a clock in nanoseconds).
const SCALE_SHIFT: u32 = 40;

impl MonotonicClock {
    /// The first call calibrates the process-wide clock (a few milliseconds): call it off the
    /// audio thread.
    pub fn new() -> Self {
        static PROCESS: std::sync::OnceLock<(quanta::Clock, u64)> = std::sync::OnceLock::new();
        let (clock, origin) = PROCESS.get_or_init(|| {
            let clock = quanta::Clock::new();
            let origin = clock.raw();
            (clock, origin)
        });
        let base = clock.raw();
        Self {
            clock: clock.clone(),
            base,
            scale: clock.delta_as_nanos(0, 1 << SCALE_SHIFT),
            offset_ns: clock.delta_as_nanos(*origin, base),
        }
    }

    /// Where this clock's zero lies on the process-wide time line (ns).
    pub fn process_offset_ns(&self) -> u64 {
        self.offset_ns
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        let ticks = self.clock.raw().saturating_sub(self.base);
        ((ticks as u128 * self.scale as u128) >> SCALE_SHIFT) as u64
    }
}

/// A clock that only moves when told to: tests share one handle with the code under test and
/// advance it to simulate processing time and callback gaps.
#[derive(Clone, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance_ns(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::Relaxed);
    }

    pub fn set_ns(&self, ns: u64) {
        self.0.store(ns, Ordering::Relaxed);
    }
}

impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_back() {
        let clock = MonotonicClock::new();
        let mut last = clock.now_ns();
        for _ in 0..10_000 {
            let now = clock.now_ns();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn virtual_clock_moves_only_when_told() {
        let clock = VirtualClock::new();
        let shared = clock.clone();
        assert_eq!(clock.now_ns(), 0);
        shared.advance_ns(1_500);
        assert_eq!(clock.now_ns(), 1_500);
        shared.set_ns(10);
        assert_eq!(clock.now_ns(), 10);
    }
}
