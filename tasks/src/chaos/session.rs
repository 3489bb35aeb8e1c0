//! Session scenarios: a host's cycle shared by many Salve instances and other plugins.
//!
//! N instances are hosted through the CLAP entry point and processed one after another in every
//! cycle on one audio thread, or split over two threads that share the cycle's deadline. Salve
//! itself is never slowed down: the "other plugins" are busy-waits before and after the Salve
//! instances, on their own schedules, with a little per-cycle variation (±5 %) as real
//! plugins have. The device is modelled as a driver: each cycle starts at its period boundary
//! (the runner sleeps, then spins the last 50 µs so that it mostly starts on time), and a cycle not
//! done by the next boundary is a deadline miss, after which the driver skips to the next
//! boundary, as a real driver restarts after an xrun.
//!
//! Each session opens with five seconds of a stopped transport (the other plugins at 3 % of the
//! cycle), as a DAW plays after loading a project: Salve measures the work before it against
//! the lightest cycles it has seen since it started playing (see `src/probe/cycle.rs`).
//!
//! The runner knows when each cycle started, so it reports Salve's estimate of the wait (the
//! work before each instance) against the truth, and the fleet's level over time.

use super::host::{Player, Voice};
use super::{Args, Healing, active_salve, audio_priority, log_to, signal};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The stopped transport at the start of every session (seconds) and the others' load then.
const LEAD_IN_S: f64 = 5.0;
const IDLE_OTHERS: f64 = 0.03;
/// Of the other plugins' work, this share runs before the Salve instances, the rest after.
const BEFORE_SHARE: f64 = 0.85;
/// The runner spins this long before each cycle's start instead of sleeping through it. A
/// sleeping audio thread of this VM wakes 26 µs late at the median, 31 µs at the 90th
/// percentile, 104 µs at the 99th (SCHED_FIFO, absolute `clock_nanosleep`), as a host's thread
/// wakes some tens of microseconds after the device's interrupt. A longer spin keeps more
/// starts on time but is work no real host does: at 200 µs (15 % of a 64-sample period) the
/// audio threads left the other threads no idle time once a cycle was 85 % full, and the
/// kernel's real-time throttling (95 % of each second) most likely stopped them for 50 ms a
/// second (ticks with no cycles exactly a second apart in the fleet's log).
const SPIN: Duration = Duration::from_micros(50);
/// Estimates are compared from this long after an instance's first block.
const SETTLE_S: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Clean,
    Ramp,
    Step,
    Bursts,
    Added,
    TwoThreads,
}

impl Session {
    pub const ALL: [Session; 6] = [
        Session::Clean,
        Session::Ramp,
        Session::Step,
        Session::Bursts,
        Session::Added,
        Session::TwoThreads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Session::Clean => "session-clean",
            Session::Ramp => "session-ramp",
            Session::Step => "session-step",
            Session::Bursts => "session-bursts",
            Session::Added => "session-added",
            Session::TwoThreads => "session-2threads",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Session::Clean => "session, clean: other plugins take a steady 30 % of the cycle",
            Session::Ramp => {
                "session, ramp: other plugins' load climbs from 20 % to 95 % of the cycle"
            }
            Session::Step => {
                "session, step: other plugins jump from 30 % to 85 % of the cycle for half the run"
            }
            Session::Bursts => {
                "session, bursts: other plugins jump from 30 % to 85 % for 300 ms every 2 s"
            }
            Session::Added => {
                "session, instances added while playing: from a quarter to three times as many, others at 50 %"
            }
            Session::TwoThreads => {
                "session on two threads sharing a deadline: the ramp, 20 % to 95 % on each"
            }
        }
    }

    /// The run's length: a clean session runs at least a minute.
    pub fn seconds(self, asked: f64) -> f64 {
        match self {
            Session::Clean => asked.max(60.0),
            _ => asked,
        }
    }

    pub fn threads(self) -> usize {
        match self {
            Session::TwoThreads => 2,
            _ => 1,
        }
    }

    /// The other plugins' mean work per cycle at `t` of a run of `len` seconds (share of the
    /// period, before and after the Salve instances together).
    pub fn others(self, t: f64, len: f64) -> f64 {
        if t < LEAD_IN_S {
            return IDLE_OTHERS;
        }
        let playing = (t - LEAD_IN_S) / (len - LEAD_IN_S).max(1e-9);
        match self {
            Session::Clean => 0.3,
            Session::Ramp | Session::TwoThreads => 0.2 + 0.75 * playing.clamp(0.0, 1.0),
            Session::Step => {
                if (0.2..0.7).contains(&playing) {
                    0.85
                } else {
                    0.3
                }
            }
            Session::Bursts => {
                if (t - LEAD_IN_S) % 2.0 >= 1.0 && (t - LEAD_IN_S) % 2.0 < 1.3 {
                    0.85
                } else {
                    0.3
                }
            }
            Session::Added => 0.5,
        }
    }

    /// How many of the `n` instances play at `t` of a run of `len` seconds: all of them,
    /// except while instances are added (a quarter at first, then more at a steady pace, up to
    /// three times `n` at 80 % of the run).
    pub fn instances(self, t: f64, len: f64, n: usize) -> usize {
        match self {
            Session::Added => {
                let playing = ((t - LEAD_IN_S) / (0.8 * len - LEAD_IN_S).max(1e-9)).clamp(0.0, 1.0);
                n / 4 + (playing * (3 * n - n / 4) as f64).floor() as usize
            }
            _ => n,
        }
    }

    /// The most instances the run will hold.
    pub fn max_instances(self, n: usize) -> usize {
        match self {
            Session::Added => 3 * n,
            _ => n,
        }
    }
}

/// The figures of one session run.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub scenario: String,
    pub mode: Healing,
    pub threads: usize,
    pub instances: usize,
    pub block: usize,
    pub rate: f64,
    pub seconds: f64,
    pub cycles: u64,
    pub deadline_misses: u64,
    pub first_miss_s: Option<f64>,
    /// When any instance first played below 16x.
    pub first_downgrade_s: Option<f64>,
    /// The mean oversampling factor over all instances' blocks.
    pub mean_factor: f64,
    /// Factor changes summed over the instances.
    pub tier_changes: u32,
    /// Salve's true share of the cycle (all instances, the thread's busiest), mean over the run.
    pub salve_share: f64,
    /// Salve's estimate of the wait against the truth, as a share of the cycle, over every
    /// instance's blocks from one second after it started: mean, 99th percentile, largest. The
    /// estimate is the fleet's: from the earliest wake-up its instances place in the cycle.
    pub wait_error_mean: f64,
    pub wait_error_p99: f64,
    pub wait_error_max: f64,
    /// Blocks compared.
    pub wait_blocks: usize,
    /// The instances' own estimates (each from its own calls only), 99th percentile: an
    /// instance late in the chain takes what is always before it for part of the wake-up.
    pub own_wait_error_p99: f64,
    pub realtime_priority: bool,
}

/// What one session run saw over time, for the plot.
#[derive(Debug, Default)]
pub struct SessionTimeline {
    /// Per cycle: time (s), the others' load, Salve's true share, a deadline miss.
    pub cycles: Vec<(f64, f32, f32, bool)>,
    /// Per 50 ms: time (s), the mean and the lowest factor heard.
    pub factors: Vec<(f64, f32, f32)>,
    /// Per fleet tick: time (s), the fill it measured (largest cycle), its cap.
    pub fleet: Vec<(f64, f32, u32)>,
}

/// What an audio thread knows of one instance it plays.
struct Played {
    /// Its index in the order of activation.
    index: usize,
    voice: Voice,
    /// Per block: the cycle it played in and the true wait (share of the period).
    truth: Vec<(u32, f32)>,
}

/// Per cycle on the first audio thread: its number, the others' load, Salve's true share, a
/// miss, and when the cycle was done (share of the period after its start).
type CycleLog = Vec<(u32, f32, f32, bool, f32)>;

/// What the threads share: the cycle to play and when it starts, and when it was done.
struct Cycle {
    number: AtomicU64,
    start_ns: AtomicU64,
    others: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
    /// The latest cycle's time (s), for the thread that adds instances.
    now_s: AtomicU64,
}

fn spin_until(base: Instant, ns: u64) {
    sleep_then_spin(base + Duration::from_nanos(ns));
}

/// Sleeps until shortly before `when`, then spins, so that the cycle starts on time (a sleeping
/// thread wakes tens of microseconds late; see [`SPIN`]).
pub fn sleep_then_spin(when: Instant) {
    let now = Instant::now();
    if when > now + SPIN {
        std::thread::sleep(when - now - SPIN);
    }
    while Instant::now() < when {
        std::hint::spin_loop();
    }
}

fn busy_for(share: f64, period_ns: f64) {
    let until = Instant::now() + Duration::from_nanos((share * period_ns) as u64);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A small per-cycle variation of the other plugins' work: ±5 %, from the cycle number.
fn wobble(cycle: u64, thread: u64) -> f64 {
    let mut x =
        cycle.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ thread.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    1.0 + 0.1 * ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
}

/// What every cycle of a run shares: the input, the block, when the run started, the period.
#[derive(Clone)]
struct Pace {
    input: Arc<[Vec<f32>; 2]>,
    block: usize,
    base: Instant,
    period_ns: f64,
}

/// Plays one thread's share of a cycle: the others before, the instances, the others after.
/// Returns Salve's true busy time (ns).
fn play_cycle(
    played: &mut [Played],
    pace: &Pace,
    offset: usize,
    (cycle, thread): (u64, u64),
    start_ns: u64,
    others: f64,
) -> Result<u64, String> {
    let Pace {
        input,
        block,
        base,
        period_ns,
    } = pace;
    let (block, base, period_ns) = (*block, *base, *period_ns);
    let others = others * wobble(cycle, thread);
    busy_for(others * BEFORE_SHARE, period_ns);
    let first = Instant::now();
    for p in played.iter_mut() {
        let start = Instant::now();
        let wait = (start - base).as_nanos() as f64 - start_ns as f64;
        if p.truth.len() < p.truth.capacity() {
            p.truth.push((cycle as u32, (wait / period_ns) as f32));
        }
        p.voice.process(
            &input[0][offset..offset + block],
            &input[1][offset..offset + block],
        );
    }
    let busy = first.elapsed().as_nanos() as u64;
    busy_for(others * (1.0 - BEFORE_SHARE), period_ns);
    Ok(busy)
}

/// The second audio thread: plays its instances in every cycle the first one announces.
fn worker(cycle: Arc<Cycle>, mut played: Vec<Played>, pace: Pace) -> Result<Vec<Played>, String> {
    let (input, block, base) = (pace.input.clone(), pace.block, pace.base);
    audio_priority(true);
    let mut last = 0;
    let mut offset = 0;
    while !cycle.stop.load(Ordering::Acquire) {
        let number = cycle.number.load(Ordering::Acquire);
        if number == last {
            std::thread::park_timeout(Duration::from_millis(5));
            continue;
        }
        last = number;
        let start_ns = cycle.start_ns.load(Ordering::Acquire);
        let others = f64::from_bits(cycle.others.load(Ordering::Acquire));
        spin_until(base, start_ns);
        if offset + block > input[0].len() {
            offset = 0;
        }
        play_cycle(&mut played, &pace, offset, (number, 2), start_ns, others)?;
        offset += block;
        cycle.done.store(number, Ordering::Release);
    }
    audio_priority(false);
    Ok(played)
}

/// Runs one session scenario in one mode with `n` instances.
pub fn run(
    entry: &clack_host::prelude::PluginEntry,
    session: Session,
    mode: Healing,
    n: usize,
    seconds: f64,
    args: &Args,
    log_dir: &Path,
) -> Result<(SessionReport, SessionTimeline), String> {
    log_to(log_dir, false)?;
    let block = args.block;
    let period_ns = block as f64 / args.rate * 1e9;
    let total_cycles = (seconds * 1e9 / period_ns) as u64;
    let max = session.max_instances(n);
    let label = format!("{} / {:?}", session.name(), mode);

    // Activated on this (the main) thread; their audio sides go to the audio threads.
    let mut salves: Vec<Player> = Vec::with_capacity(max);
    let new_played = |salve: &mut Player, index: usize| -> Result<Played, String> {
        Ok(Played {
            index,
            voice: salve.take_voice().ok_or("not active")?,
            truth: Vec::with_capacity(total_cycles as usize + 16),
        })
    };
    let threads = session.threads();
    let mut first: Vec<Played> = Vec::with_capacity(max);
    let mut second: Vec<Played> = Vec::with_capacity(max);
    for i in 0..session.instances(0.0, seconds, n) {
        let mut salve = active_salve(entry, mode, args, block)?;
        let played = new_played(&mut salve, i)?;
        salves.push(salve);
        if threads == 2 && i % 2 == 1 {
            second.push(played);
        } else {
            first.push(played);
        }
    }
    let input = Arc::new(signal(args.rate, block * 64));
    let base = Instant::now() + Duration::from_millis(50);
    let pace = Pace {
        input: input.clone(),
        block,
        base,
        period_ns,
    };
    let cycle = Arc::new(Cycle {
        number: AtomicU64::new(0),
        start_ns: AtomicU64::new(0),
        others: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        now_s: AtomicU64::new(0),
    });
    let second_thread = (threads == 2).then(|| {
        let (cycle, pace) = (cycle.clone(), pace.clone());
        std::thread::spawn(move || worker(cycle, second, pace))
    });
    let (send, receive) = std::sync::mpsc::channel::<Played>();

    // The first audio thread: the device's pace, the cycle's deadline, the misses.
    let audio = {
        let (cycle, input) = (cycle.clone(), input.clone());
        let worker = second_thread.as_ref().map(|t| t.thread().clone());
        std::thread::spawn(move || -> Result<(Vec<Played>, CycleLog, bool), String> {
            let realtime = audio_priority(true);
            let mut log: CycleLog = Vec::with_capacity(total_cycles as usize + 16);
            let mut number = 1u64;
            let mut offset = 0;
            while number <= total_cycles {
                let start_ns = ((number - 1) as f64 * period_ns) as u64;
                let t = start_ns as f64 * 1e-9;
                let others = session.others(t, seconds);
                while let Ok(p) = receive.try_recv() {
                    first.push(p);
                }
                if let Some(w) = &worker {
                    cycle.start_ns.store(start_ns, Ordering::Release);
                    cycle.others.store(others.to_bits(), Ordering::Release);
                    cycle.number.store(number, Ordering::Release);
                    w.unpark();
                }
                cycle.now_s.store(t.to_bits(), Ordering::Relaxed);
                spin_until(base, start_ns);
                if offset + block > input[0].len() {
                    offset = 0;
                }
                let busy = play_cycle(&mut first, &pace, offset, (number, 1), start_ns, others)?;
                offset += block;
                if worker.is_some() {
                    // The cycle is done when both threads are (a stalled worker gives up after
                    // a few periods: the miss is counted).
                    let give_up = Instant::now() + Duration::from_nanos(4 * period_ns as u64);
                    while cycle.done.load(Ordering::Acquire) < number && Instant::now() < give_up {
                        std::hint::spin_loop();
                    }
                }
                let done_ns = (Instant::now() - base).as_nanos() as f64;
                let missed = done_ns > start_ns as f64 + period_ns;
                log.push((
                    (number - 1) as u32,
                    others as f32,
                    (busy as f64 / period_ns) as f32,
                    missed,
                    ((done_ns - start_ns as f64) / period_ns) as f32,
                ));
                // After a miss the driver starts again at the next period boundary.
                number = if missed {
                    (done_ns / period_ns).ceil() as u64 + 1
                } else {
                    number + 1
                };
            }
            cycle.stop.store(true, Ordering::Release);
            if let Some(w) = &worker {
                w.unpark();
            }
            audio_priority(false);
            Ok((first, log, realtime))
        })
    };

    // Instances added while playing, activated here as a host's main thread does.
    let mut last_progress = Instant::now();
    while !audio.is_finished() {
        let t = f64::from_bits(cycle.now_s.load(Ordering::Relaxed));
        let wanted = session.instances(t, seconds, n);
        if salves.len() < wanted {
            let mut salve = active_salve(entry, mode, args, block)?;
            let played = new_played(&mut salve, salves.len())?;
            salves.push(salve);
            let _ = send.send(played);
        }
        if last_progress.elapsed() > Duration::from_millis(500) {
            last_progress = Instant::now();
            eprint!(
                "\r{label:<26} {t:5.1}/{seconds:.0} s  {} instances",
                salves.len()
            );
            let _ = std::io::stderr().flush();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut played, cycles, realtime_priority) =
        audio.join().map_err(|_| "the audio thread panicked")??;
    if let Some(t) = second_thread {
        played.extend(t.join().map_err(|_| "the second audio thread panicked")??);
    }
    // Voices sent too late to play still belong to their instances.
    played.sort_by_key(|p| p.index);
    let mut truths = Vec::with_capacity(played.len());
    for p in played {
        salves[p.index].give_voice(p.voice);
        truths.push(p.truth);
    }
    for s in &mut salves {
        s.deactivate();
    }
    drop(salves);
    let misses = cycles.iter().filter(|c| c.3).count() as u64;
    eprintln!("\r{label:<26} done: {misses} deadline misses{:30}", "");
    let report_and_timeline = analyse(
        session, mode, n, args, seconds, period_ns, &cycles, &truths, log_dir,
    )?;
    Ok((
        SessionReport {
            realtime_priority,
            ..report_and_timeline.0
        },
        report_and_timeline.1,
    ))
}

/// One instance's logged block: its start on the process time line, wait, factor.
struct Logged {
    start_ns: u64,
    wait_ns: u64,
    factor: u32,
}

/// Reads every instance's log (in the order of activation) and the fleet's.
/// Every instance's blocks (by call, in the order of activation) and the fleet's ticks (time on
/// the process time line, the fill it measured, its cap).
type Logs = (Vec<Vec<Option<Logged>>>, Vec<(u64, f32, u32)>);

fn read(dir: &Path) -> Result<Logs, String> {
    let mut files: Vec<(u32, std::path::PathBuf)> = Vec::new();
    let mut fleet = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("fleet-") {
            let text = std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())?;
            for v in text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            {
                fleet.push((
                    v["fleet_ns"].as_u64().unwrap_or(0),
                    v["fill_peak"].as_f64().unwrap_or(0.0) as f32,
                    v["cap"].as_u64().unwrap_or(0) as u32,
                ));
            }
        } else if let Some(n) = name
            .strip_suffix(".jsonl")
            .and_then(|s| s.rsplit('-').next())
            .and_then(|n| n.parse().ok())
        {
            files.push((n, entry.path()));
        }
    }
    files.sort();
    let mut instances = Vec::new();
    for (_, path) in files {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let mut offset = 0;
        let mut blocks = Vec::new();
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            if let Some(o) = v.get("offset_ns").and_then(|o| o.as_u64()) {
                offset = o;
            } else if v.get("seq").is_some() {
                blocks.push((
                    v["seq"].as_u64().unwrap_or(0),
                    Logged {
                        start_ns: offset + v["start_ns"].as_u64().unwrap_or(0),
                        wait_ns: v["wait_ns"].as_u64().unwrap_or(0),
                        factor: v["ratio"].as_u64().unwrap_or(0) as u32,
                    },
                ));
            }
        }
        // Indexed by the call: a record the fleet never saw (its ring was full) leaves a hole.
        let first = blocks.iter().map(|b| b.0).min().unwrap_or(0);
        let len = blocks.iter().map(|b| b.0 - first + 1).max().unwrap_or(0) as usize;
        let mut calls: Vec<Option<Logged>> = (0..len).map(|_| None).collect();
        for (seq, b) in blocks {
            calls[(seq - first) as usize] = Some(b);
        }
        instances.push(calls);
    }
    Ok((instances, fleet))
}

#[allow(clippy::too_many_arguments)]
fn analyse(
    session: Session,
    mode: Healing,
    n: usize,
    args: &Args,
    seconds: f64,
    period_ns: f64,
    cycles: &[(u32, f32, f32, bool, f32)],
    truths: &[Vec<(u32, f32)>],
    log_dir: &Path,
) -> Result<(SessionReport, SessionTimeline), String> {
    let (logged, fleet) = read(log_dir)?;
    // Every cycle, for a closer look: its start (s), the others' load, Salve's true share, when
    // it was done (1 = the deadline).
    let mut csv = String::from("start_s,others,salve,done\n");
    for c in cycles {
        csv += &format!(
            "{:.6},{:.4},{:.4},{:.4}\n",
            c.0 as f64 * period_ns * 1e-9,
            c.1,
            c.2,
            c.4
        );
    }
    std::fs::write(log_dir.join("cycles.csv"), csv).map_err(|e| e.to_string())?;
    let period_s = period_ns * 1e-9;
    let mut errors = Vec::new();
    // Per cycle: the sum and the least of the factors heard.
    let mut heard = vec![(0u32, 0u32, u32::MAX); (seconds / period_s) as usize + 2];
    let (mut factor_sum, mut factor_blocks, mut changes) = (0u64, 0u64, 0u32);
    let mut first_downgrade: Option<f64> = None;
    // The fleet measures each cycle from the wake-up estimated by the instance that started
    // first in it on the same thread (`measure` in src/healer/session.rs); the runner does the
    // same per cycle: (first start, its wake-up estimate).
    let thread_of = |k: usize| if session.threads() == 2 { k % 2 } else { 0 };
    let mut first = std::collections::HashMap::<(u32, usize), (u64, u64)>::new();
    for (k, (truth, blocks)) in truths.iter().zip(&logged).enumerate() {
        for (&(cycle, _), b) in truth.iter().zip(blocks) {
            let Some(b) = b else { continue };
            let w = (b.start_ns, b.start_ns.saturating_sub(b.wait_ns));
            let e = first.entry((cycle, thread_of(k))).or_insert(w);
            *e = (*e).min(w);
        }
    }
    // The first and the last instance's waits, for a closer look.
    let mut waits = String::from("instance,start_s,true,own_estimate,fleet_estimate\n");
    let mut own_errors = Vec::new();
    for (k, (truth, blocks)) in truths.iter().zip(&logged).enumerate() {
        // The probe logs one record per block, in order.
        let Some(&(first_cycle, _)) = truth.first() else {
            continue;
        };
        let mut previous: Option<u32> = None;
        for (&(cycle, wait), b) in truth.iter().zip(blocks) {
            let Some(b) = b else { continue };
            let t = cycle as f64 * period_s;
            let own = b.wait_ns as f64 / period_ns;
            let fleet =
                b.start_ns.saturating_sub(first[&(cycle, thread_of(k))].1) as f64 / period_ns;
            if k == 0 || k + 1 == truths.len() {
                waits += &format!("{k},{t:.6},{wait:.4},{own:.4},{fleet:.4}\n");
            }
            if t - first_cycle as f64 * period_s >= SETTLE_S {
                errors.push((fleet - wait as f64).abs());
                own_errors.push((own - wait as f64).abs());
            }
            factor_sum += b.factor as u64;
            factor_blocks += 1;
            if previous.is_some_and(|f| f != b.factor) {
                changes += 1;
            }
            previous = Some(b.factor);
            if b.factor < 16 {
                first_downgrade = Some(first_downgrade.map_or(t, |d| d.min(t)));
            }
            if let Some(h) = heard.get_mut(cycle as usize) {
                h.0 += b.factor;
                h.1 += 1;
                h.2 = h.2.min(b.factor);
            }
        }
    }
    std::fs::write(log_dir.join("waits.csv"), waits).map_err(|e| e.to_string())?;
    own_errors.sort_by(f64::total_cmp);
    errors.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        errors
            .get(((errors.len() as f64 * q) as usize).min(errors.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    // The fleet's ticks on the runner's time: instance 0's first block pairs the time lines.
    let fleet_origin = logged
        .first()
        .and_then(|b| b.first())
        .and_then(|b| b.as_ref())
        .zip(truths.first().and_then(|t| t.first()))
        .map(|(b, &(cycle, wait))| {
            b.start_ns as f64 * 1e-9 - (cycle as f64 + wait as f64) * period_s
        })
        .unwrap_or(0.0);
    let mut timeline = SessionTimeline {
        cycles: cycles
            .iter()
            .map(|&(c, o, s, m, _)| (c as f64 * period_s, o, s, m))
            .collect(),
        fleet: fleet
            .iter()
            .map(|&(ns, fill, cap)| (ns as f64 * 1e-9 - fleet_origin, fill, cap))
            .filter(|f| f.0 >= 0.0)
            .collect(),
        ..Default::default()
    };
    let per_bucket = (0.05 / period_s).max(1.0) as usize;
    for (i, chunk) in heard.chunks(per_bucket).enumerate() {
        let (sum, count, least) = chunk.iter().fold((0u64, 0u64, u32::MAX), |a, h| {
            (a.0 + h.0 as u64, a.1 + h.1 as u64, a.2.min(h.2))
        });
        if count > 0 {
            timeline.factors.push((
                (i * per_bucket) as f64 * period_s,
                sum as f32 / count as f32,
                least as f32,
            ));
        }
    }
    let misses: Vec<f64> = timeline
        .cycles
        .iter()
        .filter(|c| c.3)
        .map(|c| c.0)
        .collect();
    let report = SessionReport {
        scenario: session.name().into(),
        mode,
        threads: session.threads(),
        instances: session.max_instances(n),
        block: args.block,
        rate: args.rate,
        seconds,
        cycles: cycles.len() as u64,
        deadline_misses: misses.len() as u64,
        first_miss_s: misses.first().copied(),
        first_downgrade_s: first_downgrade,
        mean_factor: factor_sum as f64 / factor_blocks.max(1) as f64,
        tier_changes: changes,
        salve_share: cycles.iter().map(|c| c.2 as f64).sum::<f64>() / cycles.len().max(1) as f64,
        wait_error_mean: errors.iter().sum::<f64>() / errors.len().max(1) as f64,
        wait_error_p99: pick(0.99),
        wait_error_max: pick(1.0),
        wait_blocks: errors.len(),
        own_wait_error_p99: own_errors
            .get((own_errors.len() as f64 * 0.99) as usize)
            .copied()
            .unwrap_or(0.0),
        realtime_priority: false,
    };
    Ok((report, timeline))
}

/// Instances played together for the first calibration.
pub const CALIBRATION_INSTANCES: usize = 8;

/// Salve's own share of a cycle at 16x, per instance: `instances` played one after another for
/// the lead-in (the other plugins idle), their share divided among them. What one call costs
/// depends on how many play (their code and data stay in the caches or not): one instance
/// alone measured 0.73 % of the cycle where the 34 instances that figure chose then took 0.32 %
/// each, and 8 instances measured anywhere from 0.32 % to 0.59 % from run to run. So the runner
/// measures again at the count the first figure chose (see `main`).
pub fn calibrate(
    entry: &clack_host::prelude::PluginEntry,
    args: &Args,
    instances: usize,
    log_dir: &Path,
) -> Result<f64, String> {
    let (report, _) = run(
        entry,
        Session::Clean,
        Healing::Off,
        instances,
        LEAD_IN_S,
        args,
        log_dir,
    )
    .map_err(|e| format!("calibration: {e}"))?;
    Ok(report.salve_share / instances as f64)
}
