//! The audio thread's end of the visualizer's feed: the output, summed to mono, pushed into a
//! wait-free ring while the editor shows the visualizer. The analysis runs on the GUI thread
//! ([`crate::editor::visualizer::Analyzer`]).

/// Samples the ring holds (about 0.34 s at 48 kHz).
pub const TAP_CAPACITY: usize = 16_384;

/// The audio thread's end: pushes the output (mono sum) while the editor shows it.
pub struct Tap {
    producer: rtrb::Producer<f32>,
}

impl Tap {
    /// A tap and the GUI's end of its ring. Allocates: call off the audio thread.
    pub fn new() -> (Self, rtrb::Consumer<f32>) {
        let (producer, consumer) = rtrb::RingBuffer::new(TAP_CAPACITY);
        (Self { producer }, consumer)
    }

    /// Pushes what fits of `left` (+ `right`) as mono when `wanted`; drops the rest. Wait-free,
    /// no allocation.
    pub fn push(&mut self, wanted: bool, left: &[f32], right: Option<&[f32]>) {
        if !wanted {
            return;
        }
        let n = left.len().min(self.producer.slots());
        if n == 0 {
            return;
        }
        if let Ok(chunk) = self.producer.write_chunk_uninit(n) {
            let it = (0..n).map(|i| match right {
                Some(r) => 0.5 * (left[i] + r[i]),
                None => left[i],
            });
            chunk.fill_from_iter(it);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_drops_instead_of_waiting() {
        let (mut tap, consumer) = Tap::new();
        let block = vec![0.1f32; 4096];
        for _ in 0..10 {
            tap.push(true, &block, None);
        }
        assert_eq!(consumer.slots(), TAP_CAPACITY);
    }
}
