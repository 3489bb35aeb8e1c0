//! The fixed-size record the probe publishes for every block.

use super::events::Events;

/// What happened in one `process()` call. `Copy` and fixed-size, so it moves through the
/// wait-free ring without allocating.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockRecord {
    /// Running number of the block since activation.
    pub seq: u64,
    /// When the callback started, on the probe's clock (ns).
    pub start_ns: u64,
    /// How long Salve's processing took (ns).
    pub elapsed_ns: u64,
    /// The block's duration, its deadline (ns); 0 for offline blocks.
    pub deadline_ns: u64,
    pub samples: u32,
    pub sample_rate: f32,
    /// `elapsed / deadline`; 0 for offline blocks.
    pub load: f32,
    /// The oversampling ratio heard (1..=16), 0 for safe mode (the safe path).
    pub ratio: u8,
    /// The largest output sample.
    pub peak: f32,
    /// The transport position at the block start, when the host gives one.
    pub transport_pos: Option<i64>,
    pub events: Events,
    /// From the host cycle's estimated wake-up to this call's start: the work done before
    /// Salve in this cycle (ns; 0 offline). See [`super::cycle`].
    pub wait_ns: u64,
    /// Whole periods since the previous call (1 steady, 2 or more after missed cycles, 0 within
    /// a burst or for the first call).
    pub cycles: u32,
    /// Whether the host calls about once a period, so that `wait_ns` is a position in a cycle.
    pub regular: bool,
    /// A tag of the calling thread (see [`super::cycle::thread_tag`]).
    pub thread: u64,
}

impl BlockRecord {
    /// The time left in the cycle after Salve's call: deadline - wait - busy (ns; negative when
    /// the cycle overran before Salve finished). 0 offline.
    pub fn slack_ns(&self) -> i64 {
        if self.deadline_ns == 0 {
            return 0;
        }
        self.deadline_ns as i64 - self.wait_ns as i64 - self.elapsed_ns as i64
    }
}
