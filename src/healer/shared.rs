//! The healer's decisions as the audio thread sees them: a few atomics it reads at every block
//! boundary, and the reflex, the audio thread's own first-line reaction to a sustained overrun.

use super::level::{Level, VisTier};
use crate::probe::events::EventKind;
use crate::probe::record::BlockRecord;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// What the healer wants, readable by any thread at any time without waiting.
///
/// The values are written through two sides, each held by one thread: [`FleetSide`] (the fleet
/// thread: the tick's decisions) and [`AudioSide`] (the plugin: the audio thread's reflex and
/// panics, and the start of a session at `activate`). [`Decisions::new`] makes both; anyone
/// holding the `Arc` only reads.
///
/// Everything the audio thread reads at a block lies in the first cache line; the heartbeat,
/// which only the editor reads, in a line of its own. The fleet thread stores a value only when
/// it changes: a store takes the line away from the core that plays, which then waits for it at
/// its next block: with hundreds of instances, a tick that rewrote every instance's line made
/// the playing core wait for hundreds of lines in the cycles it overlapped.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Decisions {
    /// The quality level to play ([`Level`] as `u8`). The fleet publishes it by compare-and-swap;
    /// the reflex may lower it between two ticks; `activate` sets it while no audio runs.
    level: AtomicU8,
    /// The visualizer tier ([`VisTier`] as `u8`). Fleet.
    vis: AtomicU8,
    /// Whether the healer acts (Auto mode, realtime): the reflex only fires when it does. Fleet.
    acting: AtomicBool,
    /// The session's cycle already overruns: a step down crossfades the short way, as after
    /// the reflex. Fleet.
    urgent: AtomicBool,
    /// Bumped by the reflex each time it lowers the level. Audio.
    reflex_count: AtomicU64,
    /// Panics the audio thread has caught (it writes this, after the block's record is pushed).
    panics_raised: AtomicU64,
    /// Panics the healer has taken into account: until it catches up with `panics_raised`, the
    /// audio thread stays in safe mode on its own. Fleet.
    panics_seen: AtomicU64,
    /// Bumped by the fleet thread at every tick of this instance: its heartbeat.
    ticks: Heartbeat,
}

/// A counter in a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Heartbeat(AtomicU64);

/// Stores `value` unless `atomic` holds it already (see [`Decisions`]: a store of the same value
/// costs the playing core as much as any other).
macro_rules! store_if_changed {
    ($atomic:expr, $value:expr, $order:expr) => {{
        let value = $value;
        if $atomic.load(Ordering::Relaxed) != value {
            $atomic.store(value, $order);
        }
    }};
}

impl Decisions {
    /// The decisions, starting at `level`, with the fleet's side and the audio side.
    pub fn new(level: Level) -> (Arc<Self>, FleetSide, AudioSide) {
        let d = Arc::new(Self {
            level: AtomicU8::new(level as u8),
            vis: AtomicU8::new(VisTier::Full as u8),
            acting: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            reflex_count: AtomicU64::new(0),
            panics_raised: AtomicU64::new(0),
            panics_seen: AtomicU64::new(0),
            ticks: Heartbeat::default(),
        });
        (d.clone(), FleetSide(d.clone()), AudioSide(d))
    }

    pub fn level(&self) -> Level {
        Level::from_u8(self.level.load(Ordering::Acquire))
    }

    pub fn vis(&self) -> VisTier {
        VisTier::from_u8(self.vis.load(Ordering::Relaxed))
    }

    /// The fleet's ticks of this instance so far (its heartbeat).
    pub fn ticks(&self) -> u64 {
        self.ticks.0.load(Ordering::Relaxed)
    }
}

/// What a fleet tick reads before it decides.
#[derive(Debug, Clone, Copy)]
pub struct TickStart {
    /// The level as the tick found it: a reflex step down made since stands.
    pub level_seen: u8,
    pub panics_raised: u64,
    pub reflex_count: u64,
}

/// The fleet thread's side of one instance's [`Decisions`]. Cloned into each fleet membership
/// of the instance (one per activation); only the fleet thread uses it.
#[derive(Debug, Clone)]
pub struct FleetSide(Arc<Decisions>);

impl FleetSide {
    /// Asks for the shared decisions in the cache (see [`crate::cache`]).
    #[inline]
    pub fn prefetch(&self) {
        crate::cache::prefetch_value(&*self.0);
    }

    /// Reads what the tick needs before it looks at the records.
    pub fn begin_tick(&self) -> TickStart {
        let d = &self.0;
        TickStart {
            panics_raised: d.panics_raised.load(Ordering::Acquire),
            level_seen: d.level.load(Ordering::Acquire),
            reflex_count: d.reflex_count.load(Ordering::Acquire),
        }
    }

    /// Publishes the tick's level unless the audio thread's reflex changed it since the tick
    /// read it: the reflex's step down stands, and the next tick adopts it.
    pub fn publish_level(&self, start: &TickStart, level: Level) {
        if level as u8 == start.level_seen {
            // Nothing to change: the level is what the tick read, or the reflex has moved it.
            return;
        }
        let _ = self.0.level.compare_exchange(
            start.level_seen,
            level as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Lowers the level to `cap` now if it is above it: the fleet's step down for the session,
    /// heard without waiting for this instance's next tick. Never raises it; a level already
    /// at or below `cap` (a reflex step, safe mode) stands.
    pub fn lower_to(&self, cap: Level) {
        let cap = cap as u8;
        let _ = self
            .0
            .level
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |level| {
                (level > cap).then_some(cap)
            });
    }

    pub fn publish_vis(&self, vis: VisTier) {
        store_if_changed!(self.0.vis, vis as u8, Ordering::Relaxed);
    }

    pub fn publish_urgent(&self, urgent: bool) {
        store_if_changed!(self.0.urgent, urgent, Ordering::Relaxed);
    }

    pub fn publish_acting(&self, acting: bool) {
        store_if_changed!(self.0.acting, acting, Ordering::Relaxed);
    }

    pub fn publish_panics_seen(&self, seen: u64) {
        store_if_changed!(self.0.panics_seen, seen, Ordering::Release);
    }

    /// The tick is done (the heartbeat the editor watches, in its own cache line).
    pub fn beat(&self) {
        self.0.ticks.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The plugin's side of its [`Decisions`]: read by the audio thread at every block, written by
/// its reflex and panic handler, and reset by `activate` (main thread, while no audio runs).
#[derive(Debug)]
pub struct AudioSide(Arc<Decisions>);

impl AudioSide {
    /// Asks for the shared decisions in the cache (see [`crate::cache`]): the first line, all
    /// that the audio thread reads.
    #[inline]
    pub fn prefetch(&self) {
        crate::cache::prefetch(&*self.0 as *const Decisions, 64);
    }

    pub fn level(&self) -> Level {
        self.0.level()
    }

    pub fn vis(&self) -> VisTier {
        self.0.vis()
    }

    pub fn panics_seen(&self) -> u64 {
        self.0.panics_seen.load(Ordering::Acquire)
    }

    /// Whether a step down now should crossfade the short way (the session already overruns).
    pub fn urgent(&self) -> bool {
        self.0.urgent.load(Ordering::Relaxed)
    }

    /// How many panics the audio thread has caught (after the block's record was pushed).
    pub fn raise_panics(&self, raised: u64) {
        store_if_changed!(self.0.panics_raised, raised, Ordering::Release);
    }

    /// The level a new session starts at (`activate`, on the main thread, no audio running).
    pub fn start_at(&self, level: Level) {
        self.0.level.store(level as u8, Ordering::Release);
    }

    /// The reflex's reads: whether the healer acts, and the level now.
    fn acting(&self) -> bool {
        self.0.acting.load(Ordering::Relaxed)
    }

    /// The reflex lowers the level from `current` to `target`, unless it changed meanwhile.
    fn step_down(&self, current: u8, target: u8) -> bool {
        let lowered = self
            .0
            .level
            .compare_exchange(current, target, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if lowered {
            self.0.reflex_count.fetch_add(1, Ordering::Release);
        }
        lowered
    }
}

/// Consecutive overrun blocks after which the reflex steps down without waiting for the healer.
pub const REFLEX_OVERRUNS: u32 = 2;

/// A call that takes more than this many periods...
pub const HELD_PERIODS: f32 = 4.0;
/// ...and more than this many times the call before it was held up by the machine, not slowed
/// by Salve's own work (which grows with its load, not 10-fold from one block to the next).
pub const HELD_JUMP: u64 = 8;

/// The audio thread's reflex: two overruns in a row mean the load is already past the budget,
/// and the healer, ticking at 50 Hz, could take another 15 blocks to react. The reflex lowers the
/// level by one at once (never into safe mode) and leaves everything else to the healer, which
/// adopts the change at its next tick. Wait-free: a load, a compare-exchange, a counter.
///
/// A call the machine held up (a virtual machine's or the system's stall inside `process()`:
/// many periods, and many times the call before it) neither counts nor breaks a run of
/// overruns: stepping down cannot shorten the next stall. A longer hold is two such calls in a
/// row, and the second, no longer many times the one before it, counts as one overrun.
#[derive(Debug, Default)]
pub struct Reflex {
    consecutive: u32,
    /// The last call's own time (ns).
    last_elapsed_ns: u32,
}

impl Reflex {
    /// Looks at the block just processed; returns whether it lowered the level.
    pub fn observe(&mut self, record: &BlockRecord, decisions: &AudioSide) -> bool {
        let held = record.load > HELD_PERIODS
            && u64::from(record.elapsed_ns) > HELD_JUMP * u64::from(self.last_elapsed_ns);
        self.last_elapsed_ns = record.elapsed_ns;
        if held {
            return false;
        }
        if !record.events.contains(EventKind::Overrun) {
            self.consecutive = 0;
            return false;
        }
        self.consecutive += 1;
        if self.consecutive < REFLEX_OVERRUNS || !decisions.acting() {
            return false;
        }
        self.consecutive = 0;
        let current = decisions.0.level.load(Ordering::Acquire);
        let heard = Level::from_ratio(record.ratio) as u8;
        if heard > current {
            // A step down is still crossfading (both tiers run, so its blocks cost more): wait
            // for it to be heard rather than stepping again on the cost of the switch itself.
            return false;
        }
        // Step down from what was heard (the healer's decision may not be applied yet).
        let target = current
            .min(heard)
            .saturating_sub(1)
            .max(Level::Minimal as u8);
        if target >= current {
            return false;
        }
        decisions.step_down(current, target)
    }
}

/// The reader's watch over an instance's heartbeat (the fleet's tick count in [`Decisions`]):
/// whether the fleet has stopped ticking an instance that plays. The audio thread then keeps
/// playing the last decision, and the panel says so. Only time during which blocks were played
/// counts, so a paused transport or an inactive instance is never called stale.
#[derive(Debug, Default)]
pub struct HeartbeatWatch {
    ticks: u64,
    blocks: u64,
    last_s: Option<f64>,
    /// Seconds of playing since the tick count last moved.
    playing_s: f64,
}

impl HeartbeatWatch {
    /// Playing this long without a tick is a stopped fleet (it ticks every 20-60 ms).
    pub const STALE_S: f64 = 1.0;

    /// Looks at the counters at `now_s` (any clock, in seconds): the instance's tick count and
    /// the blocks it has played. Returns whether the heartbeat has stopped.
    pub fn observe(&mut self, now_s: f64, ticks: u64, blocks: u64) -> bool {
        let dt = self.last_s.map_or(0.0, |last| (now_s - last).max(0.0));
        self.last_s = Some(now_s);
        if ticks != self.ticks {
            self.ticks = ticks;
            self.playing_s = 0.0;
        } else if blocks != self.blocks {
            self.playing_s += dt;
        }
        self.blocks = blocks;
        self.playing_s > Self::STALE_S
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::events::Events;

    fn record(overrun: bool, ratio: u8) -> BlockRecord {
        let mut events = Events::default();
        if overrun {
            events.insert(EventKind::Overrun);
        }
        BlockRecord {
            ratio,
            events,
            ..Default::default()
        }
    }

    #[test]
    fn what_the_audio_thread_reads_lies_in_one_cache_line_apart_from_the_heartbeat() {
        assert_eq!(std::mem::align_of::<Decisions>(), 64);
        for offset in [
            std::mem::offset_of!(Decisions, level),
            std::mem::offset_of!(Decisions, vis),
            std::mem::offset_of!(Decisions, acting),
            std::mem::offset_of!(Decisions, urgent),
            std::mem::offset_of!(Decisions, reflex_count),
            std::mem::offset_of!(Decisions, panics_raised),
            std::mem::offset_of!(Decisions, panics_seen),
        ] {
            assert!(offset < 64, "{offset}");
        }
        assert_eq!(std::mem::offset_of!(Decisions, ticks), 64);
    }

    #[test]
    fn a_tick_that_changes_nothing_keeps_every_value() {
        let (d, fleet, audio) = Decisions::new(Level::High);
        fleet.publish_acting(true);
        fleet.publish_panics_seen(2);
        for _ in 0..3 {
            let start = fleet.begin_tick();
            fleet.publish_urgent(false);
            fleet.publish_level(&start, Level::High);
            fleet.publish_vis(VisTier::Full);
            fleet.publish_acting(true);
            fleet.publish_panics_seen(2);
            fleet.beat();
        }
        assert_eq!(
            (d.level(), d.vis(), d.ticks()),
            (Level::High, VisTier::Full, 3)
        );
        assert_eq!((audio.panics_seen(), audio.urgent()), (2, false));
        // A change is still published, and a reflex step between read and publish stands.
        let start = fleet.begin_tick();
        fleet.publish_level(&start, Level::Ultra);
        assert_eq!(d.level(), Level::Ultra);
        let start = fleet.begin_tick();
        audio.start_at(Level::Medium);
        fleet.publish_level(&start, Level::Ultra);
        assert_eq!(d.level(), Level::Medium);
    }

    #[test]
    fn the_fleets_cap_lowers_the_level_at_once_and_never_raises_it() {
        let (d, fleet, audio) = Decisions::new(Level::Ultra);
        fleet.publish_acting(true);
        fleet.lower_to(Level::Medium);
        assert_eq!(d.level(), Level::Medium);
        fleet.lower_to(Level::High);
        assert_eq!(
            d.level(),
            Level::Medium,
            "a cap above the level raises nothing"
        );
        // The reflex steps below the cap (two overruns heard at 4x): its step stands.
        let mut reflex = Reflex::default();
        assert!(!reflex.observe(&record(true, 4), &audio));
        assert!(reflex.observe(&record(true, 4), &audio));
        assert_eq!(d.level(), Level::Low);
        fleet.lower_to(Level::Medium);
        assert_eq!(d.level(), Level::Low);
    }

    #[test]
    fn two_overruns_in_a_row_step_down_once() {
        let (d, fleet, d_audio) = Decisions::new(Level::Ultra);
        fleet.publish_acting(true);
        let mut r = Reflex::default();
        assert!(!r.observe(&record(true, 16), &d_audio));
        assert!(!r.observe(&record(false, 16), &d_audio));
        assert!(!r.observe(&record(true, 16), &d_audio));
        assert!(r.observe(&record(true, 16), &d_audio));
        assert_eq!(d.level(), Level::High);
        assert_eq!(fleet.begin_tick().reflex_count, 1);
    }

    #[test]
    fn a_step_down_still_crossfading_is_waited_for() {
        let (d, fleet, d_audio) = Decisions::new(Level::Ultra);
        fleet.publish_acting(true);
        let mut r = Reflex::default();
        r.observe(&record(true, 16), &d_audio);
        assert!(r.observe(&record(true, 16), &d_audio));
        assert_eq!(d.level(), Level::High);
        // The switch to 8x runs while 16x is still heard: its overruns do not step again.
        for _ in 0..4 {
            assert!(!r.observe(&record(true, 16), &d_audio));
        }
        assert_eq!(d.level(), Level::High);
        // Once 8x is heard and still overruns, the reflex goes on.
        r.observe(&record(true, 8), &d_audio);
        assert!(r.observe(&record(true, 8), &d_audio));
        assert_eq!(d.level(), Level::Medium);
    }

    /// A call of `periods` periods, `overrun` flagged by the probe when past its budget.
    fn timed(periods: f32, ratio: u8) -> BlockRecord {
        let period_ns = 1_333_333.0;
        BlockRecord {
            elapsed_ns: (periods * period_ns) as u32,
            deadline_ns: period_ns as u64,
            load: periods,
            ..record(periods > 0.7, ratio)
        }
    }

    #[test]
    fn calls_the_machine_held_up_are_not_salves_overload() {
        let (d, fleet, d_audio) = Decisions::new(Level::Ultra);
        fleet.publish_acting(true);
        let mut r = Reflex::default();
        for _ in 0..10 {
            assert!(!r.observe(&timed(0.03, 16), &d_audio));
        }
        // Two calls in a row held for 12 and 10 periods (Salve's own calls take 3 % of one):
        // the second counts as one overrun, not two.
        assert!(!r.observe(&timed(12.0, 16), &d_audio));
        assert!(!r.observe(&timed(10.0, 16), &d_audio));
        assert!(!r.observe(&timed(0.03, 16), &d_audio));
        assert_eq!(d.level(), Level::Ultra);
        // A stall that goes on, three calls in a row: the reflex acts at the third.
        for periods in [12.0, 10.0] {
            r.observe(&timed(periods, 16), &d_audio);
        }
        assert!(r.observe(&timed(11.0, 16), &d_audio));
        assert_eq!(d.level(), Level::High);
        // Salve's own load rising, however far, counts at every call (0.9, then 5 periods), and
        // so does a jump from 30 % to 160 % of the period (the spikes).
        for [usual, first, second] in [[0.3, 0.9, 5.0], [0.3, 1.6, 1.6]] {
            let (d, fleet, d_audio) = Decisions::new(Level::Ultra);
            fleet.publish_acting(true);
            let mut r = Reflex::default();
            r.observe(&timed(usual, 16), &d_audio);
            r.observe(&timed(first, 16), &d_audio);
            assert!(r.observe(&timed(second, 16), &d_audio), "{first}, {second}");
            assert_eq!(d.level(), Level::High);
        }
    }

    #[test]
    fn never_below_minimal_and_idle_unless_the_healer_acts() {
        let (d, fleet, d_audio) = Decisions::new(Level::Minimal);
        let mut r = Reflex::default();
        for _ in 0..4 {
            assert!(!r.observe(&record(true, 1), &d_audio));
        }
        fleet.publish_acting(true);
        for _ in 0..4 {
            assert!(!r.observe(&record(true, 1), &d_audio));
        }
        assert_eq!(d.level(), Level::Minimal);
    }

    #[test]
    fn a_heartbeat_that_stops_while_playing_is_stale_after_a_second() {
        let mut w = HeartbeatWatch::default();
        let (mut ticks, mut blocks) = (0, 0);
        // Ticking and playing, frames every 16 ms: never stale.
        for frame in 0..200 {
            ticks += 1;
            blocks += 12;
            assert!(!w.observe(frame as f64 * 0.016, ticks, blocks));
        }
        // The fleet stops after its tick at frame 199; the audio goes on: stale once a second
        // has played since that tick.
        let last_tick_s = 199.0 * 0.016;
        let stale_at = (200..400)
            .map(|frame| {
                blocks += 12;
                let now = frame as f64 * 0.016;
                (now, w.observe(now, ticks, blocks))
            })
            .find(|&(_, stale)| stale)
            .map(|(now, _)| now - last_tick_s);
        assert!(
            stale_at.is_some_and(|s| (1.0..1.05).contains(&s)),
            "{stale_at:?}"
        );
        // One tick and it is well again.
        assert!(!w.observe(8.0, ticks + 1, blocks + 12));
    }

    #[test]
    fn time_without_audio_does_not_count() {
        let mut w = HeartbeatWatch::default();
        // No ticks and no blocks (inactive, or the transport stopped) for a minute: not stale.
        for frame in 0..3600 {
            assert!(!w.observe(frame as f64 * 0.016, 5, 100));
        }
        // Half a second of playing without a tick is still within the budget.
        for k in 1..=30 {
            assert!(!w.observe(57.6 + k as f64 * 0.016, 5, 100 + k));
        }
    }
}
