//! The fleet: every Salve instance in the host process, healed by one background thread.
//!
//! An instance joins at `activate` and leaves at `deactivate` or drop (its [`Membership`] is
//! dropped). One thread (`salve-fleet`) runs while any instance is a member: every 20 ms (longer
//! past 64 members: [`tick_interval`]) it
//! drains each member's block records, ticks its [`Healer`] and checkpoints, publishes its
//! decisions, then writes the journal checkpoints of all members in one batch, holding no lock
//! the editor or the audio thread needs. N instances cost one thread, whatever N.
//!
//! The audio thread never touches the registry: it only writes its own records ring and reads
//! its own decision atomics. A decision is published with a compare-and-swap from the level the
//! tick started from, so a reflex step down made by the audio thread during the tick is never
//! overwritten (the next tick adopts it).
//!
//! Leaving is prompt: the member is taken out of the registry, its final checkpoint is written
//! on the calling thread (one journal write), and the thread is woken rather than waited out;
//! when the last member leaves, it ends.

use super::level::Level;
use super::session::{Measurer, Sample, ShedPolicy};
use super::shared::FleetSide;
use super::{Healer, Mode, TickInputs};
use crate::cache;
use crate::probe::clock::Clock;
use crate::probe::cycle::{CycleReader, Reading};
use crate::probe::events::EventKind;
use crate::probe::record::BlockRecord;
use crate::sync::lock;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the fleet ticks, up to [`TICK_MEMBERS`] members.
pub const TICK_INTERVAL: Duration = Duration::from_millis(20);
/// Beyond this many members the tick interval grows with their number, up to three times
/// [`TICK_INTERVAL`]. Each member's tick costs about a microsecond however few blocks it played
/// (its healer, checkpointer and rings are cold in the cache after 20 ms): at 50 Hz, 128
/// members playing one block a tick took 0.5-0.9 % of a core (`PER_BATCH=1 cargo bench --bench
/// fleet`). The blocks' own cost does not change;
/// reactions within an instance do not wait for the fleet (the audio thread's reflex), and the
/// session policy's evidence per tick grows with the interval.
pub const TICK_MEMBERS: usize = 64;

/// The fleet's tick interval with `members` members (see [`TICK_MEMBERS`]): the base rate while
/// it is `hurried` (see [`super::session::ShedPolicy::hurried`]).
pub fn tick_interval(members: usize, hurried: bool) -> Duration {
    let scale = (members as u32).div_ceil(TICK_MEMBERS as u32).clamp(1, 3);
    if hurried {
        TICK_INTERVAL
    } else {
        TICK_INTERVAL * scale
    }
}
/// The most instances the fleet heals at once; more still play, at their ceiling, unhealed.
pub const CAPACITY: usize = 1024;
/// The fleet thread's name, as `/proc/self/task/*/comm` shows it.
pub const THREAD_NAME: &str = "salve-fleet";
/// The routine journal writes of the whole process stay near this many a second: each is a
/// file written, synced and renamed, and 128 instances writing every 3 s made journal I/O a
/// quarter of the fleet thread's time. With many instances each one's routine interval grows
/// instead (128: every 16 s, each instance at its own 0.5-1.5 times that, so that instances
/// started together do not write together); checkpoints after significant incidents are still
/// written at once.
pub const ROUTINE_WRITES_PER_S: f64 = 8.0;
/// The most journal writes in one tick; the others stay pending for the next ticks, taken in
/// turn. Each is synced to the disk: when 900 instances started together, their first
/// checkpoints held one tick for a second, the fleet was blind all that while, and their
/// rings overflowed.
pub const JOURNAL_WRITES_PER_TICK: usize = 8;

/// What one instance hands the fleet when it joins.
pub struct Parts {
    pub healer: Arc<Mutex<Healer>>,
    pub checkpointer: Arc<Mutex<dyn super::Keeper>>,
    pub records: rtrb::Consumer<BlockRecord>,
    /// Reads the records in order: where each call landed in its host's cycle, and callback
    /// gaps (made by the instance's probe).
    pub cycle: CycleReader,
    /// The fleet's side of the instance's decisions.
    pub decisions: FleetSide,
    /// Where the panel's view of the healer goes.
    pub view: super::view::Publisher,
    /// The fleet's end of the instance's requests and report.
    pub requests: super::requests::Fleet,
    /// The instance's own clock (its healer's time base)...
    pub clock: Box<dyn Clock>,
    /// ...and where its zero lies on the process-wide time line, to place its blocks in the
    /// session's cycles.
    pub offset_ns: u64,
}

/// The session as the panel shows it (written by the fleet thread at every tick).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionView {
    /// Instances in the fleet.
    pub instances: usize,
    /// The last tick's measure of the session's cycles (none when no host calls regularly).
    pub measured: super::session::Measured,
    /// The fleet's quality cap.
    pub cap: Option<Level>,
    /// Instances heard at each level (safe mode first).
    pub levels: [u16; 6],
    /// What the fleet last did.
    pub last: Option<super::session::Shed>,
}

static VIEW: Mutex<Option<SessionView>> = Mutex::new(None);
/// The fleet's quality cap ([`Level`] as `u8`), applied to every instance in Auto.
static CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(Level::Ultra as u8);

/// Whether the session's cycle already overruns, so that the instances step down the short
/// way ([`ShedPolicy::urgent`]). Written by the fleet thread only, like [`CAP`].
static URGENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The session as the fleet saw it at its last tick (`None` while no instance is active).
pub fn session_view() -> Option<SessionView> {
    lock(&VIEW).clone()
}

/// A member's state, touched by the fleet thread at each tick and by the member's own leaving.
struct Member {
    id: u64,
    parts: Mutex<MemberState>,
}

struct MemberState {
    parts: Parts,
    /// The factor heard in its last realtime block.
    heard: Option<u8>,
    stream: StreamStart,
    /// The editor's frame count at the last tick (see `Requests::editor_frames`).
    editor_frames_seen: u64,
    /// Whether the fleet's cap applied at the last tick (Auto, in real time).
    capped: bool,
    #[cfg(feature = "chaos")]
    chaos_log: Option<super::chaos_log::ChaosLog>,
}

/// The registry of the process's members and its thread.
struct Registry {
    members: Vec<Arc<Member>>,
    thread: Option<JoinHandle<()>>,
    next_id: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    members: Vec::new(),
    thread: None,
    next_id: 0,
});

fn registry() -> MutexGuard<'static, Registry> {
    lock(&REGISTRY)
}

/// An instance's place in the fleet; leaving when dropped.
pub struct Membership {
    member: Arc<Member>,
}

/// Joins the fleet, starting its thread if this is the first member. Fails (and the instance
/// plays unhealed, at its ceiling) only if the fleet is full or no thread could be started.
pub fn join(parts: Parts) -> std::io::Result<Membership> {
    let mut registry = registry();
    if registry.members.len() >= CAPACITY {
        return Err(std::io::Error::other(format!(
            "the fleet already heals {CAPACITY} instances"
        )));
    }
    registry.next_id += 1;
    let member = Arc::new(Member {
        id: registry.next_id,
        parts: Mutex::new(MemberState {
            heard: None,
            stream: StreamStart::default(),
            editor_frames_seen: 0,
            capped: false,
            #[cfg(feature = "chaos")]
            chaos_log: super::chaos_log::ChaosLog::open(parts.offset_ns),
            parts,
        }),
    });
    if registry.thread.is_none() {
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(run)?;
        registry.thread = Some(thread);
    }
    registry.members.push(member.clone());
    if let Some(t) = &registry.thread {
        t.thread().unpark();
    }
    Ok(Membership { member })
}

/// How many instances the fleet heals now.
pub fn members() -> usize {
    registry().members.len()
}

impl Drop for Membership {
    fn drop(&mut self) {
        {
            let mut registry = registry();
            registry.members.retain(|m| m.id != self.member.id);
            if let Some(t) = &registry.thread {
                // With no members left it ends at once.
                t.thread().unpark();
            }
        }
        // The final checkpoint, sentinel cleared, written here: the thread may be mid-tick on
        // this member (microseconds), never mid-journal (it writes without this lock).
        let mut state = lock(&self.member.parts);
        let _ = catch_unwind(AssertUnwindSafe(|| state.finish()));
    }
}

/// The fleet thread: ticks every member until none is left.
fn run() {
    let mut members: Vec<Arc<Member>> = Vec::with_capacity(CAPACITY);
    let mut journal: Vec<Arc<Mutex<dyn super::Keeper>>> = Vec::with_capacity(CAPACITY);
    let mut samples: Vec<Sample> = Vec::with_capacity(CAPACITY * 64);
    // One buffer for every member's records: it stays in the cache from one member to the next
    // (with a buffer per member, each tick wrote into 128 buffers all cold since the last tick).
    let mut scratch = Scratch::default();
    let mut policy = ShedPolicy::default();
    let mut measurer = Measurer::default();
    let clock = crate::probe::clock::MonotonicClock::new();
    #[cfg(feature = "chaos")]
    let mut fleet_log = super::chaos_log::FleetLog::open();
    CAP.store(Level::Ultra as u8, Ordering::Relaxed);
    URGENT.store(false, Ordering::Relaxed);
    let mut next_write = 0usize;
    loop {
        members.clear();
        {
            let mut registry = registry();
            if registry.members.is_empty() {
                // Ends under the lock: a member joining now starts a new thread.
                registry.thread = None;
                *lock(&VIEW) = None;
                return;
            }
            members.extend(registry.members.iter().cloned());
        }
        journal.clear();
        samples.clear();
        let mut levels = [0u16; 6];
        let interval_s = members.len() as f64 / ROUTINE_WRITES_PER_S;
        for (index, member) in members.iter().enumerate() {
            // Each member's state has left the cache since the last tick, and its tick reads it
            // a pointer at a time. Asked for ahead, the misses overlap the member before: the
            // member two ahead, then (its lines now here) what the next one points to.
            if let Some(ahead) = members.get(index + 2) {
                cache::prefetch(Arc::as_ptr(ahead), std::mem::size_of::<Member>());
            }
            if let Some(Ok(next)) = members.get(index + 1).map(|m| m.parts.try_lock()) {
                next.prefetch();
            }
            let mut state = lock(&member.parts);
            if state.tick(index as u32, interval_s, &mut scratch, &mut samples) {
                journal.push(state.parts.checkpointer.clone());
            }
            if let Some(f) = state.heard {
                levels[Level::from_ratio(f) as usize] += 1;
            }
        }
        // The session: where the instances' blocks landed in their host's cycles, and the
        // fleet's cap for the next tick.
        let measured = measurer.measure(&samples);
        let now_s = clock.now_ns() as f64 / 1e9;
        let cap_before = policy.cap;
        policy.tick(now_s, &measured);
        CAP.store(policy.cap as u8, Ordering::Relaxed);
        URGENT.store(policy.urgent, Ordering::Relaxed);
        if policy.cap < cap_before {
            // A step down is heard now, not at each member's next tick: a tick later (20-60
            // ms) an overloaded session has dropped a cycle in two meanwhile.
            for member in &members {
                lock(&member.parts).impose(policy.cap, policy.urgent);
            }
        }
        let view = SessionView {
            instances: members.len(),
            measured,
            cap: Some(policy.cap),
            levels,
            last: policy.news(now_s),
        };
        #[cfg(feature = "chaos")]
        if let Some(log) = &mut fleet_log {
            log.tick(clock.now_ns() + clock.process_offset_ns(), &view);
        }
        *lock(&VIEW) = Some(view);
        // The journal writes of the members, in one batch, with no healer locked.
        write_journals(&journal, &mut next_write);
        std::thread::park_timeout(tick_interval(members.len(), policy.hurried()));
    }
}

/// Writes the waiting checkpoints of `journal` (the members with one), at most
/// [`JOURNAL_WRITES_PER_TICK`], starting where the last call's turn stopped (`next`): the rest
/// stay waiting for the next ticks.
fn write_journals(journal: &[Arc<Mutex<dyn super::Keeper>>], next: &mut usize) {
    let from = *next % journal.len().max(1);
    let count = journal.len().min(JOURNAL_WRITES_PER_TICK);
    for checkpointer in journal.iter().cycle().skip(from).take(count) {
        lock(checkpointer).flush();
    }
    *next = next.wrapping_add(JOURNAL_WRITES_PER_TICK);
}

/// The fleet thread's buffers for one member's tick, shared by all members: they stay in the
/// cache from one member to the next.
struct Scratch {
    /// A copy of the records, when they must be one slice or carry a callback gap.
    batch: Vec<BlockRecord>,
    /// What the member's [`CycleReader`] read of each record.
    readings: Vec<Reading>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            batch: Vec::with_capacity(crate::probe::RING_CAPACITY),
            readings: Vec::with_capacity(crate::probe::RING_CAPACITY),
        }
    }
}

/// Reads `first` then `second` (the records as they lie in the ring) with `cycle`, and returns
/// them as one slice with their readings: `first` itself, unless they wrap around the ring's end
/// or a call came late. Then they are copied into `scratch.batch`, the late calls marked with
/// [`EventKind::CallbackGap`] for the healer.
fn read<'a>(
    cycle: &mut CycleReader,
    first: &'a [BlockRecord],
    second: &[BlockRecord],
    scratch: &'a mut Scratch,
) -> (&'a [BlockRecord], &'a [Reading]) {
    let Scratch { batch, readings } = scratch;
    readings.clear();
    let mut late = false;
    for r in first.iter().chain(second) {
        let reading = cycle.read(r);
        late |= reading.late;
        readings.push(reading);
    }
    if second.is_empty() && !late {
        return (first, readings);
    }
    batch.clear();
    batch.extend_from_slice(first);
    batch.extend_from_slice(second);
    for (r, reading) in batch.iter_mut().zip(readings.iter()) {
        if reading.late {
            r.events.insert(EventKind::CallbackGap);
        }
    }
    (batch, readings)
}

/// The most of a healer or a checkpointer asked for ahead of a member's tick (bytes).
const PREFETCH_MAX: usize = 2048;

impl MemberState {
    /// Asks for what this member's tick reads, behind its pointers (see [`crate::cache`]).
    fn prefetch(&self) {
        let p = &self.parts;
        p.cycle.prefetch();
        cache::prefetch_value(p.records.buffer());
        p.decisions.prefetch();
        p.requests.prefetch();
        let healer = &*p.healer;
        cache::prefetch(healer, std::mem::size_of_val(healer).min(PREFETCH_MAX));
        let keeper = &*p.checkpointer;
        cache::prefetch(keeper, std::mem::size_of_val(keeper).min(PREFETCH_MAX));
    }

    /// One tick of this member, its realtime blocks placed in `samples` as member `instance`;
    /// returns whether a checkpoint waits for the journal.
    ///
    /// The records are read where they lie in the ring and released at the end of the tick
    /// (copying them out was a sixth of the fleet thread's time at 128 members); only a batch
    /// that wraps around the ring's end, or has a late call to mark, is copied (see [`read`]).
    fn tick(
        &mut self,
        instance: u32,
        routine_interval_s: f64,
        scratch: &mut Scratch,
        samples: &mut Vec<Sample>,
    ) -> bool {
        let p = &mut self.parts;
        p.cycle.prefetch();
        // Before the records: every panic counted here has its record in the ring (or lost
        // with it), so the healer can tell a lost one. The level too, so that a reflex step
        // made during the tick is not overwritten.
        let start = p.decisions.begin_tick();
        let chunk = p.records.read_chunk(p.records.slots()).ok();
        let (first, second) = chunk.as_ref().map_or((&[][..], &[][..]), |c| c.as_slices());
        // The records were written on the audio thread's core: ask for all their lines at once
        // rather than one miss per record in turn.
        cache::prefetch(first, std::mem::size_of_val(first));
        cache::prefetch(second, std::mem::size_of_val(second));
        let (records, readings) = read(&mut p.cycle, first, second, scratch);
        let requests = &p.requests;
        let mode = if requests.offline() {
            Mode::Off
        } else {
            requests.mode()
        };
        let inputs = TickInputs {
            mode,
            ceiling: requests.ceiling(),
            gui_frame_ms: requests.gui_frame_ms(),
            reflex_count: start.reflex_count,
            panics_raised: start.panics_raised,
            bypassed: requests.bypassed(),
        };
        let now = p.clock.now_ns();
        let batch = records;
        #[cfg(feature = "chaos")]
        let chaos_log = &mut self.chaos_log;
        let editor_frames_seen = &mut self.editor_frames_seen;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut healer = lock(&p.healer);
            if requests.take_acknowledge() {
                healer.acknowledge();
            }
            if requests.take_reset_learning() {
                healer.reset_learning();
            }
            let d = healer.tick(now, batch, inputs);
            let frames = requests.editor_frames();
            if frames != *editor_frames_seen {
                *editor_frames_seen = frames;
                p.view.publish(&healer);
            }
            // Offline renders are not sessions to recover: no checkpoints from them.
            let realtime = batch.iter().any(|r| r.deadline_ns > 0);
            let mut cp = lock(&p.checkpointer);
            cp.spread_routine_writes(routine_interval_s);
            healer.checkpoint_tick(&mut *cp, realtime, inputs.ceiling);
            #[cfg(feature = "chaos")]
            if let Some(log) = chaos_log {
                log.tick(batch, readings, &healer);
            }
            (
                d,
                healer.panics_seen,
                cp.last_write_wall_s(),
                cp.has_pending(),
            )
        }));
        let pending = match result {
            Ok((d, panics, checkpoint_s, pending)) => {
                if let Some(s) = checkpoint_s {
                    p.requests.checkpoint_written(s);
                }
                // The fleet's cap for the session, in Auto and in real time only.
                let cap = Level::from_u8(CAP.load(Ordering::Relaxed));
                let level = if mode == Mode::Auto {
                    d.level.min(cap.max(Level::Minimal))
                } else {
                    d.level
                };
                // Urgency first: the audio thread must not start the new level's step down
                // the long way between the two stores.
                p.decisions
                    .publish_urgent(mode == Mode::Auto && URGENT.load(Ordering::Relaxed));
                p.decisions.publish_level(&start, level);
                p.decisions.publish_vis(d.vis);
                p.decisions.publish_acting(mode == Mode::Auto);
                p.decisions.publish_panics_seen(panics);
                p.decisions.beat();
                pending
            }
            Err(_) => {
                p.requests.tick_panicked();
                // The audio thread keeps the last decision; the fault is recorded.
                lock(&p.healer).record_own_fault();
                p.decisions.beat();
                false
            }
        };
        self.capped = mode == Mode::Auto;
        place(
            &mut self.heard,
            &mut self.stream,
            p.offset_ns,
            instance,
            records,
            readings,
            samples,
        );
        if let Some(chunk) = chunk {
            chunk.commit_all();
        }
        pending
    }
}

/// How long after a stream starts (an activation, a reset) its blocks stay out of the session's
/// measure (seconds). The first cycles after an activation run cold (page faults, caches) and
/// overrun in any session: at 128 instances, activated together, they measured 106 % full while
/// the cycles after were 45 % full at 16x, and the fleet shed every instance to 8x for good. A
/// lower quality does not make a cold start warmer.
///
/// The stream's time is the later of its blocks' audio time and the time since its first
/// block: in a session so overloaded that each cycle takes three periods, half a second of
/// audio took a second and a half, and the fleet, blind all that while, finished shedding
/// 700 instances only two seconds after they started.
pub const STREAM_GRACE_S: f64 = 0.5;

/// The stretch of wall time over which a stream's pace is judged (seconds): long enough that a
/// host rendering ahead in bursts (ASIO-Guard, anticipative processing: tens of milliseconds)
/// averages out to real time.
pub const PACE_WINDOW_S: f64 = 0.25;
/// A stream whose audio ran at least this many times as fast as the wall clock over its last
/// [`PACE_WINDOW_S`] is played as fast as the host can, in realtime mode (a test host, a host
/// that bounces without saying offline): it has no deadline to miss, and its calls come back to
/// back, no cycles of a session, so its blocks stay out of the session's measure (they would read
/// as cycles as full as the pace leaves them: at 1.3 times real time about 77 %, near the line
/// at which the fleet sheds). A real-time stream runs at the audio clock's pace; a stream that
/// misses cycles runs slower.
pub const AHEAD_PACE: f64 = 1.25;

/// Where a member's stream started: the first realtime block the fleet saw of it (its number
/// and start), and the number of the last, which tells a new stream (the numbers start again);
/// and its pace: where the current [`PACE_WINDOW_S`] began, the audio played since (the blocks'
/// own durations: hosts vary their block sizes), and whether the stream ran ahead of real time
/// over the last window.
#[derive(Debug, Default, Clone, Copy)]
struct StreamStart {
    first: Option<(u64, u64)>,
    last_seq: u64,
    window_start_ns: u64,
    window_audio_ns: u64,
    ahead: bool,
}

impl StreamStart {
    /// Whether the block `r` stays out of the session's measure: it is in its stream's first
    /// [`STREAM_GRACE_S`], or the stream plays ahead of real time (see [`AHEAD_PACE`]).
    fn stays_out(&mut self, r: &BlockRecord) -> bool {
        let deadline = r.deadline_ns as f64;
        let (seq, start) = match self.first {
            Some(first) if r.seq > self.last_seq => first,
            _ => {
                (self.window_start_ns, self.window_audio_ns, self.ahead) = (r.start_ns, 0, false);
                *self.first.insert((r.seq, r.start_ns))
            }
        };
        self.last_seq = r.seq;
        // The audio played from the window's start to this block's start, against the wall
        // time between them (records lost to a full ring make the stream look slower, never
        // faster).
        let wall = r.start_ns.saturating_sub(self.window_start_ns) as f64;
        let audio = self.window_audio_ns as f64;
        let window = PACE_WINDOW_S * 1e9;
        if wall >= window {
            self.ahead = audio >= AHEAD_PACE * wall;
            (self.window_start_ns, self.window_audio_ns) = (r.start_ns, 0);
        } else if audio >= AHEAD_PACE * window {
            // Already more audio than the whole window may hold: no need to wait for its end.
            self.ahead = true;
        }
        self.window_audio_ns += r.deadline_ns;
        if self.ahead {
            return true;
        }
        let audio = r.seq as f64 * deadline;
        let since = r.start_ns.saturating_sub(start) as f64 + seq as f64 * deadline;
        audio.max(since) < STREAM_GRACE_S * 1e9
    }
}

/// A member's realtime blocks of this tick, placed in their host's cycles on the process time
/// line (blocks of hosts that do not call once a period have no known wake-up: they go in as
/// they started, `placed: false`); `heard` takes the factor of the last. Blocks of a stream's
/// first [`STREAM_GRACE_S`], and of a stream played ahead of real time, stay out.
fn place(
    heard: &mut Option<u8>,
    stream: &mut StreamStart,
    offset_ns: u64,
    instance: u32,
    batch: &[BlockRecord],
    readings: &[Reading],
    samples: &mut Vec<Sample>,
) {
    for (r, reading) in batch.iter().zip(readings) {
        if r.deadline_ns == 0 {
            continue;
        }
        *heard = Some(r.ratio);
        if stream.stays_out(r) || samples.len() == samples.capacity() {
            continue;
        }
        let wait_ns = if reading.regular { reading.wait_ns } else { 0 };
        samples.push(Sample {
            thread: r.thread,
            instance,
            wake_ns: (offset_ns + r.start_ns).saturating_sub(wait_ns),
            period_ns: r.deadline_ns,
            wait_ns,
            busy_ns: r.elapsed_ns as u64,
            dropout: r.events.contains(EventKind::CallbackGap)
                || r.events.contains(EventKind::TransportJump),
            placed: reading.regular,
        });
    }
}

impl MemberState {
    /// The fleet's lower cap, between two ticks: the level as the member's next tick would
    /// publish it (urgency first, as there), if the cap applied at its last tick.
    fn impose(&self, cap: Level, urgent: bool) {
        if self.capped {
            let decisions = &self.parts.decisions;
            decisions.publish_urgent(urgent);
            decisions.lower_to(cap.max(Level::Minimal));
        }
    }

    /// A clean stop: the blocks played since the last tick, then the final checkpoint.
    fn finish(&mut self) {
        let p = &mut self.parts;
        let mut healer = lock(&p.healer);
        healer.checkpoint_finish(&mut *lock(&p.checkpointer));
        #[cfg(feature = "chaos")]
        if let Some(log) = &mut self.chaos_log {
            let mut batch = Vec::new();
            drain(&mut p.records, &mut batch);
            let readings: Vec<Reading> = batch.iter().map(|r| p.cycle.read(r)).collect();
            log.tick(&batch, &readings, &healer);
            log.finish(&healer);
        }
    }
}

/// Takes every record waiting in the ring into `batch`, in one commit: popping them one by one
/// hands the ring's head back to the audio thread's core at every record.
#[cfg(feature = "chaos")]
fn drain(records: &mut rtrb::Consumer<BlockRecord>, batch: &mut Vec<BlockRecord>) {
    batch.clear();
    if let Ok(chunk) = records.read_chunk(records.slots()) {
        let (first, second) = chunk.as_slices();
        batch.extend_from_slice(first);
        batch.extend_from_slice(second);
        chunk.commit_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::healer::shared::Decisions;

    #[test]
    fn blocks_of_a_host_without_a_steady_cycle_still_count() {
        // Salve's busy time is known however the host calls; the wake-up only when it calls
        // once a period of an audio clock.
        let record = |start_ns: u64| BlockRecord {
            seq: 1_000,
            ratio: 16,
            deadline_ns: 1_333_333,
            start_ns,
            elapsed_ns: 9_000,
            ..Default::default()
        };
        let reading = |regular: bool| Reading {
            wait_ns: 400_000,
            regular,
            ..Default::default()
        };
        let offline = BlockRecord {
            deadline_ns: 0,
            ..record(3_000_000)
        };
        let (mut heard, mut samples) = (None, Vec::with_capacity(8));
        let batch = [record(1_000_000), record(2_000_000), offline];
        let readings = [reading(true), reading(false), Reading::default()];
        let mut stream = StreamStart::default();
        place(
            &mut heard,
            &mut stream,
            50,
            3,
            &batch,
            &readings,
            &mut samples,
        );
        assert_eq!(samples.len(), 2, "offline blocks have no cycle");
        assert!(samples[0].placed);
        assert_eq!(samples[0].start_ns(), 1_000_050);
        assert_eq!(samples[0].wait_ns, 400_000);
        assert!(!samples[1].placed);
        assert_eq!((samples[1].wake_ns, samples[1].wait_ns), (2_000_050, 0));
        assert_eq!(samples[1].busy_ns, 9_000);
        assert_eq!(heard, Some(16));
    }

    /// Block `seq` of a stream of 1 ms blocks at 8x, one every `every_ns`.
    fn stream_block(seq: u64, every_ns: u64) -> BlockRecord {
        BlockRecord {
            seq,
            ratio: 8,
            deadline_ns: 1_000_000,
            start_ns: 1_000_000 + seq * every_ns,
            elapsed_ns: 900_000,
            ..Default::default()
        }
    }

    /// A keeper whose checkpoint waits until flushed, and that counts its writes.
    #[derive(Default)]
    struct CountingKeeper {
        pending: bool,
        writes: u32,
    }

    impl crate::healer::Keeper for CountingKeeper {
        fn news(&mut self) -> crate::healer::News {
            Default::default()
        }
        fn save(&mut self, _: &Healer, _: bool) {}
        fn flush(&mut self) {
            self.writes += std::mem::take(&mut self.pending) as u32;
        }
        fn has_pending(&self) -> bool {
            self.pending
        }
        fn finish(&mut self, _: &Healer) -> Option<bool> {
            None
        }
        fn wrote(&self) -> bool {
            self.writes > 0
        }
        fn last_write_wall_s(&self) -> Option<u64> {
            None
        }
        fn spread_routine_writes(&mut self, _: f64) {}
    }

    #[test]
    fn a_tick_writes_a_few_journals_and_every_waiting_one_gets_its_turn() {
        // 20 members start at once, each with its first checkpoint; eight of them have a new
        // one every tick, as many as a tick writes. Each tick writes at most 8, and no other
        // member waits more than three ticks (taken from the list's start every tick, the
        // eight would have every turn).
        let keepers: Vec<Arc<Mutex<CountingKeeper>>> = (0..20)
            .map(|_| {
                Arc::new(Mutex::new(CountingKeeper {
                    pending: true,
                    writes: 0,
                }))
            })
            .collect();
        let mut next = 0;
        let mut ticks = 0;
        loop {
            for k in &keepers[..JOURNAL_WRITES_PER_TICK] {
                lock(k).pending = true;
            }
            let journal: Vec<Arc<Mutex<dyn crate::healer::Keeper>>> = keepers
                .iter()
                .filter(|k| lock(k).pending)
                .map(|k| k.clone() as Arc<Mutex<dyn crate::healer::Keeper>>)
                .collect();
            let before: u32 = keepers.iter().map(|k| lock(k).writes).sum();
            write_journals(&journal, &mut next);
            let after: u32 = keepers.iter().map(|k| lock(k).writes).sum();
            assert!(after - before <= JOURNAL_WRITES_PER_TICK as u32);
            ticks += 1;
            if keepers[JOURNAL_WRITES_PER_TICK..]
                .iter()
                .all(|k| lock(k).writes > 0)
            {
                break;
            }
            assert!(ticks < 4, "members still waiting after {ticks} ticks");
        }
    }

    #[test]
    fn a_streams_first_half_second_stays_out_of_the_session() {
        // Blocks of 1 ms: the 500th starts half a second into the stream, the first one in.
        let block = |seq: u64| stream_block(seq, 1_000_000);
        let batch: Vec<BlockRecord> = (495..505).map(block).collect();
        let readings = [Reading {
            regular: true,
            ..Default::default()
        }; 10];
        let (mut heard, mut samples) = (None, Vec::with_capacity(16));
        let mut stream = StreamStart::default();
        place(
            &mut heard,
            &mut stream,
            0,
            0,
            &batch,
            &readings,
            &mut samples,
        );
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].start_ns(), block(500).start_ns);
        // The factor heard counts from the first block on.
        assert_eq!(heard, Some(8));
    }

    #[test]
    fn a_stream_played_faster_than_real_time_stays_out_of_the_session() {
        let regular = Reading {
            regular: true,
            ..Default::default()
        };
        let play = |blocks: &[BlockRecord], stream: &mut StreamStart| {
            let (mut heard, mut samples) = (None, Vec::with_capacity(blocks.len()));
            place(
                &mut heard,
                stream,
                0,
                0,
                blocks,
                &vec![regular; blocks.len()],
                &mut samples,
            );
            assert_eq!(heard, Some(8), "the factor heard counts all the same");
            samples
        };
        // 1 ms blocks every 0.2 ms, a test host playing as fast as it can: five seconds of
        // audio in one of wall time, none of it a cycle of the session.
        let fast: Vec<BlockRecord> = (0..5_000).map(|seq| stream_block(seq, 200_000)).collect();
        let mut stream = StreamStart::default();
        assert!(play(&fast, &mut stream).is_empty());
        // The same stream in real time from then on: measured again once a whole window has
        // kept the audio clock's pace.
        let switch_ns = fast[4_999].start_ns + 200_000;
        let steady: Vec<BlockRecord> = (5_000..6_000)
            .map(|seq| BlockRecord {
                start_ns: switch_ns + (seq - 5_000) * 1_000_000,
                ..stream_block(seq, 0)
            })
            .collect();
        let samples = play(&steady, &mut stream);
        let first = samples
            .first()
            .expect("real-time blocks are measured")
            .start_ns();
        let within = (first - switch_ns) as f64 / 1e9;
        assert!(
            within <= 2.0 * PACE_WINDOW_S,
            "measured again after {within} s"
        );
        let after = steady.iter().filter(|r| r.start_ns >= first).count();
        assert_eq!(samples.len(), after, "and every block after it");
        // A host that renders ahead in bursts (eight blocks back to back every 8 ms, as
        // ASIO-Guard does) keeps real time on the whole: every block after the grace counts.
        let bursts: Vec<BlockRecord> = (0..2_000)
            .map(|seq| BlockRecord {
                start_ns: 1_000_000 + seq / 8 * 8_000_000 + seq % 8 * 50_000,
                ..stream_block(seq, 0)
            })
            .collect();
        let samples = play(&bursts, &mut StreamStart::default());
        assert_eq!(samples.len(), 2_000 - 500);
    }

    #[test]
    fn an_overloaded_streams_grace_ends_half_a_second_after_its_start() {
        // Every cycle takes three periods of 1 ms: half a second after the stream's first
        // block is its 167th, long before 500 blocks of audio time.
        let block = |seq: u64| stream_block(seq, 3_000_000);
        let regular = Reading {
            regular: true,
            ..Default::default()
        };
        let (mut heard, mut samples) = (None, Vec::with_capacity(400));
        let mut stream = StreamStart::default();
        let first: Vec<BlockRecord> = (0..100).map(block).collect();
        let then: Vec<BlockRecord> = (100..300).map(block).collect();
        place(
            &mut heard,
            &mut stream,
            0,
            0,
            &first,
            &[regular; 100],
            &mut samples,
        );
        assert!(samples.is_empty());
        place(
            &mut heard,
            &mut stream,
            0,
            0,
            &then,
            &[regular; 200],
            &mut samples,
        );
        assert_eq!(samples[0].start_ns(), block(167).start_ns);
        assert_eq!(samples.len(), 300 - 167);
        // A new stream (an activation: the numbers start again) has its own grace.
        samples.clear();
        let again: Vec<BlockRecord> = (0..100)
            .map(|seq| BlockRecord {
                start_ns: 2_000_000_000 + seq * 1_000_000,
                deadline_ns: 1_000_000,
                seq,
                ..Default::default()
            })
            .collect();
        place(
            &mut heard,
            &mut stream,
            0,
            0,
            &again,
            &[regular; 100],
            &mut samples,
        );
        assert!(samples.is_empty());
    }

    #[test]
    fn the_fleet_reads_the_cycle_and_marks_late_calls_for_the_healer() {
        use crate::probe::telemetry::Telemetry;
        // A steady stream at 64 samples, 48 kHz, then one call three periods late.
        let (writer, telemetry) = Telemetry::channel();
        let mut cycle = CycleReader::new(Default::default(), writer.gap_counter());
        let period = 1_333_333u64;
        let record = |seq: u64, start_ns: u64| BlockRecord {
            seq,
            start_ns,
            deadline_ns: period,
            samples: 64,
            sample_rate: 48_000.0,
            ..Default::default()
        };
        let steady: Vec<BlockRecord> = (0..40).map(|i| record(i, i * period)).collect();
        let mut scratch = Scratch::default();
        let (records, readings) = read(&mut cycle, &steady[..30], &steady[30..], &mut scratch);
        // Wrapped around the ring's end: one slice, copied, in order; every call one cycle on.
        assert_eq!(records, &steady[..]);
        assert_eq!(readings.len(), 40);
        assert!(readings[1..].iter().all(|r| r.cycles == 1 && !r.late));
        // In one piece and on time: read where it lies, not copied.
        let on_time = [record(40, 40 * period), record(41, 41 * period)];
        let (records, _) = read(&mut cycle, &on_time, &[], &mut scratch);
        assert!(std::ptr::eq(records, &on_time[..]));
        assert_eq!(telemetry.count(EventKind::CallbackGap), 0);
        // Late: the copy carries the gap for the healer, and the instance's telemetry counts it.
        let late = [record(42, 45 * period), record(43, 46 * period)];
        let (records, readings) = read(&mut cycle, &late, &[], &mut scratch);
        assert!(records[0].events.contains(EventKind::CallbackGap));
        assert!(!records[1].events.contains(EventKind::CallbackGap));
        assert!(readings[0].late && readings[0].cycles == 4);
        assert!(
            late.iter().all(|r| r.events.is_empty()),
            "the ring's records stay as written"
        );
        assert_eq!(telemetry.count(EventKind::CallbackGap), 1);
        // Records lost to a full ring: the cycle goes on across the hole (fourteen periods),
        // but no gap is judged over it.
        let after_hole = [record(50, 60 * period)];
        let (records, readings) = read(&mut cycle, &after_hole, &[], &mut scratch);
        assert!(!readings[0].late && readings[0].cycles == 14);
        assert!(records[0].events.is_empty());
        assert_eq!(telemetry.count(EventKind::CallbackGap), 1);
    }

    #[test]
    fn a_reflex_step_made_during_a_tick_is_not_overwritten() {
        use crate::healer::shared::Reflex;
        use crate::probe::events::{EventKind, Events};
        let (d, fleet, audio) = Decisions::new(Level::Ultra);
        fleet.publish_acting(true);
        let start = fleet.begin_tick();
        // The audio thread's reflex steps down while the tick runs (two overruns at 16x)...
        let mut events = Events::default();
        events.insert(EventKind::Overrun);
        let overrun = BlockRecord {
            ratio: 16,
            events,
            ..Default::default()
        };
        let mut reflex = Reflex::default();
        assert!(!reflex.observe(&overrun, &audio));
        assert!(reflex.observe(&overrun, &audio));
        assert_eq!(d.level(), Level::High);
        // ...and the tick, which decided Ultra from what it saw, publishes: the step stands.
        fleet.publish_level(&start, Level::Ultra);
        assert_eq!(d.level(), Level::High);
        // The next tick sees the step (and adopts it); its decision is published.
        let start = fleet.begin_tick();
        assert_eq!(start.reflex_count, 1);
        fleet.publish_level(&start, Level::Medium);
        assert_eq!(d.level(), Level::Medium);
    }
}
