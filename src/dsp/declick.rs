//! The engine's one way to change something without a click: a linear gain from 0 to 1 over a
//! fixed number of samples, after an optional wait at 0. A tier switch fades the new tier in over
//! the old one after letting it settle, a curve change fades one curve into the other, and a
//! restart fades the output in from silence; all three are a [`Declicker`].
//!
//! The gain of the `k`-th sample of the fade is `k / len` (0 for the first), and 1 once `len`
//! samples have passed. Real-time safe: plain arithmetic on the caller's thread.

/// Where one fade stands. `Copy`, so a chunk's processing can read a snapshot of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declicker {
    /// Samples still to pass at gain 0 before the fade starts.
    wait: usize,
    /// Samples of the fade done.
    pos: usize,
    /// The fade's length in samples (at least 1).
    len: usize,
}

impl Declicker {
    /// No fade: gain 1.
    pub const SETTLED: Self = Self {
        wait: 0,
        pos: 1,
        len: 1,
    };

    /// A fade over `len` samples (at least 1) after `wait` samples at gain 0.
    pub fn start(wait: usize, len: usize) -> Self {
        Self {
            wait,
            pos: 0,
            len: len.max(1),
        }
    }

    /// Samples still to pass at gain 0.
    #[inline]
    pub fn waiting(&self) -> usize {
        self.wait
    }

    /// Whether the fade is over (gain 1 from now on).
    #[inline]
    pub fn is_settled(&self) -> bool {
        self.wait == 0 && self.pos >= self.len
    }

    /// The gain of the next sample; steps past it.
    #[inline]
    pub fn next_gain(&mut self) -> f32 {
        if self.wait > 0 {
            self.wait -= 1;
            return 0.0;
        }
        if self.pos >= self.len {
            return 1.0;
        }
        let g = self.pos as f32 / self.len as f32;
        self.pos += 1;
        g
    }

    /// The gain `i` samples ahead, without stepping (for a loop that reads a snapshot; step
    /// with [`Declicker::skip`] afterwards).
    #[inline]
    pub fn gain_at(&self, i: usize) -> f32 {
        if i < self.wait {
            return 0.0;
        }
        let k = self.pos + (i - self.wait);
        (k as f32 / self.len as f32).min(1.0)
    }

    /// Steps past `n` samples.
    #[inline]
    pub fn skip(&mut self, n: usize) {
        let waited = n.min(self.wait);
        self.wait -= waited;
        self.pos = (self.pos + (n - waited)).min(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fade_rises_linearly_from_zero_to_one_after_its_wait() {
        let mut d = Declicker::start(2, 4);
        let gains: Vec<f32> = (0..8).map(|_| d.next_gain()).collect();
        assert_eq!(gains, [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
        assert!(d.is_settled());
    }

    #[test]
    fn reading_ahead_and_skipping_matches_stepping() {
        for (wait, len) in [(0, 1), (0, 240), (3, 5), (70, 64), (128, 480)] {
            let mut stepped = Declicker::start(wait, len);
            let mut skipped = Declicker::start(wait, len);
            // Chunks of uneven sizes, as a host's blocks are.
            for n in [1, 64, 17, 64, 200, 64, 3, 500] {
                let ahead: Vec<f32> = (0..n).map(|i| skipped.gain_at(i)).collect();
                let steps: Vec<f32> = (0..n).map(|_| stepped.next_gain()).collect();
                assert_eq!(ahead, steps, "wait {wait}, len {len}");
                skipped.skip(n);
                assert_eq!(skipped, stepped);
            }
            assert!(stepped.is_settled());
        }
    }

    #[test]
    fn settled_is_unity_and_a_zero_length_fade_is_one_sample() {
        let mut d = Declicker::SETTLED;
        assert!(d.is_settled());
        assert_eq!((d.next_gain(), d.gain_at(5)), (1.0, 1.0));
        let mut d = Declicker::start(0, 0);
        assert!(!d.is_settled());
        assert_eq!((d.next_gain(), d.next_gain()), (0.0, 1.0));
    }

    #[test]
    fn the_gain_never_falls_and_never_leaves_zero_to_one() {
        let mut d = Declicker::start(5, 37);
        let mut last = 0.0;
        for _ in 0..100 {
            let g = d.next_gain();
            assert!((0.0..=1.0).contains(&g) && g >= last);
            last = g;
        }
    }
}
