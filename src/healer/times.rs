//! A small fixed ring of timestamps, for counting recent events without allocating.

/// A small fixed ring of timestamps.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Times {
    pub(super) t: [f64; 16],
    pub(super) len: usize,
    pub(super) head: usize,
}

impl Times {
    pub(super) fn push(&mut self, at: f64) {
        self.t[self.head] = at;
        self.head = (self.head + 1) % self.t.len();
        self.len = (self.len + 1).min(self.t.len());
    }

    pub(super) fn count_since(&self, since: f64) -> usize {
        self.t[..self.len].iter().filter(|&&t| t >= since).count()
    }

    pub(super) fn latest(&self) -> Option<f64> {
        (self.len > 0).then(|| self.t[(self.head + self.t.len() - 1) % self.t.len()])
    }
}
