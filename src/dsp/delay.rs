//! A fixed-capacity delay line: the padding that gives every oversampling tier the same latency.

use super::halfband::Lanes;

/// A delay of a fixed number of samples, up to `CAP - 1` (`CAP` a power of two). Its memory is
/// inline, so it never allocates.
#[derive(Clone, Copy)]
pub struct Delay<const CAP: usize> {
    buf: [Lanes; CAP],
    write: usize,
    delay: usize,
}

impl<const CAP: usize> Delay<CAP> {
    /// A delay of `delay` samples, clamped to the capacity.
    pub fn new(delay: usize) -> Self {
        assert!(CAP.is_power_of_two());
        Self {
            buf: [[0.0; 2]; CAP],
            write: 0,
            delay: delay.min(CAP - 1),
        }
    }

    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Delays `data` in place.
    #[inline]
    pub fn process(&mut self, data: &mut [Lanes]) {
        if self.delay == 0 {
            return;
        }
        for x in data {
            self.buf[self.write] = *x;
            *x = self.buf[(self.write + CAP - self.delay) & (CAP - 1)];
            self.write = (self.write + 1) & (CAP - 1);
        }
    }

    pub fn reset(&mut self) {
        self.buf = [[0.0; 2]; CAP];
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
    fn zero_delay_is_identity() {
        let mut d = Delay::<4>::new(0);
        let mut data = [[1.0, 2.0]];
        d.process(&mut data);
        assert_eq!(data, [[1.0, 2.0]]);
    }
}
