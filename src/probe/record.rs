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
    /// A tag of the calling thread (see [`super::cycle::thread_tag`]).
    pub thread: u64,
}
