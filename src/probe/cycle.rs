//! Where a `process()` call lands in the host's cycle, estimated from inside one plugin instance.
//!
//! The audio driver wakes the host's thread once per period P; the host runs its graph; Salve's
//! call starts `wait` after the wake-up (the work done before Salve in this cycle), runs for
//! `busy`, and leaves `slack = P - wait - busy` before the next wake-up.
//!
//! A plugin sees only its own calls, so the wake-up is inferred. The call starts, less whole
//! periods, form a cloud whose lower edge is the wake-up plus the least work ever done before
//! this instance; [`CycleEstimator`] follows that edge. It counts the periods between calls from
//! the gap (a late call after a missed cycle counts two), snaps the edge down to any call that
//! starts earlier than it, and lets it rise slowly: at first by [`DRIFT_PER_CYCLE`] of a period
//! per cycle (crystals differ by up to about 100 ppm), then, once it has learned the drift
//! between the audio clock and the CPU's from its own snaps, by that drift plus a margin. A rise
//! allowance of 100 ppm would follow a load before Salve growing by up to 7.5 % of the cycle per
//! second (at 64 samples): the growth that healing must see.
//!
//! What the figures prove, and what they cannot:
//! - `wait` is the work before Salve above the least ever seen since the stream started (the
//!   emptiest cycle), plus the margin since then. It cannot tell work that is always before
//!   Salve from the wake-up itself: an instance late in a chain counts the instances and
//!   plugins always before it as part of the wake-up. The fleet corrects that across its
//!   instances (each cycle is measured from the edge of the instance that started first in it),
//!   not the work before the first of them.
//! - Its error grows with the margin the edge rises by beyond the drift: the drift learned from
//!   the snaps is off by at most how high the edge hovers above the floor, or how far the floor
//!   shifted in one go (at most a snap's cap), over the cycles learned from, so a stream that
//!   was quiet only briefly is told less well after a long steady load than one that was quiet
//!   for longer.
//! - Measured against known schedules (`tests.rs`, the audio clock 0 or ±80 ppm off, a missed
//!   cycle), after the first 600 cycles: other work before Salve uniform between 1 % and 70 %
//!   of the cycle, the worst error over 20,000 cycles is 2.7 % to 4.7 % of the cycle; a stopped
//!   transport (1-6 %) for 8,000 cycles, then a load growing from 20 % to 80 % over 20,000
//!   cycles (27 s), the worst error is 1.9 % to 3.8 %; five quiet seconds (1-5 %), then 55 s
//!   steady at 21-29 %, 5.6 % to 11.2 % (at its end); the same at 25-35 % with a call at 97 %
//!   of its cycle every 300 cycles (a late call, which reads as an early one of the next
//!   cycle), 3.8 % to 6.9 %; at 55-65 % with a call at 92-99 % every 150 cycles in a cycle
//!   that then misses (the next call comes after the skipped cycle, so only its place tells),
//!   3.7 % to 8.7 % (21.5 % and growing before such snaps needed confirming); the runner's
//!   step session with one such call in the first 1,500 cycles, 5.4 % (55.5 % before); calls
//!   that move earlier for good by 3 % to 40 % (the instances before shed), 2.0 %; a quiet
//!   start whose cycle shifts 3 % late for 1.6 s and back while the drift is learned, then
//!   steady at 24-28 %, 2.9 % to 6.7 % (62 % before the largest snap counted as noise). In
//!   `cargo xtask chaos`'s sessions the fleet's estimate is compared with the runner's truth
//!   for every block (README).
//! - Work after Salve in the cycle is invisible: only dropouts (a call two periods late, a
//!   transport jump) show it.
//! - Hosts that render ahead of real time or call in bursts (ASIO-Guard style) have no wake-up
//!   per call: several calls land in one "cycle" and `wait` includes Salve's own earlier calls.
//!   [`CycleEstimator::regular`] says whether the host calls once a period.
//! - A host with no audio clock (a standalone app without an audio device, sleeping for a period
//!   after each cycle's start) calls a little later than one period every time. No wake-up
//!   follows that: `regular` is false once the cadence check has seen it, and before the first
//!   check (after [`CADENCE_WINDOW`] calls) for every host.
//! - A host that runs plugins on several threads has one cycle per thread; the record carries a
//!   tag of the calling thread so that they are told apart.
//!
//! The same record of gaps judges callback gaps: a gap counts when it exceeds
//! [`ProbeConfig::gap_min_periods`](super::ProbeConfig) and is not the host's rhythm, that is,
//! no more than 5 % of the last [`RHYTHM_LEN`] gaps were as long (over `gap_factor`). So a
//! regular host that misses one period is told at once, and a missed period never becomes the
//! norm, while a host that calls in bursts is judged against its own bursts.

/// How far the estimated wake-up may rise per cycle, as a share of the period, until the clocks'
/// drift is learned (100 ppm: crystals differ by up to about that much).
pub const DRIFT_PER_CYCLE: f64 = 1e-4;
/// For the first cycles of a stream the edge rises fast (0.2 % of the period per cycle): the
/// first calls can miscount a cycle (a stream that starts with an overrun) and put the edge too
/// early, below every later call, where no snap would ever correct it.
const SETTLE_RISE: f64 = 2e-3;
const SETTLE_FAST_CYCLES: u32 = 512;
/// Cycles (from snap to snap) over which the drift is learned: about 1.4 s at 64 samples and
/// 48 kHz. The first of them only finds the floor.
pub const DRIFT_WINDOW: u32 = 1024;
/// Cycles without a single snap after which the edge may rise a margin faster: the drift itself
/// may have grown (about 22 s at 64 samples).
const NO_SNAP_CYCLES: u32 = 16 * DRIFT_WINDOW;
/// Once the drift is learned, the edge may rise this much faster than it, plus the learning's
/// error (the floor's noise over the cycles learned from): 0.2 ppm of the period per cycle,
/// 0.015 % of a period per second at 64 samples, too little to follow the other plugins' load
/// as it grows. (At 1 ppm, a minute of steady load 25 % before Salve after five quiet seconds
/// was told 21 % too low by its end.)
pub const DRIFT_MARGIN: f64 = 2e-7;
/// How much the floor (the least wait) may differ from one snap to another, as a share of the
/// period, until a span has shown how much it does (then at most [`SNAP_CAP`]): the learned
/// drift's error is at most the floor's noise over the cycles learned from.
const FLOOR_NOISE: f64 = 0.01;
/// The least floor noise assumed however steady the floor was seen (0.1 % of the period, about
/// a microsecond at 64 samples: below the wake-up jitter of any real driver).
const FLOOR_NOISE_MIN: f64 = 1e-3;
/// The learned drift stays within this (200 ppm either way).
const DRIFT_MAX: f64 = 2e-4;
/// A snap down larger than this (a share of the period) is the other plugins' load falling, not
/// drift: it counts only this much towards learning the drift. Such a snap counts at all only
/// when the next call confirms it (from the stream's start: a late call taken for the floor while
/// the edge settles has its climb back learned as drift): a call that lands in the last tenth
/// before the expected wake-up may be the next cycle's, early, or this cycle's, late. The gap to
/// the next call tells them apart unless the host missed the cycle in between (a late call is
/// often why it did); then the next call tells, landing below the old edge too (the load before
/// Salve did fall) or not. (With half this cap the edge hovered higher over uniformly random
/// loads, 6.3 % off at worst instead of 4.7 %; with 1.5 times it, late calls before misses
/// pulled it off by 65 %.)
const SNAP_CAP: f64 = 0.02;
/// A call this share of a period before the predicted wake-up still belongs to that cycle (the
/// estimate had drifted late); waits up to `1 - EARLY_SHARE` of a period are told exactly.
const EARLY_SHARE: f64 = 0.1;
/// How many ordinary gaps (half a period to a period and a half) make one check of the host's
/// cadence against the block's duration (see [`CycleEstimator::regular`]): 0.7 s at 64 samples
/// and 48 kHz, 5.5 s at 512.
pub const CADENCE_WINDOW: u32 = 512;
/// How much the host's mean gap may differ from the block's duration beyond the clocks' drift
/// ([`DRIFT_MAX`]) and still be an audio clock's: 0.1 % of a period. A host that sleeps for a
/// period after each cycle's start, as a standalone without an audio device does, oversleeps by
/// the timer's slack (50 us or more on Linux: 0.5 % of a 512-sample period at 48 kHz).
const CADENCE_MARGIN: f64 = 1e-3;
/// The same over every ordinary gap since the stream started, checked with each window: a host
/// that oversleeps by less (0.03 % to 0.1 % of a period) is told after a few windows.
const CADENCE_MARGIN_LONG: f64 = 3e-4;
/// How many recent gaps make the host's rhythm.
pub const RHYTHM_LEN: usize = 64;
/// A gap this short (in periods) is a call back to back with the previous one: a burst.
const BURST_GAP: f32 = 0.5;

/// The cycle position of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CyclePosition {
    /// From the estimated wake-up to the call's start (ns).
    pub wait_ns: u64,
    /// Whole periods since the previous call (1 in a steady stream, 2 after a missed cycle, 0
    /// within a burst); 0 for the first call of a stream.
    pub cycles: u32,
    /// The gap since the previous call over the previous block's duration (0 for the first).
    pub gap_ratio: f32,
}

/// Follows the host's cycle from the start times of one instance's calls. Wait-free and
/// allocation-free: a few floating-point operations per call.
///
/// It learns the drift between the audio clock and the CPU's: while the edge rises faster than
/// the wake-up, calls keep snapping it down, and from one snap to another the snaps add up to
/// the excess exactly (the cycles after the last snap are not counted yet: the load may be
/// growing there). Over all such spans since the first [`DRIFT_WINDOW`] cycles, the drift is
/// what the edge rose less what was snapped off, so its error shrinks as the stream goes on (the
/// floor's noise over all the cycles), and the edge then rises at the drift plus
/// [`DRIFT_MARGIN`] plus that error. So a load before Salve that grows over seconds shows in
/// `wait` instead of being taken for the wake-up. A snap counts only once the next call shows
/// it was an early call, not the previous cycle's late one.
#[derive(Debug, Clone, Copy)]
pub struct CycleEstimator {
    /// The estimated wake-up of the current cycle (ns, on the probe's clock).
    wake_ns: f64,
    /// How far the edge rises per cycle (share of the period): the drift allowance.
    rise: f64,
    /// Cycles into the stream, up to the first window (the floor is found then; the first
    /// [`SETTLE_FAST_CYCLES`] of them at [`SETTLE_RISE`]).
    settling: u32,
    /// Since the last snap: cycles, and how far the edge rose (periods).
    open_cycles: u32,
    open_rise: f64,
    /// Closed spans not yet learned from: cycles, rise and snaps (each snap at most
    /// [`SNAP_CAP`], in periods).
    span_cycles: u32,
    span_rise: f64,
    span_snap: f64,
    span_snaps: u32,
    /// The largest of those snaps.
    span_largest: f64,
    /// Everything learned: cycles, and the edge's rise less the snaps (periods).
    learned_cycles: f64,
    learned_rise: f64,
    /// The floor's noise (periods): how high above the floor the edge hovered, the most over the
    /// spans learned ([`FLOOR_NOISE`] until the first is learned).
    floor_noise: f64,
    previous_start_ns: Option<u64>,
    /// How far the previous call snapped the edge down (ns; 0 if it did not), not learned from
    /// yet.
    last_snap_ns: f64,
    /// The block durations the reciprocals below were taken for, the rise too, and the period
    /// with the rise, with its reciprocal and the previous block's.
    period_ns: f64,
    previous_block_ns: f64,
    rise_seen: f64,
    period: f64,
    per_period: f64,
    per_block: f64,
    /// The last gap ratios (in periods), a ring.
    gaps: [f32; RHYTHM_LEN],
    next: usize,
    filled: usize,
    /// How many of them are bursts (shorter than [`BURST_GAP`]).
    bursts: usize,
    /// The ordinary gaps of the cadence check under way: their sum (periods) and number, and
    /// the gaps that broke their runs (missed cycles, bursts).
    cadence_sum: f64,
    cadence_gaps: u32,
    cadence_breaks: u32,
    /// The same since the stream started (the sum less the gaps: periods).
    cadence_total_excess: f64,
    cadence_total_gaps: f64,
    cadence_total_breaks: f64,
    /// The last check's verdict: the host follows an audio clock (`None` before the first).
    clocked: Option<bool>,
}

impl Default for CycleEstimator {
    fn default() -> Self {
        Self {
            wake_ns: 0.0,
            rise: SETTLE_RISE,
            settling: 0,
            open_cycles: 0,
            open_rise: 0.0,
            span_cycles: 0,
            span_rise: 0.0,
            span_snap: 0.0,
            span_snaps: 0,
            span_largest: 0.0,
            learned_cycles: 0.0,
            learned_rise: 0.0,
            floor_noise: FLOOR_NOISE,
            previous_start_ns: None,
            last_snap_ns: 0.0,
            period_ns: f64::NAN,
            previous_block_ns: f64::NAN,
            rise_seen: f64::NAN,
            period: 1.0,
            per_period: 1.0,
            per_block: 1.0,
            gaps: [0.0; RHYTHM_LEN],
            next: 0,
            filled: 0,
            bursts: 0,
            cadence_sum: 0.0,
            cadence_gaps: 0,
            cadence_breaks: 0,
            cadence_total_excess: 0.0,
            cadence_total_gaps: 0.0,
            cadence_total_breaks: 0.0,
            clocked: None,
        }
    }
}

impl CycleEstimator {
    /// Starts over (a new stream: activation, reset, a new block size or rate).
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// Whether gaps of `ratio` periods are part of the host's rhythm: more than 5 % of the
    /// recent gaps (this one not counted) were longer. Scans the ring: call it only for a gap
    /// that would otherwise count.
    pub fn is_rhythm(&self, ratio: f32) -> bool {
        let earlier = self.filled.saturating_sub(1);
        let newest = (self.next + RHYTHM_LEN - 1) % RHYTHM_LEN;
        let longer = (0..self.filled)
            .filter(|&i| i != newest && self.gaps[i] > ratio)
            .count();
        longer * 20 > earlier
    }

    /// Whether `wait` is a position in a cycle of an audio clock: the host calls about once a
    /// period (at most 5 % of its recent calls come back to back) and its cadence was checked
    /// and found to be the block's duration. A host that sleeps for a period after each cycle's
    /// start (a standalone app without an audio device) calls a little later every cycle: read
    /// against a clock it never follows, its calls would seem to wait longer and longer, most
    /// of a cycle, with nothing before them. Until the first check (after [`CADENCE_WINDOW`]
    /// ordinary gaps) the cycle is not trusted either.
    pub fn regular(&self) -> bool {
        self.once_a_period() && self.clocked == Some(true)
    }

    /// At most 5 % of the recent calls came back to back.
    fn once_a_period(&self) -> bool {
        self.bursts * 20 <= self.filled
    }

    /// A call starting at `start_ns`, one period (`period_ns`) after the previous block's start
    /// in a steady stream; `previous_block_ns` is the previous block's duration.
    #[inline]
    pub fn observe(
        &mut self,
        start_ns: u64,
        period_ns: f64,
        previous_block_ns: f64,
    ) -> CyclePosition {
        let Some(previous) = self.previous_start_ns.replace(start_ns) else {
            self.wake_ns = start_ns as f64;
            return CyclePosition::default();
        };
        // Divisions cost more than the rest of this function: the reciprocals are kept while
        // the block's duration and the rise stay the same (nearly always).
        if period_ns != self.period_ns || previous_block_ns != self.previous_block_ns {
            self.period_ns = period_ns;
            self.previous_block_ns = previous_block_ns;
            self.per_block = 1.0 / previous_block_ns.max(1.0);
            self.rise_seen = f64::NAN;
        }
        if self.rise != self.rise_seen {
            self.rise_seen = self.rise;
            self.period = period_ns.max(1.0) * (1.0 + self.rise);
            self.per_period = 1.0 / self.period;
        }
        // Through i64: one instruction each way, where u64 takes several (times stay far below
        // 2^63 ns).
        let gap = start_ns.saturating_sub(previous) as i64 as f64;
        let gap_ratio = (gap * self.per_block) as f32;
        if self.last_snap_ns > 0.0 {
            let soon = gap < (1.0 - EARLY_SHARE) * self.period;
            if (soon || self.unconfirmed(start_ns)) && self.once_a_period() {
                // The call that snapped the edge down was the previous cycle's, late, not this
                // cycle's, early: a host that calls once a cycle does not call again this
                // soon, and after a missed cycle this call did not land below the old edge.
                // The edge goes back, and nothing is learned from it (else every late call
                // would pull the edge, and the drift learned, early for good).
                self.wake_ns += self.last_snap_ns;
            } else {
                self.snapped(self.last_snap_ns * self.per_period);
            }
            self.last_snap_ns = 0.0;
        }
        // The cycle this call is in, counted from the previous call's wake-up: a call starts
        // between its wake-up and the next one, so whole periods since that wake-up tell (a
        // call a little before the predicted wake-up belongs to it: the edge then snaps down).
        let period = self.period;
        let start = start_ns as i64 as f64;
        // Nearly every call lands in the cycle after the previous call's: two comparisons. Else
        // whole periods, none if negative (a conversion, cheaper than `floor`).
        let next = self.wake_ns + period;
        let early = EARLY_SHARE * period;
        let cycles = if start >= next - early && start < next + period - early {
            1.0
        } else {
            (((start - self.wake_ns) * self.per_period + EARLY_SHARE) as i64).max(0) as f64
        };
        self.wake_ns += cycles * period;
        self.open_cycles += cycles as u32;
        self.open_rise += cycles * self.rise;
        if self.settling < DRIFT_WINDOW {
            self.settling += cycles as u32;
            if self.settling >= SETTLE_FAST_CYCLES && self.rise == SETTLE_RISE {
                self.rise = DRIFT_PER_CYCLE;
            }
        }
        if start < self.wake_ns {
            // Learned from at the next call, once it shows that this one was early.
            self.last_snap_ns = self.wake_ns - start;
            self.wake_ns = start;
        } else if self.open_cycles >= NO_SNAP_CYCLES {
            self.unsnapped();
        }
        if gap_ratio.is_finite() {
            if self.filled == RHYTHM_LEN && self.gaps[self.next] < BURST_GAP {
                self.bursts -= 1;
            }
            self.gaps[self.next] = gap_ratio;
            self.bursts += (gap_ratio < BURST_GAP) as usize;
            self.next = (self.next + 1) % RHYTHM_LEN;
            self.filled = (self.filled + 1).min(RHYTHM_LEN);
            if (BURST_GAP..1.5).contains(&gap_ratio) {
                self.cadence_sum += gap_ratio as f64;
                self.cadence_gaps += 1;
                if self.cadence_gaps >= CADENCE_WINDOW {
                    self.judge_cadence();
                }
            } else {
                self.cadence_breaks += 1;
            }
        }
        CyclePosition {
            wait_ns: ((start - self.wake_ns) as i64).max(0) as u64,
            cycles: cycles.min(u32::MAX as f64) as u32,
            gap_ratio,
        }
    }
}

impl CycleEstimator {
    /// The edge snapped down by `snap` periods: a span closes, and after enough of them the
    /// drift is learned afresh.
    #[inline]
    fn snapped(&mut self, snap: f64) {
        if self.settling < DRIFT_WINDOW {
            // Finding the floor: these snaps are the first calls' waits, not drift.
            (self.open_cycles, self.open_rise) = (0, 0.0);
            return;
        }
        self.span_cycles += self.open_cycles;
        self.span_rise += self.open_rise;
        let snap = snap.min(SNAP_CAP);
        self.span_snap += snap;
        self.span_largest = self.span_largest.max(snap);
        self.span_snaps += 1;
        (self.open_cycles, self.open_rise) = (0, 0.0);
        if self.span_cycles >= DRIFT_WINDOW {
            self.learn();
        }
    }

    #[cold]
    fn learn(&mut self) {
        // A snap lands anywhere between the floor and the edge: twice the mean snap is how high
        // above the floor the edge hovers, and so how far off the floor at the first and the
        // last snap may be, which is all the learned drift's error (the spans between telescope).
        //
        // The floor may also shift in one go (the load before Salve fell, or the host's cycle
        // shifted back after a stall) by up to a snap's cap, and nothing telescopes that away:
        // so the largest snap counts as noise too. Without it, a 3 % shift 1,200 cycles into
        // the first window was learned as -13 ppm of drift in a session; the edge, rising
        // slower than the wake-up, never met a call again, and the wait it gave grew by 1 % of
        // the cycle a second for a minute. The price: a steady load after a quiet start is told
        // less well (10.2 % off after a minute instead of 7.7 %).
        let hover = (2.0 * self.span_snap / self.span_snaps.max(1) as f64).max(self.span_largest);
        self.floor_noise = if self.learned_cycles == 0.0 {
            hover
        } else {
            self.floor_noise.max(hover)
        }
        .clamp(FLOOR_NOISE_MIN, SNAP_CAP);
        let floor_moved = self.span_rise - self.span_snap;
        self.learned_cycles += self.span_cycles as f64;
        self.learned_rise += floor_moved;
        self.span_snaps = 0;
        let drift = (self.learned_rise / self.learned_cycles).clamp(-DRIFT_MAX, DRIFT_MAX);
        // The floor's noise over the cycles learned from bounds the error: until it is small,
        // the edge rises faster (rather too fast than too slow: too slow never snaps again).
        let margin = DRIFT_MARGIN + self.floor_noise / self.learned_cycles;
        self.rise = (drift + margin).min(DRIFT_MAX);
        (self.span_cycles, self.span_rise, self.span_snap) = (0, 0.0, 0.0);
        self.span_largest = 0.0;
    }

    /// Whether the last snap was large (see [`SNAP_CAP`]) and the call starting at `start_ns`
    /// lands at or above the edge as it was before it.
    #[inline]
    fn unconfirmed(&self, start_ns: u64) -> bool {
        if self.last_snap_ns <= SNAP_CAP * self.period {
            return false;
        }
        let old_wake = self.wake_ns + self.last_snap_ns;
        let since = start_ns as i64 as f64 - old_wake;
        let cycles = ((since * self.per_period + EARLY_SHARE) as i64).max(0) as f64;
        since - cycles * self.period >= 0.0
    }

    /// One check of the cadence. Within a run of ordinary gaps the gaps of a clocked host add up
    /// to the run's periods (each is a period plus the change of the wait) but for the first
    /// wait less the last, less than a period: so over the window they add up to its gaps
    /// within a period per run, plus the clocks' drift. More (or less) is a host that does not
    /// follow a clock. The same holds since the stream started, with a closer margin.
    #[cold]
    fn judge_cadence(&mut self) {
        let gaps = self.cadence_gaps as f64;
        let runs = (self.cadence_breaks + 1) as f64;
        let excess = self.cadence_sum - gaps;
        self.cadence_total_excess += excess;
        self.cadence_total_gaps += gaps;
        self.cadence_total_breaks += self.cadence_breaks as f64;
        let window = excess.abs() <= runs + gaps * (DRIFT_MAX + CADENCE_MARGIN);
        let long = self.cadence_total_excess.abs()
            <= self.cadence_total_breaks
                + 1.0
                + self.cadence_total_gaps * (DRIFT_MAX + CADENCE_MARGIN_LONG);
        self.clocked = Some(window && long);
        (self.cadence_sum, self.cadence_gaps, self.cadence_breaks) = (0.0, 0, 0);
    }

    /// No snap for a long while: the load before Salve grew, or the drift did. The edge may
    /// rise a margin faster from now on (the cycles are not learned from).
    #[cold]
    fn unsnapped(&mut self) {
        if self.settling >= DRIFT_WINDOW {
            self.rise = (self.rise + DRIFT_MARGIN).min(DRIFT_MAX);
        }
        (self.open_cycles, self.open_rise) = (0, 0.0);
    }

    /// The edge's rise per cycle now (share of the period), for tests.
    pub fn rise(&self) -> f64 {
        self.rise
    }
}

/// A tag of the calling OS thread: the address of a thread-local, distinct for every live
/// thread, read without a system call or an allocation.
#[inline]
pub fn thread_tag() -> u64 {
    thread_local! {
        static TAG: u8 = const { 0 };
    }
    TAG.with(|t| t as *const u8 as u64)
}
