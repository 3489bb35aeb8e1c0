//! Where a `process()` call lands in the host's cycle, estimated from inside one plugin instance.
//! The probe only stamps each call's start in its record on the audio thread; the fleet thread
//! reads the records in order with a [`CycleReader`], which runs the estimate and judges callback
//! gaps, so none of this is in `process()`.
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
//! between the audio clock and the CPU's, by that drift plus a margin. A rise allowance of
//! 100 ppm would follow a load before Salve growing by up to 7.5 % of the cycle per second (at
//! 64 samples): the growth that healing must see.
//!
//! The drift is learned from the lowest call of each window of [`LOW_WINDOW`] cycles in which a
//! call came down to the edge (else the load before Salve stood above the floor all window
//! long), placed against a line of whole periods from the stream's first call: the call least
//! held up by work before it marks the floor, and the lows' slope is the drift: for a run's
//! first few lows the line through its first and last, from [`ROBUST_LOWS`] on the line below
//! every low ([`super::floor`]), which a low lifted by a slow patch of the machine does not
//! tilt. The least of a few hundred calls lies much closer to the floor than the edge hovers
//! (0.01 % against 0.5 % of the period in the tests), so a few seconds of lows tell the drift
//! to a fraction of a ppm. A low that strays from the line by more than a snap's cap is a shift
//! (the load before Salve fell, the cycle moved after a stall), not drift: a new run of lows
//! starts there. The edge rises faster than the drift by how far the lows may lie off the
//! floor's line (in a young run the most any low strayed or the two lines disagree, later the
//! lows' mean height above the line below them, or how far a low pulled the drift down, which
//! may be the floor falling short of a shift), over the cycles learned from (rather too fast
//! than too slow: an edge too slow never meets a call again).
//!
//! What the figures prove, and what they cannot:
//! - `wait` is the work before Salve above the least ever seen since the stream started (the
//!   emptiest cycle), plus the margin since then. It cannot tell work that is always before
//!   Salve from the wake-up itself: an instance late in a chain counts the instances and
//!   plugins always before it as part of the wake-up. The fleet corrects that across its
//!   instances (each cycle is measured from the edge of the instance that started first in it),
//!   not the work before the first of them.
//! - Its error grows with the margin the edge rises by beyond the drift: the drift learned from
//!   the lows is off by at most how far its first and last lows lie off the floor's line, over
//!   the cycles learned from, so a stream that was quiet only briefly is told less well after a
//!   long steady load than one that was quiet for longer.
//! - A load before Salve that falls steadily over seconds while nothing else is learned (the
//!   first seconds of a stream that starts playing) is taken for drift: the edge then rises too
//!   slowly and the wait reads high, growing, until calls wrap into the next cycle. From inside
//!   one instance the two cannot be told apart.
//! - Measured against known schedules (`tests.rs`, the audio clock 0 or ±80 ppm off, a missed
//!   cycle), after the first 600 cycles: other work before Salve uniform between 1 % and 70 %
//!   of the cycle, the worst error over 20,000 cycles is 3.0 % to 4.7 % of the cycle; a stopped
//!   transport (1-6 %) for 8,000 cycles, then a load growing from 20 % to 80 % over 20,000
//!   cycles (27 s), the worst error is 1.9 % to 2.0 %; five quiet seconds (1-5 %), then 55 s
//!   steady at 21-29 %, 2.6 % to 3.5 % (10.2 % to 11.2 % when the drift was learned from the
//!   edge's snaps); the same at 25-35 % with a call at 97 % of its cycle every 300 cycles (a
//!   late call, which reads as an early one of the next cycle), 1.5 % to 2.0 %; at 55-65 % with
//!   a call at 92-99 % every 150 cycles in a cycle that then misses (the next call comes after
//!   the skipped cycle, so only its place tells), 1.9 % (21.5 % and growing before
//!   such snaps needed confirming); the runner's step session with one such call in the first
//!   1,500 cycles, 5.0 % (55.5 % before); calls that move earlier for good by 3 % to 40 % (the
//!   instances before shed), 1.1 %; a quiet start whose cycle shifts 3 % late for 1.6 s and
//!   back while the drift is learned, then steady at 24-28 %, 4.3 % (62 % before shifts were
//!   told from drift); the step session with the machine slow for 300-600 cycles while the
//!   drift is learned (calls 0.5 % or 1.2 % late), 3.6 % (26 % when one lifted low counted as
//!   the floor's noise for good); a quiet start whose last 300-750 cycles come 1.2 % or 2 %
//!   earlier (the floor falling just short of a shift), then 55 s at 21-29 %, 2.7 % (24 % when
//!   the pull of that last low on the line below the lows was not counted as noise); the first
//!   two lows 8 cycles apart on either side of a window's end, then 27 s at 30-40 %, 4.3 % (32 %
//!   when their line's drift, 200 ppm, was learned and every later low strayed from it). After five
//!   quiet seconds the edge rises 0.1-0.4 ppm of the period per cycle faster than the wake-up
//!   (drift 0 to ±150 ppm), never slower. In `cargo xtask chaos`'s sessions the fleet's
//!   estimate is compared with the runner's truth for every block (README).
//! - The fleet thread may be starved (audio threads that take every core) and lose records to
//!   a full ring. The edge is carried across the hole as across missed cycles, by whole
//!   periods and one cycle's rise; no gap is judged over it. Three holes of 375 cycles at
//!   60-70 % before Salve: 1.2 % (started afresh after each hole, the first call after
//!   it was taken for the wake-up: 60 % off). A hole of 250 cycles while the stream settles (700
//!   instances starting at once): 2.4 % to 2.5 % (49 % when the edge rose by every missed
//!   cycle's allowance).
//! - A call that lands in the last tenth of its cycle reads as an early call of the next one
//!   (waits up to 90 % are told). After a missed cycle such a call is taken for what it most
//!   likely is, late in its own cycle (a host misses cycles when they are full), and neither
//!   snaps the edge down by more than 2 % of a period nor confirms such a snap: a session whose
//!   others take 88-96 % of the cycle while the host misses every other one, 0.2 % (96 % when
//!   those calls pulled the edge down to themselves). A shift of the host's cycle that comes
//!   with missed cycles is followed from the first call after an ordinary gap.
//! - Work after Salve in the cycle is invisible: only dropouts (a call two periods late, a
//!   transport jump) show it.
//! - Hosts that render ahead of real time or call in bursts (ASIO-Guard style) have no wake-up
//!   per call: several calls land in one "cycle" and `wait` includes Salve's own earlier calls.
//!   [`CycleEstimator::regular`] says whether the host calls once a period.
//! - A driver that recovers from an overrun by starting its cycle afresh moves the wake-up (one
//!   that skips to its next period calls a whole period later). A call opens a cycle when it
//!   begins within a fifth of a period after the previous one ended, that one having waited and
//!   run past its cycle's end as estimated (or begun so late that both fall in one period), and
//!   it lands elsewhere in the old cycle than calls usually do, later or earlier (nothing ran
//!   before it, so a call just before the old wake-up is no early call of it): a full session's
//!   cycle that overran into the next call's start is no restart. Read against the old grid,
//!   every wait after a restart was 42 % too high for seconds (tests: 0.4-1.7 %, also with every
//!   eighth call held up; the full session 0.2 %). When the call after it comes half a period to
//!   90 % of one later, the restart's own call came late in the cycle it opened, and the cycle
//!   opens a period before that next call instead (else every later wait read 86 % high; tests:
//!   1.3-1.5 %). A restart of any other shape (the host's next call well after Salve's late one
//!   ended, or landing where calls usually do) reads as work before Salve until the edge
//!   catches up.
//! - A host with no audio clock (a standalone app without an audio device, sleeping for a period
//!   after each cycle's start) calls a little later than one period every time. No wake-up
//!   follows that: `regular` is false once the cadence check has seen it, and before the first
//!   check (after [`CADENCE_WINDOW`] calls) for every host.
//! - A host that runs plugins on several threads has one cycle per thread; the record carries a
//!   tag of the calling thread so that they are told apart.
//!
//! The same record of gaps judges callback gaps: a gap counts when it exceeds
//! [`ProbeConfig::gap_min_periods`](super::ProbeConfig) and the host calls once a period of its
//! audio clock ([`CycleEstimator::regular`]), or else when it is not the host's rhythm, that is,
//! no more than 5 % of the last [`RHYTHM_LEN`] gaps were as long (over `gap_factor`). So a
//! regular host that misses one period is told at once, and a missed period never becomes the
//! norm, not even when the host misses every other one for seconds (an overloaded session),
//! while a host that calls in bursts is judged against its own bursts.

use super::ProbeConfig;
use super::events::EventKind;
use super::floor::FloorFit;
use super::record::BlockRecord;
use super::telemetry::GapCounter;

/// How far the estimated wake-up may rise per cycle, as a share of the period, until the clocks'
/// drift is learned (100 ppm: crystals differ by up to about that much).
pub const DRIFT_PER_CYCLE: f64 = 1e-4;
/// For the first cycles of a stream the edge rises fast (0.2 % of the period per cycle): the
/// first calls can miscount a cycle (a stream that starts with an overrun) and put the edge too
/// early, below every later call, where no snap would ever correct it.
const SETTLE_RISE: f64 = 2e-3;
const SETTLE_FAST_CYCLES: u32 = 512;
/// Cycles at a stream's start that only find the floor (about 1.4 s at 64 samples and 48 kHz);
/// the drift is learned from the lows after them.
pub const DRIFT_WINDOW: u32 = 1024;
/// Cycles without a single snap after which the edge may rise a margin faster: the drift itself
/// may have grown (about 22 s at 64 samples).
const NO_SNAP_CYCLES: u32 = 16 * DRIFT_WINDOW;
/// Once the drift is learned, the edge may rise this much faster than it, plus the learning's
/// error (the lows' stray over the cycles learned from): 0.2 ppm of the period per cycle,
/// 0.015 % of a period per second at 64 samples, too little to follow the other plugins' load
/// as it grows. (At 1 ppm, a minute of steady load 25 % before Salve after five quiet seconds
/// was told 21 % too low by its end.)
pub const DRIFT_MARGIN: f64 = 2e-7;
/// Cycles in one window of the drift's learning: the lowest call of each window (the one least
/// held up by work before it) marks the floor, and the drift is the slope of those lows (a third
/// of a second at 64 samples and 48 kHz).
const LOW_WINDOW: f64 = 256.0;
/// The least stray of the lows assumed however steady they were seen (0.025 % of the period,
/// 0.3 us at 64 samples: a few lows may happen to agree more closely than their floor holds).
const FLOOR_NOISE_MIN: f64 = 2.5e-4;
/// Lows in a run from which its drift is the line below every low rather than the line through
/// its first and last.
const ROBUST_LOWS: u32 = 6;
/// The learned drift stays within this (200 ppm either way).
const DRIFT_MAX: f64 = 2e-4;
/// A snap down larger than this (a share of the period) may be the previous cycle's late call,
/// and a low that strays this far from the drift's line is a shift of the floor, not drift (a
/// new run of lows starts). Such a snap counts only when the next call confirms it (from the
/// stream's start: a late call taken for the floor while the edge settles has its climb back
/// learned as drift): a call that lands in the last tenth before the expected wake-up may be
/// the next cycle's, early, or this cycle's, late. The gap to the next call tells them apart
/// unless the host missed the cycle in between (a late call is often why it did); then the
/// snap is undone, even if the next call lands below the old edge too (after a missed cycle it
/// is as likely late in its own cycle), and a shift of the cycle snaps again at the next call
/// after an ordinary gap. (With 1.5 times this cap, late calls before misses pulled the edge
/// off by 65 % when the drift was learned from the snaps.)
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
/// A call that begins within this share of a period after the previous one ended, which overran
/// its cycle, opens a cycle the host started afresh (see [`CycleEstimator::restart_cycle`]).
/// (The chaos runner's first call after a restart began 6 % to 12 % of a period after the late
/// one ended: its own work between calls on a machine that had just stalled.)
const RESTART_WITHIN: f64 = 0.2;
/// How much later or earlier in the old cycle than calls usually land (share of a period) a call
/// must land at least to be taken for a restart ...
const RESTART_UNUSUAL: f64 = 0.05;
/// ... and how many times further than they usually stray from that.
const RESTART_STRAYS: f64 = 3.0;
/// A gap this short (in periods) is a call back to back with the previous one: a burst.
const BURST_GAP: f32 = 0.5;
/// A gap this long (in periods) has a cycle missed in it.
const MISSED_GAP: f32 = 1.5;
/// A call this many periods after a restart's call (sooner than a period, not back to back)
/// shows that the restart's call came late in the cycle it opened: the chaos runner's own
/// work after an overrun (likely its progress line) put it 14 % of a period after the cycle
/// the next calls kept, and every wait after it read 86 % high, the edge a running minimum that
/// does not rise to calls so late in a cycle.
const RESTART_LATE: std::ops::Range<f64> = 0.5..1.0 - EARLY_SHARE;

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
/// It learns the drift between the audio clock and the CPU's from the lowest call of each window
/// of [`LOW_WINDOW`] cycles after the first [`DRIFT_WINDOW`] in which a call came down to the
/// edge (a snap, confirmed by the call after it): the slope of those
/// lows against whole periods, over runs of lows with no shift between them. Its error shrinks
/// as the stream goes on (the lows' stray over all the cycles), and the edge rises at the drift
/// plus [`DRIFT_MARGIN`] plus that error. So a load before Salve that grows over seconds shows
/// in `wait` instead of being taken for the wake-up. A snap counts only once the next call
/// shows it was an early call, not the previous cycle's late one.
#[derive(Debug, Clone, Copy)]
pub struct CycleEstimator {
    /// The estimated wake-up of the current cycle (ns, on the probe's clock).
    wake_ns: f64,
    /// How far the edge rises per cycle (share of the period): the drift allowance.
    rise: f64,
    /// Cycles into the stream, up to the first window (the floor is found then; the first
    /// [`SETTLE_FAST_CYCLES`] of them at [`SETTLE_RISE`]).
    settling: u32,
    /// Cycles since the last snap (see [`NO_SNAP_CYCLES`]).
    open_cycles: u32,
    /// The nominal wake-up of the current cycle: the stream's first call plus whole periods, with
    /// no rise and no snaps (ns). Calls are placed against it to learn the drift.
    line_ns: f64,
    /// Cycles since the stream started.
    stream_cycles: f64,
    /// The lowest call of the learning window under way (a snap once confirmed), along the
    /// drift against the line (ns, infinite if none yet; its place is that plus the drift to
    /// its cycle), the cycle it was in, and the cycle the window ends at.
    window_low_ns: f64,
    window_low_cycle: f64,
    /// Whether a confirmed snap fell in the window: only then is its low the floor's.
    window_snapped: bool,
    window_end: f64,
    /// The run of window lows under way (cycle, place in periods), not yet shifted, with the
    /// floor line under it.
    run: FloorFit,
    /// The most a low of the run pulled its drift down, over the cycles learned from (periods).
    run_fall: f64,
    /// Runs closed by a shift of the floor: their cycles, how far the floor moved over them
    /// (periods), how many, and the most their lows lay above their floor on average
    /// (periods; 0 if none had three lows).
    learned_cycles: f64,
    learned_rise: f64,
    learned_runs: u32,
    learned_height: f64,
    /// How far a window's low strayed from the line the drift drew through the one before
    /// (periods): the most seen; `None` until one has been measured.
    floor_noise: Option<f64>,
    /// The drift learned so far (share of the period per cycle), `None` before the first.
    drift: Option<f64>,
    /// Whether the first drift (from the stream's first two lows) has been found.
    scouted: bool,
    /// The same in ns per cycle.
    drift_ns: f64,
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
    /// Calls were missed before the next one (see [`CycleEstimator::bridge`]).
    bridged: bool,
    /// The host starts its cycle afresh at the next call (see [`CycleEstimator::restart_cycle`]).
    restarted: bool,
    /// The last call opened a cycle the host started afresh (see [`RESTART_LATE`]).
    just_restarted: bool,
}

impl Default for CycleEstimator {
    fn default() -> Self {
        Self {
            wake_ns: 0.0,
            rise: SETTLE_RISE,
            settling: 0,
            open_cycles: 0,
            line_ns: 0.0,
            stream_cycles: 0.0,
            window_low_ns: f64::INFINITY,
            window_low_cycle: 0.0,
            window_snapped: false,
            window_end: 0.0,
            run: FloorFit::default(),
            run_fall: 0.0,
            learned_cycles: 0.0,
            learned_rise: 0.0,
            learned_runs: 0,
            learned_height: 0.0,
            floor_noise: None,
            drift: None,
            scouted: false,
            drift_ns: 0.0,
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
            bridged: false,
            restarted: false,
            just_restarted: false,
        }
    }
}

impl CycleEstimator {
    /// Starts over (a new stream: activation, reset, a new block size or rate).
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// The next call comes after calls that were not observed (records lost): it is placed in
    /// the cycle as usual, but the gap to it is no gap of the host's.
    pub fn bridge(&mut self) {
        self.bridged = true;
    }

    /// The host starts its cycle afresh at the next call (it recovered from an overrun by
    /// starting from then, not at its next period): that call opens a cycle. The wake-up moved,
    /// so the run of lows ends; the drift learned and the cadence stay.
    pub fn restart_cycle(&mut self) {
        self.restarted = true;
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
            self.line_ns = self.wake_ns;
            return CyclePosition::default();
        };
        // Divisions cost more than the rest of this function: the reciprocals are kept while
        // the block's duration and the rise stay the same (nearly always).
        if period_ns != self.period_ns || previous_block_ns != self.previous_block_ns {
            if period_ns != self.period_ns {
                self.new_period(period_ns);
            }
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
        let gap_ratio = if std::mem::take(&mut self.bridged) {
            f32::NAN
        } else {
            (gap * self.per_block) as f32
        };
        if self.last_snap_ns > 0.0 {
            let soon = gap < (1.0 - EARLY_SHARE) * self.period;
            let missed = gap_ratio >= MISSED_GAP;
            if (soon || self.unconfirmed(start_ns, missed)) && self.once_a_period() {
                // The call that snapped the edge down was the previous cycle's, late, not this
                // cycle's, early: a host that calls once a cycle does not call again this
                // soon, and after a missed cycle this call did not land below the old edge, or
                // came after a missed cycle itself.
                // The edge goes back, and nothing is learned from it (else every late call
                // would pull the edge, and the drift learned, early for good).
                self.wake_ns += self.last_snap_ns;
            } else {
                self.snapped();
            }
            self.last_snap_ns = 0.0;
        }
        // The call after a restart came sooner than a period after it: the restart's call came
        // late in its own cycle (the host's own work after the overrun), and the cycle that
        // began afresh is this call's, one period earlier.
        let late_restart = std::mem::take(&mut self.just_restarted)
            && gap >= RESTART_LATE.start * self.period
            && gap < RESTART_LATE.end * self.period
            && self.once_a_period();
        if std::mem::take(&mut self.restarted) || late_restart {
            self.just_restarted = true;
            // This call opens a cycle: the edge one period before it, the line of whole periods
            // (and the run of lows placed against it) starting over from there.
            self.last_snap_ns = 0.0;
            self.wake_ns = start_ns as i64 as f64 - self.period;
            self.close_run();
            self.window_low_ns = f64::INFINITY;
            self.window_snapped = false;
            self.line_ns = self.wake_ns;
        }
        // The cycle this call is in, counted from the previous call's wake-up: a call starts
        // between its wake-up and the next one, so whole periods since that wake-up tell (a
        // call a little before the predicted wake-up belongs to it: the edge then snaps down).
        let period = self.period;
        let start = start_ns as i64 as f64;
        // Nearly every call lands in the cycle after the previous call's: two comparisons. Else
        // whole periods, none if negative (a conversion, cheaper than `floor`), of the audio
        // clock as learned (the drift), and the edge rises by one cycle's allowance at most.
        // Over the hundreds of cycles of records lost to a full ring, the allowances of every
        // cycle add up to half a period or more (early in a stream): counted in periods grown
        // by them, the call after the hole was put in the cycle before its own, half a cycle
        // late; and grown by them, the edge lay half a cycle above the calls, a snap the next
        // call seemed to undo.
        let next = self.wake_ns + period;
        let early = EARLY_SHARE * period;
        let (cycles, step) = if start >= next - early && start < next + period - early {
            (1.0, period)
        } else {
            let counted = period_ns.max(1.0) * (1.0 + self.drift.unwrap_or(0.0));
            let cycles = (((start - self.wake_ns) / counted + EARLY_SHARE) as i64).max(0) as f64;
            // A call after a missed cycle that lands more than a snap's cap before the wake-up
            // it would open is late in the cycle before: a host misses cycles when they are
            // full (the runner's two-thread session in its last second, run DG: the others at
            // 90-95 %, every other cycle missed; each such call was taken for an early one,
            // the next, as early, confirmed it, the edge came down to the calls and the waits
            // read 5 % against 80 %). A shift of the host's cycle is followed from the first
            // call after an ordinary gap (see [`SNAP_CAP`]).
            let opens = (start - self.wake_ns) / counted;
            let cycles = if cycles >= 2.0
                && gap_ratio >= MISSED_GAP
                && cycles - opens > SNAP_CAP
                && self.once_a_period()
            {
                cycles - 1.0
            } else {
                cycles
            };
            (
                cycles,
                cycles * counted + cycles.min(1.0) * (period - counted),
            )
        };
        self.wake_ns += step;
        self.line_ns += cycles * period_ns;
        self.stream_cycles += cycles;
        self.open_cycles += cycles as u32;
        if self.stream_cycles >= self.window_end {
            self.close_window();
        }
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
        } else {
            if self.settling >= DRIFT_WINDOW {
                self.low_candidate(start - self.line_ns);
            }
            if self.open_cycles >= NO_SNAP_CYCLES {
                self.unsnapped();
            }
        }
        if gap_ratio.is_finite() {
            if self.filled == RHYTHM_LEN && self.gaps[self.next] < BURST_GAP {
                self.bursts -= 1;
            }
            self.gaps[self.next] = gap_ratio;
            self.bursts += (gap_ratio < BURST_GAP) as usize;
            self.next = (self.next + 1) % RHYTHM_LEN;
            self.filled = (self.filled + 1).min(RHYTHM_LEN);
            if (BURST_GAP..MISSED_GAP).contains(&gap_ratio) {
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
    /// The edge snapped down to the previous call, and this call confirmed it: that call's
    /// place against the line is a candidate for its window's low.
    #[inline]
    fn snapped(&mut self) {
        self.open_cycles = 0;
        if self.settling < DRIFT_WINDOW {
            // Finding the floor: these snaps are the first calls' waits, not drift.
            return;
        }
        self.window_snapped = true;
        self.low_candidate(self.wake_ns - self.line_ns);
    }

    /// A call `place_ns` after the line: the window's low if it is the lowest yet. The low is
    /// taken along the drift learned so far: against a floor that slopes, the lowest call would
    /// otherwise be one of the window's last few.
    #[inline]
    fn low_candidate(&mut self, place_ns: f64) {
        let along = place_ns - self.drift_ns * self.stream_cycles;
        if along < self.window_low_ns {
            self.window_low_ns = along;
            self.window_low_cycle = self.stream_cycles;
        }
    }

    /// A window of [`LOW_WINDOW`] cycles closes with its low: the drift is learned afresh.
    #[cold]
    fn close_window(&mut self) {
        let low = (
            self.window_low_cycle,
            // Back from along the drift to the line (the drift holds through a window).
            (self.window_low_ns + self.drift_ns * self.window_low_cycle) / self.period_ns,
        );
        let snapped = self.window_snapped && self.window_low_ns.is_finite();
        self.window_low_ns = f64::INFINITY;
        self.window_snapped = false;
        self.window_end = self.stream_cycles + LOW_WINDOW;
        if !snapped {
            // No call came down to the edge: the load before Salve was above the floor (or
            // growing) all window long, which tells nothing of the drift.
            return;
        }
        if self.run.is_empty() {
            self.start_run(low);
            return;
        }
        // How far this low strays from the line the drift learned so far draws through the
        // previous one. Before anything is learned, the drift may be anything up to DRIFT_MAX.
        let (cycles, place) = self.run.last();
        let span = low.0 - cycles;
        let stray = (low.1 - place) - self.drift.unwrap_or(0.0) * span;
        let allowed = SNAP_CAP
            + if self.drift.is_none() {
                DRIFT_MAX * span
            } else {
                0.0
            };
        if stray.abs() > allowed {
            // The floor shifted in one go (the load before Salve fell, or the cycle moved after a
            // stall): the run closes, and a new one starts from this low.
            if self.scouted && self.learned_runs == 0 && self.run.len() <= 1 {
                // Nothing learned since the scouts, and the low before this one already started
                // a run of its own: the scouts' drift is what every low strays from (two lows
                // that happened to differ by the load's noise). Scout again.
                self.scouted = false;
                self.drift = None;
                self.drift_ns = 0.0;
                self.rise = DRIFT_PER_CYCLE;
            }
            self.close_run();
            self.start_run(low);
            return;
        }
        // Measured against a drift learned from lows taken along a drift (the scouts' is rough).
        if self.run.len() >= 2 || self.learned_cycles > 0.0 {
            self.floor_noise = Some(self.floor_noise.unwrap_or(0.0).max(stray.abs()));
        }
        self.run.push(low.0, low.1);
        let cycles = self.learned_cycles + self.run.span();
        // Lows closer than half a window (the lows of two windows on either side of their
        // boundary) differ by the load's noise, not by drift: 8 cycles apart, their line said
        // 200 ppm, and every later low strayed from it as a shift.
        let Some(fit) = self.run.fit().filter(|_| cycles >= LOW_WINDOW / 2.0) else {
            return;
        };
        // A young run's drift is the line through its first and last lows, which is off by at
        // most how far they lie off the floor's true line: the most any low strayed (and until
        // one has been measured, the largest shift a run may hide), over the cycles learned
        // from. From ROBUST_LOWS lows on, the line below every low (see [`FloorFit`]) is off
        // by about the lows' mean height above it over the cycles between the two lows it
        // passes through: a low lifted by a slow patch of the machine neither tilts it nor
        // counts as the floor's noise for good (it strayed 1.35 % from the line through the
        // one before it, and made the edge rise 6.7 ppm a cycle too fast for the rest of a run).
        // The edge rises that much faster (rather too fast than too slow: too slow never snaps
        // again).
        let (rise, noise, base) = if self.run.len() >= ROBUST_LOWS {
            // A low that pulls the drift down may be a fall of the floor short of a shift (the
            // line below every low passes through it), which leaves the edge too slow for good:
            // how far it pulled the line over the cycles is noise too. (A pull up is not: an
            // edge too fast comes back down at the next call near the floor.)
            let drift = (self.learned_rise + fit.slope * self.run.span()) / cycles;
            if let Some(before) = self.drift {
                self.run_fall = self.run_fall.max((before - drift) * cycles);
            }
            (
                fit.slope * self.run.span(),
                fit.height.max(self.run_fall).max(self.learned_height),
                self.learned_cycles + fit.base,
            )
        } else {
            // (The two lines disagree when a low is lifted: the young run's noise is at least
            // that, over the run.)
            let chord = self.run.chord() * self.run.span();
            let stray = self.floor_noise.unwrap_or(SNAP_CAP);
            (
                chord,
                stray.max((fit.slope * self.run.span() - chord).abs()),
                cycles,
            )
        };
        let drift = ((self.learned_rise + rise) / cycles).clamp(-DRIFT_MAX, DRIFT_MAX);
        self.drift = Some(drift);
        self.drift_ns = drift * self.period_ns;
        let noise = noise.clamp(FLOOR_NOISE_MIN, SNAP_CAP);
        let margin = DRIFT_MARGIN + noise * (self.learned_runs + 1) as f64 / base;
        self.rise = (drift + margin).min(DRIFT_MAX);
        if !self.scouted {
            // The stream's first two lows were taken with no drift to take them along, so they
            // sit anywhere in their windows' last cycles: they only give the first drift. The
            // next low starts the first run learned from.
            self.scouted = true;
            self.run.clear();
        }
    }

    /// A run of lows starts at `low`.
    fn start_run(&mut self, low: (f64, f64)) {
        self.run.clear();
        self.run_fall = 0.0;
        self.run.push(low.0, low.1);
    }

    /// The run of lows under way ends: what it showed is kept if it had three lows or more (a
    /// run of two ended by a shift may be one low lifted by a slow patch: learned, the drift of
    /// its few hundred cycles was tens of ppm off and weighed on every later one).
    fn close_run(&mut self) {
        if self.run.len() >= 3
            && let Some(fit) = self.run.fit()
        {
            let slope = if self.run.len() >= ROBUST_LOWS {
                self.learned_height = self.learned_height.max(fit.height).max(self.run_fall);
                fit.slope
            } else {
                self.run.chord()
            };
            self.learned_cycles += self.run.span();
            self.learned_rise += slope * self.run.span();
            self.learned_runs += 1;
        }
        self.run.clear();
    }

    /// The block's duration changed: the line counts periods of another length, so the run of
    /// lows under way ends (what was learned stays: the drift is a share of the period).
    #[cold]
    fn new_period(&mut self, period_ns: f64) {
        self.close_run();
        self.window_low_ns = f64::INFINITY;
        self.window_snapped = false;
        self.drift_ns = self.drift.unwrap_or(0.0) * period_ns;
        self.line_ns = self.wake_ns;
    }

    /// Whether the last snap was large (see [`SNAP_CAP`]) and the call starting at `start_ns`
    /// lands at or above the edge as it was before it, or came after a `missed` cycle: landing
    /// below it then is as likely late in its own cycle (a host misses cycles when they are
    /// full), and confirms nothing.
    #[inline]
    fn unconfirmed(&self, start_ns: u64, missed: bool) -> bool {
        if self.last_snap_ns <= SNAP_CAP * self.period {
            return false;
        }
        if missed {
            return true;
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
        self.open_cycles = 0;
    }

    /// The edge's rise per cycle now (share of the period), for tests.
    pub fn rise(&self) -> f64 {
        self.rise
    }
}

/// What the fleet thread reads of one call (see [`CycleReader`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// From the host cycle's estimated wake-up to the call's start: the work done before Salve
    /// in this cycle (ns; 0 offline).
    pub wait_ns: u64,
    /// Whole periods since the previous call (1 steady, 2 or more after missed cycles, 0 within
    /// a burst or for the first call).
    pub cycles: u32,
    /// Whether the host calls about once a period, so that `wait_ns` is a position in a cycle.
    pub regular: bool,
    /// The call came late: a callback gap (see the module's doc).
    pub late: bool,
}

impl Reading {
    /// The time left in the cycle after the call of `record`: deadline - wait - busy (ns;
    /// negative when the cycle overran before Salve finished). 0 offline.
    pub fn slack_ns(&self, record: &BlockRecord) -> i64 {
        if record.deadline_ns == 0 {
            return 0;
        }
        record.deadline_ns as i64 - self.wait_ns as i64 - record.elapsed_ns as i64
    }
}

/// The previous call, as the reader keeps it.
#[derive(Debug, Clone, Copy)]
struct Previous {
    seq: u64,
    start_ns: u64,
    /// How long Salve's processing took (ns).
    elapsed_ns: u64,
    /// Its block's duration at the host's rate (ns).
    duration_ns: f64,
    /// How long it waited in its cycle before it began, as estimated (ns).
    wait_ns: u64,
}

/// The fleet thread's reading of one instance's block records, in the order the probe wrote
/// them: where each call landed in the host's cycle ([`CycleEstimator`]) and whether it came
/// late (a callback gap, counted in the instance's telemetry). The probe only stamps each call's
/// start; this work, a few hundred bytes of state per instance, stays off the audio thread.
///
/// A stream starts afresh at a record numbered 0 (an activation, a reset) and at a new block
/// size or rate. Across records lost to a full ring the cycle is followed on, but no gap is
/// judged over the hole.
#[derive(Debug)]
pub struct CycleReader {
    estimator: CycleEstimator,
    rules: ProbeConfig,
    gaps: GapCounter,
    previous: Option<Previous>,
    /// The calls' usual wait in their cycle and how far it strays from that (shares of the
    /// block's duration; means over about the last 16 calls, each call's part clipped to twice
    /// the stray).
    usual_wait: (f64, f64),
    /// The block size and rate the durations below are for, the host's period (at a sane rate)
    /// and the block's duration at the host's rate (ns).
    timing: (u32, u32, f64, f64),
}

impl CycleReader {
    /// A reader judging gaps by `rules` and counting them in `gaps`. Allocates nothing; the
    /// estimator lives inline.
    pub fn new(rules: ProbeConfig, gaps: GapCounter) -> Self {
        Self {
            estimator: CycleEstimator::default(),
            rules,
            gaps,
            previous: None,
            usual_wait: (0.0, 0.0),
            timing: (0, 0, f64::NAN, f64::NAN),
        }
    }

    /// Reads the next record of the instance's stream.
    pub fn read(&mut self, r: &BlockRecord) -> Reading {
        let before = self.previous.take();
        let previous = before.filter(|p| r.seq == p.seq + 1);
        let retimed = (self.timing.0, self.timing.1) != (r.samples, r.sample_rate.to_bits());
        if previous.is_none() {
            if before.is_some_and(|p| r.seq > p.seq) && !retimed {
                // Records lost to a full ring (the fleet thread was starved: a machine whose
                // audio threads take every core). The host's cycle went on: the edge is
                // carried across the hole, only the gap over it is not judged. Started afresh,
                // it would take the first call after the hole for the wake-up, and in a full
                // session read every wait as nothing.
                self.estimator.bridge();
            } else {
                self.follow_afresh();
            }
        }
        if retimed {
            let (period_s, duration_ns) = super::durations(r.samples, r.sample_rate);
            self.timing = (
                r.samples,
                r.sample_rate.to_bits(),
                period_s * 1e9,
                duration_ns,
            );
        }
        let (period_ns, duration_ns) = (self.timing.2, self.timing.3);
        self.previous = Some(Previous {
            seq: r.seq,
            start_ns: r.start_ns,
            elapsed_ns: r.elapsed_ns as u64,
            duration_ns,
            wait_ns: 0,
        });
        if r.deadline_ns == 0 {
            return Reading::default();
        }
        let previous_ns = previous.map_or(period_ns, |p| p.duration_ns);
        if let Some(p) = previous {
            // This call began as the previous one ended, and that one ended past its cycle's
            // end as estimated (it waited and ran longer than a period) or began so late that
            // both fall within one: a driver that recovers from an xrun by starting its cycle
            // afresh from now (one that skips to its next period calls a whole period later).
            // Unless the old grid explains the call as well: it lands where calls usually do
            // (a full session's cycle that overran and the next one's call, as late in its
            // cycle as ever). Taken for a restart wrongly, the edge lies later than the wake-up,
            // and the next earlier call snaps it back.
            let end = p.start_ns + p.elapsed_ns;
            let back_to_back =
                r.start_ns >= end && ((r.start_ns - end) as f64) < RESTART_WITHIN * p.duration_ns;
            if back_to_back && self.restarts(p, r.start_ns) {
                self.estimator.restart_cycle();
            }
        }
        let mut position = self.estimator.observe(r.start_ns, period_ns, previous_ns);
        let mut late = false;
        if let Some(p) = previous {
            let gap_ns = r.start_ns.saturating_sub(p.start_ns) as f64;
            let ratio = position.gap_ratio;
            let rules = &self.rules;
            // A host that calls once a period of its audio clock has no rhythm of long gaps:
            // each one is a cycle it missed, the hundredth in a row as much as the first.
            late = r.seq >= rules.warm_up_blocks as u64
                && ratio > rules.gap_min_periods
                && gap_ns < rules.max_gap_seconds as f64 * 1e9
                && (self.estimator.regular()
                    || !self.estimator.is_rhythm(ratio / rules.gap_factor));
            if late {
                self.gaps.count();
            }
            if r.events.contains(EventKind::BlockSizeChange)
                || r.events.contains(EventKind::SampleRateChange)
            {
                // Another period: the cycle is followed afresh from here.
                self.follow_afresh();
                position = self.estimator.observe(r.start_ns, period_ns, period_ns);
            }
        }
        if let Some(p) = &mut self.previous {
            p.wait_ns = position.wait_ns;
        }
        let wait = position.wait_ns as f64 / duration_ns;
        if wait.is_finite() {
            // Clipped: a call held up by a stall of the machine moves neither much.
            let (usual, strays) = &mut self.usual_wait;
            let clip = 2.0 * *strays + 0.01;
            let off = (wait.min(1.0) - *usual).clamp(-clip, clip);
            *usual += off / 16.0;
            *strays += (off.abs() - *strays) / 16.0;
        }
        Reading {
            wait_ns: position.wait_ns,
            cycles: position.cycles,
            regular: self.estimator.regular(),
            late,
        }
    }

    /// Follows the host's cycle afresh from the next call: the edge, and where calls usually land
    /// in the cycle (kept across a new block size, a restart 30 calls after the block doubled was
    /// taken for a late call and its waits read 42 % high).
    fn follow_afresh(&mut self) {
        self.estimator.restart();
        self.usual_wait = (0.0, 0.0);
    }

    /// Whether a call that began at `start_ns`, back to back with the previous one `p`, opens a
    /// cycle the host started afresh (see [`CycleReader::read`]).
    fn restarts(&self, p: Previous, start_ns: u64) -> bool {
        let overran = (p.wait_ns + p.elapsed_ns) as f64 > p.duration_ns;
        // (Saturating: another thread's clock may read a little behind.)
        let since_start = start_ns.saturating_sub(p.start_ns) as f64;
        let within_one = since_start < (1.0 - EARLY_SHARE) * p.duration_ns;
        // Where this call lands on the old grid (a call just before a wake-up is early).
        let on_grid = ((since_start + p.wait_ns as f64) / p.duration_ns).fract();
        let on_grid = if on_grid > 1.0 - EARLY_SHARE {
            on_grid - 1.0
        } else {
            on_grid
        };
        // Earlier than usual counts as much as later: a call back to back with a late one had
        // nothing run before it, so it is no early call of the old grid's next cycle (run
        // DE-own's preemption: 9.5 % of a period before the old wake-up, the next calls 19 %
        // before it, read as waits of 81 %).
        let (usual, strays) = self.usual_wait;
        let unexplained = (on_grid - usual).abs() > (RESTART_STRAYS * strays).max(RESTART_UNUSUAL);
        (overran || within_one) && unexplained
    }

    /// The edge's rise per cycle now (share of the period), for tests.
    pub fn rise(&self) -> f64 {
        self.estimator.rise()
    }

    /// Asks for the reader's state in the cache ahead of [`CycleReader::read`]: the fleet thread
    /// reads it once a tick, cold, and its lines can be fetched side by side with the others the
    /// tick waits for. All but the run of lows, which only a window's close reads (every 256
    /// cycles): three of the reader's thirteen lines.
    #[inline]
    pub fn prefetch(&self) {
        let start = (self as *const Self).cast::<u8>();
        let end = start.wrapping_add(std::mem::size_of::<Self>());
        let lows = (&self.estimator.run as *const FloorFit).cast::<u8>();
        let after = lows.wrapping_add(std::mem::size_of::<FloorFit>());
        crate::cache::prefetch(start, lows as usize - start as usize);
        crate::cache::prefetch(after, end as usize - after as usize);
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
