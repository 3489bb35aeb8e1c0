//! A fixed-capacity delay line: the padding that gives every oversampling tier the same latency.

use super::halfband::Lanes;

/// A delay of a fixed number of samples, up to `CAP - 1`. Its memory is inline, so it never
/// allocates.
///
/// It works on whole blocks: the block moves up by the delay in place and the samples kept from
/// the last block fill the gap. Two block copies cost less than a ring buffer's per-sample index
/// arithmetic, which at 16x runs a thousand times a block.
#[derive(Clone, Copy)]
pub struct Delay<const CAP: usize> {
    /// The last `delay` input samples, oldest first.
    held: [Lanes; CAP],
    delay: usize,
}

impl<const CAP: usize> Delay<CAP> {
    /// A delay of `delay` samples, clamped to the capacity.
    pub fn new(delay: usize) -> Self {
        Self {
            held: [[0.0; 2]; CAP],
            delay: delay.min(CAP - 1),
        }
    }

    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Delays `data` in place.
    #[inline]
    pub fn process(&mut self, data: &mut [Lanes]) {
        let (d, n) = (self.delay, data.len());
        if d == 0 {
            return;
        }
        let held = &mut self.held[..d];
        if n >= d {
            // The block's last `d` samples are held for the next block; the rest moves up.
            let mut last = [[0.0f32; 2]; CAP];
            last[..d].copy_from_slice(&data[n - d..]);
            data.copy_within(..n - d, d);
            data[..d].copy_from_slice(held);
            held.copy_from_slice(&last[..d]);
        } else {
            // A block shorter than the delay: it takes the oldest held samples and joins the
            // newest end of what is held.
            for x in data.iter_mut() {
                let out = held[0];
                held.copy_within(1.., 0);
                held[d - 1] = *x;
                *x = out;
            }
        }
    }

    /// Delays the `len` samples at `buf[start..]` without moving them: the samples held from the
    /// last call go just before them, and the delayed block is `buf[start - delay..]`, `len`
    /// long. Two copies of `delay` samples, where [`Delay::process`] moves the whole block.
    /// Needs `start` of at least the delay; `len` may be anything.
    #[inline]
    pub fn process_in_front(&mut self, buf: &mut [Lanes], start: usize, len: usize) {
        let d = self.delay;
        if d == 0 {
            return;
        }
        // The held samples go in front, then the last `d` of held-and-block are held: for a
        // block shorter than the delay they start among the held ones just put in front.
        buf[start - d..start].copy_from_slice(&self.held[..d]);
        self.held[..d].copy_from_slice(&buf[start + len - d..start + len]);
    }

    pub fn reset(&mut self) {
        self.held = [[0.0; 2]; CAP];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_the_given_samples_across_calls() {
        let mut d = Delay::<8>::new(3);
        let mut out = Vec::new();
        for chunk in (0..10).collect::<Vec<_>>().chunks(4) {
            let mut data: Vec<Lanes> = chunk.iter().map(|&i| [i as f32, -(i as f32)]).collect();
            d.process(&mut data);
            out.extend(data.iter().map(|l| l[0]));
        }
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn blocks_shorter_and_longer_than_the_delay_agree_with_a_plain_delay() {
        let input: Vec<f32> = (1..=200).map(|i| i as f32).collect();
        for delay in [1, 5, 15] {
            let mut d = Delay::<16>::new(delay);
            let mut out = Vec::new();
            let mut rest = &input[..];
            for len in [1, 3, 16, 2, 40, 7, 0, 15, 64, 5].iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*len).min(rest.len()));
                let mut data: Vec<Lanes> = now.iter().map(|&x| [x, -x]).collect();
                d.process(&mut data);
                out.extend(data.iter().map(|l| (l[0], l[1])));
                rest = later;
            }
            let expected: Vec<(f32, f32)> = (0..input.len())
                .map(|i| {
                    i.checked_sub(delay)
                        .map_or((0.0, 0.0), |j| (input[j], -input[j]))
                })
                .collect();
            assert_eq!(out, expected, "delay {delay}");
        }
    }

    #[test]
    fn delaying_in_front_agrees_with_moving_the_block() {
        let input: Vec<Lanes> = (1..=300).map(|i| [i as f32, -(i as f32)]).collect();
        let (mut moved, mut fronted) = (Delay::<16>::new(13), Delay::<16>::new(13));
        for block in input.chunks(30) {
            let mut a = block.to_vec();
            moved.process(&mut a);
            let mut buf = vec![[0.0; 2]; 16 + block.len()];
            buf[16..].copy_from_slice(block);
            fronted.process_in_front(&mut buf, 16, block.len());
            assert_eq!(a[..], buf[3..3 + block.len()]);
        }
    }

    #[test]
    fn delaying_in_front_takes_blocks_shorter_than_the_delay() {
        let input: Vec<Lanes> = (1..=300).map(|i| [i as f32, -(i as f32)]).collect();
        let (mut moved, mut fronted) = (Delay::<16>::new(13), Delay::<16>::new(13));
        let mut rest = &input[..];
        for len in [1, 3, 16, 2, 40, 7, 0, 15, 64, 12, 13, 14].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (block, later) = rest.split_at((*len).min(rest.len()));
            let mut a = block.to_vec();
            moved.process(&mut a);
            let mut buf = vec![[0.0; 2]; 16 + block.len()];
            buf[16..].copy_from_slice(block);
            fronted.process_in_front(&mut buf, 16, block.len());
            assert_eq!(a[..], buf[3..3 + block.len()], "a block of {len}");
            rest = later;
        }
    }

    #[test]
    fn zero_delay_is_identity() {
        let mut d = Delay::<4>::new(0);
        let mut data = [[1.0, 2.0]];
        d.process(&mut data);
        assert_eq!(data, [[1.0, 2.0]]);
    }
}
