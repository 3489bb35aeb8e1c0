//! The fixed-size record the probe publishes for every block.

use super::events::Events;

/// What happened in one `process()` call. `Copy` and fixed-size, so it moves through the
/// wait-free ring without allocating.
///
/// One cache line, aligned to one: with hundreds of instances playing, each push into a ring
/// writes a line the audio thread's core does not hold (the fleet thread read it last), and
/// the fleet thread reads each line from the audio thread's core. At 80 bytes a record spread
/// over two lines more often than not.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(align(64))]
pub struct BlockRecord {
    /// Running number of the block since activation.
    pub seq: u64,
    /// When the callback started, on the probe's clock (ns).
    pub start_ns: u64,
    /// How long Salve's processing took (ns; at most about 4.3 s, which no call takes that
    /// plays).
    pub elapsed_ns: u32,
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
    /// The transport position at the block start, [`NO_POSITION`] when the host gives none (an
    /// `Option` takes 8 bytes more).
    pub transport_pos: i64,
    pub events: Events,
    /// A tag of the calling thread (see [`super::cycle::thread_tag`]).
    pub thread: u64,
}

/// [`BlockRecord::transport_pos`] when the host gives no position.
pub const NO_POSITION: i64 = i64::MIN;

const _: () = assert!(std::mem::size_of::<BlockRecord>() == 64);

impl Default for BlockRecord {
    fn default() -> Self {
        Self {
            seq: 0,
            start_ns: 0,
            elapsed_ns: 0,
            deadline_ns: 0,
            samples: 0,
            sample_rate: 0.0,
            load: 0.0,
            ratio: 0,
            peak: 0.0,
            transport_pos: NO_POSITION,
            events: Events::default(),
            thread: 0,
        }
    }
}
