//! The floor under a run of window lows: the line that lies below every low and closest to them
//! on the whole (the least sum of their heights above it), which is the drift between the audio
//! clock and the CPU's. Used by [`super::cycle::CycleEstimator`] off the audio thread.
//!
//! A window's low is the least-delayed call of a few hundred, so it lies a hair above the floor,
//! never below it; but a slow patch of the machine lifts a whole window's calls, and its low
//! then lies far above (0.5 % to 1 % of the period). A line through a run's first and last lows,
//! or a least-squares line, tilts with such a low; the line below every low does not, unless the
//! low is the first or the last. Its slope is off by about the two lows' height above the true
//! floor over the cycles between them, and the lows' mean height tells how far that is.
//!
//! Fixed capacity, no allocation: the lower hull of the lows (which holds the line) is kept, and
//! their count and sums; a hull that grows past [`HULL_CAPACITY`] vertices (which lows with
//! one-sided noise do not make) loses its second one.

/// The most vertices of the lower hull kept.
pub const HULL_CAPACITY: usize = 8;

/// The floor line found under a run of lows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// The line's slope (the drift, in the lows' units of place per cycle).
    pub slope: f64,
    /// The lows' mean height above the line.
    pub height: f64,
    /// Cycles between the two lows the line passes through: its slope is off by their heights
    /// above the true floor over that.
    pub base: f64,
}

/// A run of lows, in the order of their cycles, and the floor line under them.
#[derive(Debug, Clone, Copy)]
pub struct FloorFit {
    /// The first low: the others are kept relative to it.
    origin: (f64, f64),
    /// The lower hull's vertices, left to right (relative to `origin`).
    hull: [(f64, f64); HULL_CAPACITY],
    hull_len: usize,
    count: u32,
    /// The sums of the lows' cycles and places (relative), and the last low.
    sum_x: f64,
    sum_y: f64,
    last: (f64, f64),
}

impl Default for FloorFit {
    fn default() -> Self {
        Self {
            origin: (0.0, 0.0),
            hull: [(0.0, 0.0); HULL_CAPACITY],
            hull_len: 0,
            count: 0,
            sum_x: 0.0,
            sum_y: 0.0,
            last: (0.0, 0.0),
        }
    }
}

impl FloorFit {
    /// Forgets the run.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// How many lows the run has.
    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The run's last low (cycle, place), as pushed.
    pub fn last(&self) -> (f64, f64) {
        (self.origin.0 + self.last.0, self.origin.1 + self.last.1)
    }

    /// Cycles from the run's first low to its last.
    pub fn span(&self) -> f64 {
        self.last.0
    }

    /// The slope from the first low to the last (0 before two).
    pub fn chord(&self) -> f64 {
        if self.last.0 > 0.0 {
            self.last.1 / self.last.0
        } else {
            0.0
        }
    }

    /// Adds the low of cycle `x` at place `y`; `x` grows from one low to the next.
    pub fn push(&mut self, x: f64, y: f64) {
        if self.count == 0 {
            self.origin = (x, y);
        }
        let p = (x - self.origin.0, y - self.origin.1);
        self.count += 1;
        self.sum_x += p.0;
        self.sum_y += p.1;
        self.last = p;
        // The lower hull: the last vertex goes while it does not turn up on the way to `p`.
        let h = &mut self.hull;
        while self.hull_len >= 2 {
            let (o, a) = (h[self.hull_len - 2], h[self.hull_len - 1]);
            let turn = (a.0 - o.0) * (p.1 - o.1) - (a.1 - o.1) * (p.0 - o.0);
            if turn > 0.0 {
                break;
            }
            self.hull_len -= 1;
        }
        if self.hull_len == HULL_CAPACITY {
            h.copy_within(2..HULL_CAPACITY, 1);
            self.hull_len -= 1;
        }
        h[self.hull_len] = p;
        self.hull_len += 1;
    }

    /// The line below every low with the least sum of heights above it: the hull's edge over
    /// the lows' mean cycle (the sum is the count times the height there). `None` before two
    /// lows in different cycles.
    pub fn fit(&self) -> Option<Fit> {
        if self.hull_len < 2 {
            return None;
        }
        let n = self.count as f64;
        let mean_x = self.sum_x / n;
        let edges = &self.hull[..self.hull_len];
        let (a, b) = edges
            .windows(2)
            .map(|w| (w[0], w[1]))
            .find(|(_, b)| b.0 >= mean_x)
            .unwrap_or((edges[self.hull_len - 2], edges[self.hull_len - 1]));
        // (Two lows in one cycle: no slope to divide by.)
        let base = Some(b.0 - a.0).filter(|&base| base > 0.0)?;
        let slope = (b.1 - a.1) / base;
        let at_mean = a.1 + slope * (mean_x - a.0);
        Some(Fit {
            slope,
            height: (self.sum_y / n - at_mean).max(0.0),
            base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lows on the line `y = 0.3 + slope * x`, each a little above it, every 256 cycles.
    fn lows(slope: f64, heights: &[f64]) -> FloorFit {
        let mut fit = FloorFit::default();
        for (i, h) in heights.iter().enumerate() {
            let x = 1000.0 + 256.0 * i as f64;
            fit.push(x, 0.3 + slope * x + h);
        }
        fit
    }

    #[test]
    fn lows_on_a_line_give_its_slope() {
        let fit = lows(3e-5, &[0.0; 10]).fit().unwrap();
        assert!((fit.slope - 3e-5).abs() < 1e-12, "{fit:?}");
        assert!(fit.height < 1e-12);
    }

    #[test]
    fn a_low_lifted_by_a_slow_patch_does_not_tilt_the_floor() {
        // Lows 0-0.02 % above the floor, one of them 1.2 % above (a slow patch of the machine):
        // a line through the first and last lows, or least squares, would tilt with it.
        let heights = [
            1e-4, 0.5e-4, 0.012, 2e-4, 0.2e-4, 1.5e-4, 0.8e-4, 0.1e-4, 1e-4, 0.6e-4,
        ];
        for slope in [0.0, 8e-5, -8e-5] {
            let fit = lows(slope, &heights).fit().unwrap();
            // The slope is off by the lows' heights over the run: 2e-4 over 2300 cycles.
            assert!((fit.slope - slope).abs() < 1e-7, "{slope}: {fit:?}");
            // The mean height shows the lifted low (a tenth of it).
            assert!((0.0012..0.0015).contains(&fit.height), "{fit:?}");
        }
    }

    #[test]
    fn one_low_gives_no_line() {
        assert!(lows(0.0, &[0.0]).fit().is_none());
        assert!(FloorFit::default().fit().is_none());
        // Nor two in one cycle: no slope to divide by.
        let mut same = FloorFit::default();
        same.push(1000.0, 0.3);
        same.push(1000.0, 0.2);
        assert!(same.fit().is_none());
    }

    #[test]
    fn a_long_run_keeps_its_line_in_a_bounded_hull() {
        // Lows on a slightly convex curve make every one a hull vertex: the hull is capped and
        // the line stays close to the curve's slope in the middle.
        let mut fit = FloorFit::default();
        for i in 0..200 {
            let x = 256.0 * i as f64;
            fit.push(x, 1e-5 * x + 1e-12 * (x - 25_600.0).powi(2));
        }
        assert!(fit.hull_len <= HULL_CAPACITY);
        let f = fit.fit().unwrap();
        assert!((f.slope - 1e-5).abs() < 2e-8, "{f:?}");
    }
}
