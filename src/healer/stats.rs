//! Online statistics of the load: smoothed mean and variance, a trend, a decaying p99 and a
//! change detector. Each record costs a handful of arithmetic operations and no allocation.

/// Number of histogram bins over load 0..[`HIST_MAX`].
const BINS: usize = 64;
/// The histogram's top; loads above it land in the last bin.
const HIST_MAX: f32 = 2.0;

/// Statistics of the load ratio of realtime blocks, in time (seconds of audio), so that they do
/// not depend on the block size.
#[derive(Debug, Clone)]
pub struct LoadStats {
    /// Fast EWMA of the load (time constant [`Self::FAST_S`]).
    pub fast: f32,
    /// Slow EWMA of the load (time constant [`Self::SLOW_S`]).
    pub slow: f32,
    /// EW variance around the fast mean.
    pub var: f32,
    /// The histogram, in units of the weight a block had when `weight` was last 1.
    hist: [f32; BINS],
    hist_total: f32,
    /// The weight of a new block: it grows as the older ones decay, instead of every bin being
    /// scaled down at every block (64 multiplications a block, per instance, 50 times a second).
    weight: f32,
    /// Page-Hinkley statistic for an upward shift of the load.
    ph_sum: f32,
    ph_min: f32,
    /// Seconds of audio observed.
    pub seconds: f64,
    /// The per-block factors for blocks of `coefs.0` seconds: they take divisions, and the
    /// block duration seldom changes (the fleet thread observes thousands of blocks a tick).
    coefs: (f32, Coefs),
}

/// What a block of a given duration weighs in the averages and the histogram.
#[derive(Debug, Clone, Copy, Default)]
struct Coefs {
    a_fast: f32,
    a_slow: f32,
    /// How much more a new block weighs than the previous one (1 / the histogram's keep)...
    grow: f32,
    /// ...unless it is so long that the histogram starts over.
    forget_all: bool,
}

impl Coefs {
    fn for_block(seconds: f32) -> Self {
        let keep = 1.0 - (seconds / LoadStats::HIST_S).min(1.0);
        Self {
            a_fast: (seconds / LoadStats::FAST_S).min(1.0),
            a_slow: (seconds / LoadStats::SLOW_S).min(1.0),
            grow: keep.recip(),
            forget_all: keep < LoadStats::RESCALE.recip(),
        }
    }
}

impl Default for LoadStats {
    fn default() -> Self {
        Self {
            fast: 0.0,
            slow: 0.0,
            var: 0.0,
            hist: [0.0; BINS],
            hist_total: 0.0,
            weight: 1.0,
            ph_sum: 0.0,
            ph_min: 0.0,
            seconds: 0.0,
            coefs: (f32::NAN, Coefs::default()),
        }
    }
}

impl LoadStats {
    pub const FAST_S: f32 = 0.05;
    pub const SLOW_S: f32 = 0.5;
    /// The histogram forgets with this time constant.
    pub const HIST_S: f32 = 2.0;
    /// The histogram is rescaled when a new block weighs this much more than at the last rescale.
    const RESCALE: f32 = 1e6;
    /// Page-Hinkley tolerance and threshold (load units).
    const PH_DELTA: f32 = 0.05;
    const PH_LAMBDA: f32 = 0.5;

    /// Adds one block of `seconds` duration with the given load; returns whether the change
    /// detector fired (the load shifted up abruptly).
    pub fn observe(&mut self, load: f32, seconds: f32) -> bool {
        let load = if load.is_finite() {
            load.clamp(0.0, 10.0)
        } else {
            10.0
        };
        if self.seconds == 0.0 {
            self.fast = load;
            self.slow = load;
        }
        self.seconds += seconds as f64;
        if self.coefs.0 != seconds {
            self.coefs = (seconds, Coefs::for_block(seconds));
        }
        let Coefs {
            a_fast,
            a_slow,
            grow,
            forget_all,
        } = self.coefs.1;
        let d = load - self.fast;
        self.fast += a_fast * d;
        self.var = (1.0 - a_fast) * (self.var + a_fast * d * d);
        self.slow += a_slow * (load - self.slow);

        // Decay lazily: the new block's weight goes up instead of every bin's down; the bins are
        // brought back to scale once the weight is large (every few thousand blocks).
        if forget_all {
            self.hist = [0.0; BINS];
            self.hist_total = 0.0;
            self.weight = 1.0;
        } else {
            self.weight *= grow;
        }
        if self.weight > Self::RESCALE {
            let scale = self.weight.recip();
            for h in &mut self.hist {
                *h *= scale;
            }
            self.hist_total *= scale;
            self.weight = 1.0;
        }
        let bin = ((load / HIST_MAX) * BINS as f32) as usize;
        self.hist[bin.min(BINS - 1)] += self.weight;
        self.hist_total += self.weight;

        self.ph_sum += load - self.slow - Self::PH_DELTA;
        self.ph_min = self.ph_min.min(self.ph_sum);
        if self.ph_sum - self.ph_min > Self::PH_LAMBDA {
            self.ph_sum = 0.0;
            self.ph_min = 0.0;
            return true;
        }
        false
    }

    /// The load's trend in load units per second: the gap between the fast and slow averages,
    /// which for a linear ramp equals slope x (slow - fast time constants).
    pub fn trend(&self) -> f32 {
        (self.fast - self.slow) / (Self::SLOW_S - Self::FAST_S)
    }

    pub fn std_dev(&self) -> f32 {
        self.var.max(0.0).sqrt()
    }

    /// The 99th percentile of recent loads (upper edge of its bin).
    pub fn p99(&self) -> f32 {
        if self.hist_total <= 0.0 {
            return 0.0;
        }
        let target = self.hist_total * 0.99;
        let mut acc = 0.0;
        for (i, h) in self.hist.iter().enumerate() {
            acc += h;
            if acc >= target {
                return (i + 1) as f32 * HIST_MAX / BINS as f32;
            }
        }
        HIST_MAX
    }

    /// The probability that a block within `horizon` seconds goes over `budget`, under a normal
    /// model around the extrapolated mean, raised to at least the share of recent blocks the
    /// histogram puts above the deadline itself.
    pub fn risk(&self, horizon: f32, budget: f32) -> f32 {
        let mean = self.fast + self.trend().max(0.0) * horizon;
        let sd = self.std_dev().max(0.02);
        let z = (budget - mean) / sd;
        // Logistic approximation of the normal tail.
        let tail = 1.0 / (1.0 + (1.702 * z).exp());
        tail.max(self.share_above(1.0))
    }

    /// The share of recent blocks with a load above `x`.
    pub fn share_above(&self, x: f32) -> f32 {
        if self.hist_total <= 0.0 {
            return 0.0;
        }
        let first = ((x / HIST_MAX) * BINS as f32).ceil() as usize;
        self.hist[first.min(BINS)..].iter().sum::<f32>() / self.hist_total
    }

    /// Forgets everything (a new tier or a new session).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_load_has_no_trend_and_a_tight_p99() {
        let mut s = LoadStats::default();
        for i in 0..10_000 {
            s.observe(0.4 + if i % 2 == 0 { 0.01 } else { -0.01 }, 0.001);
        }
        assert!((s.fast - 0.4).abs() < 0.02);
        assert!(s.trend().abs() < 0.05);
        assert!(s.p99() <= 0.45 && s.p99() >= 0.4);
        assert!(s.risk(0.5, 1.0) < 1e-6);
    }

    #[test]
    fn the_lazy_decay_forgets_as_scaling_every_bin_would() {
        // 80 s of blocks: the weight grows e^40-fold, so the bins are rescaled a few times; the
        // load shifts, so that forgetting shows.
        let mut s = LoadStats::default();
        let (mut eager, mut total) = ([0.0f64; BINS], 0.0f64);
        let keep = 1.0 - 0.00133 / LoadStats::HIST_S as f64;
        for i in 0..60_000 {
            let load = if i < 40_000 { 0.3 } else { 0.7 } + 0.05 * ((i % 11) as f32 / 10.0);
            s.observe(load, 0.00133);
            eager.iter_mut().for_each(|h| *h *= keep);
            total = total * keep + 1.0;
            eager[((load / HIST_MAX) * BINS as f32) as usize] += 1.0;
        }
        for x in [0.3f32, 0.5, 0.72, 0.75] {
            let first = ((x / HIST_MAX) * BINS as f32).ceil() as usize;
            let want = eager[first..].iter().sum::<f64>() / total;
            let got = s.share_above(x) as f64;
            assert!((got - want).abs() < 1e-4, "above {x}: {got} vs {want}");
        }
    }

    #[test]
    fn a_ramp_shows_its_slope() {
        let mut s = LoadStats::default();
        for i in 0..5_000 {
            s.observe(0.1 + 0.1 * i as f32 * 0.001, 0.001); // 0.1 per second
        }
        assert!((s.trend() - 0.1).abs() < 0.02, "{}", s.trend());
    }

    #[test]
    fn a_step_up_fires_the_change_detector() {
        let mut s = LoadStats::default();
        let mut fired = false;
        for _ in 0..2_000 {
            fired |= s.observe(0.3, 0.001);
        }
        assert!(!fired);
        for _ in 0..100 {
            fired |= s.observe(0.9, 0.001);
        }
        assert!(fired);
    }

    #[test]
    fn risk_rises_as_the_load_nears_one() {
        let at = |load: f32| {
            let mut s = LoadStats::default();
            for i in 0..2_000 {
                s.observe(load + 0.03 * ((i % 7) as f32 - 3.0) / 3.0, 0.001);
            }
            s.risk(0.2, 1.0)
        };
        assert!(at(0.4) < at(0.8));
        assert!(at(0.8) < at(0.95));
        assert!(at(1.2) > 0.9);
    }
}
