//! `cargo xtask chaos`: real-time fault injection through the real plugin. Builds Salve with the
//! `chaos` feature, loads it through its CLAP entry point, paces blocks in real time like an
//! audio device (sleeping until each block is due, counting a deadline miss whenever a block is
//! not done by the time the device needs it), drives a fault schedule, and runs every scenario
//! twice: healing Auto and healing Off, both with the oversampling ceiling at 16x. Writes a
//! table, `report.json` and one SVG plot per scenario under `target/chaos/`.
//!
//! `--instances` instead finds how many Salve instances one audio thread can run without a
//! deadline miss (the largest K, by search), for Auto and for Off.

mod host;
mod plot;
mod scenario;
mod session;

use clap::Parser;
use host::Player;
use scenario::{Fault, Scenario};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "cargo xtask chaos",
    about = "Real-time fault injection through the real Salve plugin"
)]
pub struct Args {
    /// Run only this scenario: Salve's own faults (clean, step, ramp, spikes, preemption, nan,
    /// denormals, buffer) or a session (session-clean, session-ramp, session-step,
    /// session-bursts, session-added, session-2threads).
    #[arg(long)]
    scenario: Option<String>,
    /// Which scenarios to run without --scenario: all, own (Salve's own faults) or session.
    #[arg(long, default_value = "all")]
    suite: String,
    /// Salve instances in a session scenario (0: as many as take about 25 % of the cycle at 16x
    /// on this machine).
    #[arg(long, default_value_t = 0)]
    session_instances: usize,
    /// Block size in samples.
    #[arg(long, default_value_t = 64)]
    block: usize,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = 48_000.0)]
    rate: f64,
    /// Length of each scenario run, in seconds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Run the instance-count benchmark instead of the scenarios.
    #[arg(long)]
    instances: bool,
    /// Instance benchmark: seconds each candidate count must run with at most one miss per 10 s
    /// (after a two-second warm-up).
    #[arg(long, default_value_t = 10.0)]
    instance_seconds: f64,
    /// Instance benchmark: the block sizes to try.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    instance_blocks: Vec<usize>,
    /// Instance benchmark: run only this many instances (for Auto, then Off) and keep each mode's
    /// logs (`log/instances-auto`, `log/instances-off`), instead of searching for the largest count.
    #[arg(long)]
    instance_count: Option<usize>,
    /// The instances' Oversampling setting, their ceiling under Auto: 16x unless a run measures
    /// the cost of a call at a lower factor (`--instance-count 400 --oversampling 1x`).
    #[arg(long, default_value = "16x")]
    oversampling: String,
    /// Instance benchmark: count only the misses of cycles this machine did not hold up (see
    /// `held_up`), instead of every miss. Not the criterion: a second figure
    /// that tells the session's load from the VM's own stalls.
    #[arg(long)]
    set_aside_stalls: bool,
    /// Instance benchmark: runs per block size and mode.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the report and plots go (default: `target/chaos`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Play this build of the chaos library (a copy of `target/chaos-lib/libsalve-chaos.so`)
    /// instead of building one: runs of two builds, taking turns, meet the same machine.
    #[arg(long)]
    library: Option<PathBuf>,
}

/// Healing on or off, at the same ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Healing {
    Auto,
    Off,
}

impl Healing {
    fn param_text(self) -> &'static str {
        match self {
            Healing::Auto => "Auto",
            Healing::Off => "Off",
        }
    }
}

/// The figures of one scenario run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub mode: Healing,
    pub block: usize,
    pub rate: f64,
    pub seconds: f64,
    pub blocks: u64,
    pub deadline_misses: u64,
    pub first_miss_s: Option<f64>,
    pub first_downgrade_s: Option<f64>,
    pub mean_factor: f64,
    pub final_factor: u32,
    pub tier_changes: u32,
    pub incidents: u32,
    pub recommendations: Vec<String>,
    /// Output samples that were NaN or infinite (must be 0).
    pub non_finite_samples: u64,
    pub peak_output: f32,
    /// Block records Salve logged (should equal `blocks`).
    pub records: usize,
    /// Blocks in which Salve caught NaN/Inf and restarted its DSP (the NaN bursts arrived).
    pub nan_restarts: usize,
    /// Blocks in which Salve saw a denormal storm on its input.
    pub denormal_blocks: usize,
    /// Whether the runner's audio thread ran at real-time priority.
    pub realtime_priority: bool,
}

/// What one run saw over time, for the plot.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Per block: time (s), Salve's own load, the factor heard, a deadline miss.
    pub blocks: Vec<(f64, f32, u32, bool)>,
    /// Incidents: time (s) and label.
    pub incidents: Vec<(f64, String)>,
}

/// An efficacy check against the targets.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub passed: bool,
}

pub fn main(args: Vec<String>) -> Result<(), String> {
    let args = Args::parse_from(std::iter::once("cargo xtask chaos".to_string()).chain(args));
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let out = args.out.clone().unwrap_or_else(|| target.join("chaos"));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let library = match &args.library {
        Some(library) => library.clone(),
        None => host::build_library(&root, &target)?,
    };
    let entry = host::load(&library)?;
    if args.instances {
        return instances(&entry, &args, &out);
    }
    scenarios(&entry, &args, &out)
}

/// Points the next activated instances' logs at `dir` (emptied first).
fn log_to(dir: &Path, ticks_only: bool) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // SAFETY: the runner's only other threads are Salve's healer threads, which read these
    // variables once, when an instance is activated; no instance is active while they change.
    unsafe {
        std::env::set_var("SALVE_CHAOS_LOG", dir);
        std::env::set_var("SALVE_CHAOS_LOG_TICKS", if ticks_only { "1" } else { "0" });
    }
    Ok(())
}

/// A test signal: two sines and a little noise at about -12 dBFS.
fn signal(rate: f64, len: usize) -> [Vec<f32>; 2] {
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32 - 0.5) * 0.02
    };
    let tone = |i: usize, f: f64| (std::f64::consts::TAU * f * i as f64 / rate).sin() as f32;
    let left = (0..len)
        .map(|i| 0.2 * tone(i, 220.0) + 0.05 * tone(i, 3_300.0) + noise())
        .collect();
    let right = (0..len)
        .map(|i| 0.2 * tone(i, 221.0) + 0.05 * tone(i, 3_310.0) + noise())
        .collect();
    [left, right]
}

/// Puts the calling thread at real-time FIFO priority, as audio hosts run their audio thread
/// (`on`), or back to normal scheduling. Returns whether the system allowed it. Salve's healer
/// threads are started at activation, before this, so they keep normal priority.
fn audio_priority(on: bool) -> bool {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, RealtimeThreadSchedulePolicy, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let (priority, policy) = if on {
        (
            ThreadPriority::Max,
            ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
        )
    } else {
        (
            ThreadPriority::Crossplatform(ThreadPriorityValue::try_from(0u8).unwrap()),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        )
    };
    set_thread_priority_and_policy(thread_native_id(), priority, policy).is_ok()
}

/// Sleeps until `when` (the device's next period).
fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// A new instance at the 16x ceiling with healing `mode` and 12 dB of drive, activated.
fn active_salve(
    entry: &clack_host::prelude::PluginEntry,
    mode: Healing,
    args: &Args,
    max_block: usize,
) -> Result<Player, String> {
    let mut salve = Player::new(entry)?;
    salve.set_inactive(&[
        ("oversampling", args.oversampling.as_str()),
        ("healing", mode.param_text()),
        ("drive", "12 dB"),
    ])?;
    salve.activate(args.rate, max_block)?;
    Ok(salve)
}

/// Runs one scenario in one mode and returns its figures and timeline.
fn run_scenario(
    entry: &clack_host::prelude::PluginEntry,
    scenario: Scenario,
    mode: Healing,
    args: &Args,
    base_load: f64,
    log_dir: &Path,
) -> Result<(RunReport, Timeline), String> {
    log_to(log_dir, false)?;
    let max_block = scenario.max_block(args.block);
    let mut salve = active_salve(entry, mode, args, max_block)?;
    let input = signal(args.rate, max_block * 64);
    let label = format!("{} / {:?}", scenario.name(), mode);

    let mut timeline = Timeline::default();
    let (mut misses, mut first_miss) = (0u64, None);
    let (mut non_finite, mut peak) = (0u64, 0.0f32);
    let mut slowdown_sent = f64::NAN;
    let (mut nan_sent, mut denormals_sent) = (false, false);
    // Time is counted in whole samples, so a run has an exact number of blocks.
    let total = (args.seconds * args.rate).round() as u64;
    let mut played = 0u64;
    let realtime_priority = audio_priority(true);
    let mut t0 = Instant::now();
    let mut last_progress = Instant::now();
    let mut offset = 0;
    while played < total {
        let audio_s = played as f64 / args.rate;
        let fault: Fault = scenario.at(
            audio_s,
            args.seconds,
            args.block,
            args.block as f64 / args.rate,
        );
        let slowdown = (fault.load / base_load).clamp(1.0, 1000.0);
        if (slowdown / slowdown_sent - 1.0).abs() > 0.01 || slowdown_sent.is_nan() {
            salve.set("chaos_slow", &format!("{slowdown:.2}"))?;
            slowdown_sent = slowdown;
        }
        if fault.nan != nan_sent {
            salve.set("chaos_nan", if fault.nan { "On" } else { "Off" })?;
            nan_sent = fault.nan;
        }
        if fault.denormals != denormals_sent {
            salve.set("chaos_denormal", if fault.denormals { "On" } else { "Off" })?;
            denormals_sent = fault.denormals;
        }
        let n = fault.block;
        let period = n as f64 / args.rate;
        let due = t0 + Duration::from_secs_f64(audio_s);
        sleep_until(due);
        if fault.stall_ms > 0.0 {
            // Outside preemption: something else holds the host's audio thread.
            std::thread::sleep(Duration::from_secs_f64(fault.stall_ms * 1e-3));
        }
        if offset + n > input[0].len() {
            offset = 0;
        }
        let [l, r] = salve.process(&input[0][offset..offset + n], &input[1][offset..offset + n])?;
        offset += n;
        for &x in l.iter().chain(r) {
            if x.is_finite() {
                peak = peak.max(x.abs());
            } else {
                non_finite += 1;
            }
        }
        let done = Instant::now();
        let deadline = due + Duration::from_secs_f64(period);
        let missed = done > deadline;
        if missed {
            misses += 1;
            first_miss.get_or_insert(audio_s);
            // The device recovers from the xrun and carries on from now.
            t0 += done - deadline;
        }
        timeline.blocks.push((audio_s, 0.0, 0, missed));
        played += n as u64;
        // (Not right after a miss: the device starts afresh as the late call ended, and the next
        // call came 9.5-52 % of a period late in the cycle it opened in runs DD-own and DE-own,
        // a progress line written in between the likeliest cause.)
        if !missed && last_progress.elapsed() > Duration::from_millis(500) {
            last_progress = Instant::now();
            eprint!(
                "\r{label:<22} {:5.1}/{:.0} s  misses {misses:<6}",
                played as f64 / args.rate,
                args.seconds
            );
            let _ = std::io::stderr().flush();
        }
    }
    audio_priority(false);
    salve.deactivate();
    drop(salve);
    eprintln!("\r{label:<22} done: {misses} deadline misses{:20}", "");

    let log = read_logs(log_dir)?;
    // Salve logs one record per block, in order: pair them with the runner's blocks.
    for (b, rec) in timeline.blocks.iter_mut().zip(&log.records) {
        b.1 = rec.load;
        b.2 = rec.factor;
    }
    let seq_time = |seq: u64| {
        let first = log.records.first().map_or(0, |r| r.seq);
        let i = (seq.saturating_sub(first)) as usize;
        timeline
            .blocks
            .get(i.min(timeline.blocks.len().saturating_sub(1)))
            .map_or(0.0, |b| b.0)
    };
    timeline.incidents = log
        .incidents
        .iter()
        .map(|(seq, text)| (seq_time(*seq), text.clone()))
        .collect();
    let factors: Vec<u32> = log.records.iter().map(|r| r.factor).collect();
    let report = RunReport {
        scenario: scenario.name().to_string(),
        mode,
        block: args.block,
        rate: args.rate,
        seconds: args.seconds,
        blocks: timeline.blocks.len() as u64,
        deadline_misses: misses,
        first_miss_s: first_miss,
        first_downgrade_s: factors
            .iter()
            .position(|&f| f < 16)
            .and_then(|i| timeline.blocks.get(i))
            .map(|b| b.0),
        mean_factor: factors.iter().map(|&f| f as f64).sum::<f64>() / factors.len().max(1) as f64,
        final_factor: factors.last().copied().unwrap_or(0),
        tier_changes: factors.windows(2).filter(|w| w[0] != w[1]).count() as u32,
        incidents: log.incidents_total,
        recommendations: log.recommendations,
        non_finite_samples: non_finite,
        peak_output: peak,
        records: log.records.len(),
        nan_restarts: log.records.iter().filter(|r| r.nan_restart).count(),
        denormal_blocks: log.records.iter().filter(|r| r.denormals).count(),
        realtime_priority,
    };
    Ok((report, timeline))
}

/// What Salve's healer threads logged.
#[derive(Debug, Default)]
struct Log {
    records: Vec<Record>,
    /// The block (seq) each incident was logged at, and a label.
    incidents: Vec<(u64, String)>,
    incidents_total: u32,
    recommendations: Vec<String>,
    /// From tick lines: blocks and the sum of their factors.
    tick_blocks: u64,
    tick_factor_sum: u64,
}

#[derive(Debug)]
struct Record {
    seq: u64,
    load: f32,
    factor: u32,
    /// Salve restarted its DSP after NaN/Inf in this block.
    nan_restart: bool,
    /// Salve saw a denormal storm on its input in this block.
    denormals: bool,
}

fn read_logs(dir: &Path) -> Result<Log, String> {
    let mut log = Log::default();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(seq) = v.get("seq").and_then(|s| s.as_u64()) {
                let has = |label: &str| {
                    v["events"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x == label))
                };
                log.records.push(Record {
                    seq,
                    load: v["load"].as_f64().unwrap_or(0.0) as f32,
                    factor: v["ratio"].as_u64().unwrap_or(0) as u32,
                    nan_restart: has("non_finite"),
                    denormals: has("denormal_storm"),
                });
            } else if let Some(i) = v.get("incident") {
                let label = format!(
                    "{}: {}",
                    i["kind"].as_str().unwrap_or("?"),
                    action_label(&i["action"])
                );
                log.incidents
                    .push((v["last_seq"].as_u64().unwrap_or(0), label));
            } else if let Some(s) = v.get("summary") {
                log.incidents_total += s["incidents_total"].as_u64().unwrap_or(0) as u32;
                for r in s["recommendations"].as_array().into_iter().flatten() {
                    log.recommendations
                        .push(r.as_str().unwrap_or_default().to_string());
                }
            } else if let Some(b) = v.get("blocks").and_then(|b| b.as_u64()) {
                log.tick_blocks += b;
                log.tick_factor_sum += v["ratio_sum"].as_u64().unwrap_or(0);
            }
        }
    }
    log.records.sort_by_key(|r| r.seq);
    Ok(log)
}

/// A short label for a logged incident's action (serde's form of the healer's `Action`).
fn action_label(action: &serde_json::Value) -> String {
    match action {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Salve's own load at 16x with no slowdown: the base the slowdown factors scale.
fn calibrate(
    entry: &clack_host::prelude::PluginEntry,
    args: &Args,
    out: &Path,
) -> Result<f64, String> {
    let calibration = Args {
        seconds: 2.0,
        ..Args::parse_from(["chaos"])
    };
    let args = Args {
        block: args.block,
        rate: args.rate,
        ..calibration
    };
    let (_, timeline) = run_scenario(
        entry,
        Scenario::Calibrate,
        Healing::Off,
        &args,
        1.0,
        &out.join("log").join("calibrate"),
    )?;
    let mut loads: Vec<f32> = timeline
        .blocks
        .iter()
        .skip(timeline.blocks.len() / 4)
        .map(|b| b.1)
        .filter(|l| *l > 0.0)
        .collect();
    if loads.is_empty() {
        return Err("Salve logged no block records (is SALVE_CHAOS_LOG honoured?)".into());
    }
    loads.sort_by(f32::total_cmp);
    Ok(loads[loads.len() / 2] as f64)
}

fn scenarios(
    entry: &clack_host::prelude::PluginEntry,
    args: &Args,
    out: &Path,
) -> Result<(), String> {
    let (own, sessions): (Vec<Scenario>, Vec<session::Session>) = match &args.scenario {
        Some(name) => match (Scenario::from_name(name), session::Session::from_name(name)) {
            (Some(s), _) => (vec![s], vec![]),
            (_, Some(s)) => (vec![], vec![s]),
            _ => {
                return Err(format!(
                    "unknown scenario {name:?}; choose from {}, {}",
                    Scenario::ALL.map(|s| s.name()).join(", "),
                    session::Session::ALL.map(|s| s.name()).join(", ")
                ));
            }
        },
        None => match args.suite.as_str() {
            "all" => (Scenario::ALL.to_vec(), session::Session::ALL.to_vec()),
            "own" => (Scenario::ALL.to_vec(), vec![]),
            "session" => (vec![], session::Session::ALL.to_vec()),
            other => return Err(format!("unknown suite {other:?}: all, own or session")),
        },
    };
    let mut reports = Vec::new();
    let mut base_load = None;
    if !own.is_empty() {
        let load = calibrate(entry, args, out)?;
        eprintln!(
            "Salve's own load at 16x, {} samples at {} Hz: {:.2} % of the budget",
            args.block,
            args.rate,
            load * 100.0
        );
        base_load = Some(load);
    }
    for scenario in own {
        let mut pair = Vec::new();
        for mode in [Healing::Auto, Healing::Off] {
            let log_dir = out
                .join("log")
                .join(format!("{}-{:?}", scenario.name(), mode));
            let (report, timeline) = run_scenario(
                entry,
                scenario,
                mode,
                args,
                base_load.unwrap_or(1.0),
                &log_dir,
            )?;
            pair.push((report, timeline));
        }
        let svg = out.join(format!("{}.svg", scenario.name()));
        plot::scenario(&svg, scenario, &pair)?;
        reports.extend(pair.into_iter().map(|(r, _)| r));
    }
    let mut session_reports = Vec::new();
    let mut per_instance = None;
    if !sessions.is_empty() {
        let dir = out.join("log").join("session-calibrate");
        let mut n = session::CALIBRATION_INSTANCES;
        let mut share = session::calibrate(entry, args, n, &dir)?;
        if args.session_instances == 0 {
            // Salve at a quarter of the cycle: measured again at the count the last figure
            // chose, until it chooses the same count (at most twice more).
            for _ in 0..2 {
                let next = ((0.25 / share.max(1e-4)).round() as usize).clamp(4, 96);
                if next == n {
                    break;
                }
                n = next;
                share = session::calibrate(entry, args, n, &dir)?;
            }
        }
        let n = match args.session_instances {
            0 => ((0.25 / share.max(1e-4)).round() as usize).clamp(4, 96),
            n => n,
        };
        eprintln!(
            "One Salve instance at 16x takes {:.2} % of a {}-sample cycle: sessions with {n} instances",
            share * 100.0,
            args.block
        );
        per_instance = Some((share, n));
        for s in sessions {
            let mut pair = Vec::new();
            for mode in [Healing::Auto, Healing::Off] {
                let log_dir = out.join("log").join(format!("{}-{:?}", s.name(), mode));
                pair.push(session::run(
                    entry,
                    s,
                    mode,
                    n,
                    s.seconds(args.seconds),
                    args,
                    &log_dir,
                )?);
            }
            plot::session(
                &out.join(format!("{}.svg", s.name())),
                s.description(),
                &pair,
            )?;
            session_reports.extend(pair.into_iter().map(|(r, _)| r));
        }
    }
    let mut checks = checks(&reports);
    checks.extend(session_checks(&session_reports));
    print_table(&reports, &session_reports, &checks);
    let json = serde_json::json!({
        "base_load_16x": base_load,
        "session_share_16x_per_instance": per_instance.map(|p| p.0),
        "session_instances": per_instance.map(|p| p.1),
        "runs": reports,
        "sessions": session_reports,
        "checks": checks,
    });
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| e.to_string())?;
    println!("\nWrote {} and one SVG plot per scenario.", path.display());
    Ok(())
}

/// The session targets: Auto's misses against Off's, a clean session left alone, the wait
/// estimate against the truth.
fn session_checks(reports: &[session::SessionReport]) -> Vec<Check> {
    let get = |s: &str, m: Healing| reports.iter().find(|r| r.scenario == s && r.mode == m);
    let mut checks = Vec::new();
    for s in [
        "session-ramp",
        "session-step",
        "session-bursts",
        "session-added",
        "session-2threads",
    ] {
        if let (Some(a), Some(o)) = (get(s, Healing::Auto), get(s, Healing::Off)) {
            checks.push(misses_within(s, a.deadline_misses, o.deadline_misses, 10));
        }
    }
    if let Some(a) = get("session-clean", Healing::Auto) {
        checks.push(Check {
            what: format!(
                "session-clean: no downgrade under Auto in {:.0} s ({} factor changes)",
                a.seconds, a.tier_changes
            ),
            passed: a.first_downgrade_s.is_none(),
        });
    }
    for r in reports {
        checks.push(Check {
            what: format!(
                "{} / {:?}: the wait estimate within 10 % of the cycle (99th percentile {:.1} %, largest {:.1} %)",
                r.scenario,
                r.mode,
                r.wait_error_p99 * 100.0,
                r.wait_error_max * 100.0
            ),
            passed: r.wait_error_p99 <= 0.1,
        });
    }
    checks
}

/// Auto's misses at most `percent` % of Off's in the same run.
fn misses_within(scenario: &str, auto: u64, off: u64, percent: u64) -> Check {
    Check {
        what: format!("{scenario}: Auto misses {auto} <= {percent} % of Off's {off}"),
        passed: auto * 100 <= percent * off,
    }
}

/// The targets, for the scenarios that ran.
fn checks(reports: &[RunReport]) -> Vec<Check> {
    let get = |s: &str, m: Healing| reports.iter().find(|r| r.scenario == s && r.mode == m);
    let mut checks = Vec::new();
    for s in ["step", "ramp", "spikes"] {
        if let (Some(a), Some(o)) = (get(s, Healing::Auto), get(s, Healing::Off)) {
            checks.push(misses_within(s, a.deadline_misses, o.deadline_misses, 5));
        }
    }
    if let Some(a) = get("clean", Healing::Auto) {
        checks.push(Check {
            what: format!(
                "clean: no downgrade under Auto ({} tier changes)",
                a.tier_changes
            ),
            passed: a.first_downgrade_s.is_none(),
        });
    }
    if let Some(a) = get("preemption", Healing::Auto) {
        checks.push(Check {
            what: format!(
                "preemption: no lasting downgrade (ends at {}x) and a recommendation raised ({})",
                a.final_factor,
                a.recommendations.len()
            ),
            passed: a.final_factor == 16 && !a.recommendations.is_empty(),
        });
    }
    for r in reports {
        let caught = match r.scenario.as_str() {
            "nan" => Some(("NaN bursts", r.nan_restarts)),
            "denormals" => Some(("denormal storms", r.denormal_blocks)),
            _ => None,
        };
        if let Some((what, blocks)) = caught {
            checks.push(Check {
                what: format!(
                    "{} / {:?}: the {what} reached Salve and were caught ({blocks} blocks)",
                    r.scenario, r.mode
                ),
                passed: blocks > 0,
            });
        }
        checks.push(Check {
            what: format!(
                "{} / {:?}: no NaN or infinity reached the host ({} samples)",
                r.scenario, r.mode, r.non_finite_samples
            ),
            passed: r.non_finite_samples == 0,
        });
    }
    checks
}

fn print_table(reports: &[RunReport], sessions: &[session::SessionReport], checks: &[Check]) {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.2} s"));
    if !sessions.is_empty() {
        println!(
            "\n| session | mode | instances | threads | cycles | misses | first miss | first downgrade | mean factor | Salve's share | wait error mean / p99 / max | own estimate p99 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in sessions {
            println!(
                "| {} | {:?} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} % | {:.1} / {:.1} / {:.1} % | {:.1} % |",
                r.scenario,
                r.mode,
                r.instances,
                r.threads,
                r.cycles,
                r.deadline_misses,
                opt(r.first_miss_s),
                opt(r.first_downgrade_s),
                r.mean_factor,
                r.salve_share * 100.0,
                r.wait_error_mean * 100.0,
                r.wait_error_p99 * 100.0,
                r.wait_error_max * 100.0,
                r.own_wait_error_p99 * 100.0
            );
        }
    }
    if reports.is_empty() {
        println!();
        for c in checks {
            println!("{} {}", if c.passed { "PASS" } else { "FAIL" }, c.what);
        }
        return;
    }
    println!(
        "\n| scenario | mode | blocks | misses | first miss | first downgrade | mean factor | tier changes | incidents | recommendations | NaN restarts | denormal blocks | NaN/Inf out |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        println!(
            "| {} | {:?} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.mode,
            r.blocks,
            r.deadline_misses,
            opt(r.first_miss_s),
            opt(r.first_downgrade_s),
            r.mean_factor,
            r.tier_changes,
            r.incidents,
            r.recommendations.len(),
            r.nan_restarts,
            r.denormal_blocks,
            r.non_finite_samples
        );
    }
    println!();
    for c in checks {
        println!("{} {}", if c.passed { "PASS" } else { "FAIL" }, c.what);
    }
}

/// A wake-up later than this is the machine's doing (this VM holds its virtual CPUs up for
/// 0.2-2 ms now and then; `perf sched` showed no other task running meanwhile).
const HELD_NS: u64 = 200_000;
/// Cycles on each side of a missed one whose Salve calls tell what they usually take.
const NEIGHBOURS: usize = 16;
/// One cycle of an instance run, as the runner timed it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cycle {
    /// When it was due (seconds of audio).
    due_s: f64,
    /// How late the audio thread woke for it (ns).
    woke_late_ns: u64,
    /// From the first Salve call's start to the last one's end (ns).
    work_ns: u64,
    /// When it ended, after it was due (ns): past the period, it missed its deadline.
    late_ns: u64,
}

impl Cycle {
    /// Whether it missed its deadline: the one test of a miss, for the count and for
    /// [`held_up`] (so that the misses held up are always some of those counted).
    fn missed(&self, period_ns: u64) -> bool {
        self.late_ns > period_ns
    }
}

/// The median of `of` over `cycles`.
fn median(cycles: &[Cycle], of: fn(&Cycle) -> u64) -> Option<u64> {
    let mut v: Vec<u64> = cycles.iter().map(of).collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Whether the missed cycle `cycles[i]` missed only because the machine held the audio thread
/// up or slowed it down, that is, it would have ended in time without the machine's delay:
/// - a wake-up more than [`HELD_NS`] late, by as much as it was later than the run's usual
///   (`usual_woke_ns`, its median);
/// - calls that took more than twice what they take in the cycles around it ([`NEIGHBOURS`]
///   on each side, the more of the two sides' medians): what they took beyond that. Salve's own
///   changes of level stay below twice the usual: a crossfade plays both tiers, 1.5 times the
///   higher one's cost, and the cycles on its higher side take that one.
///
/// On this VM a held-up cycle's calls are mostly slowed throughout, not held in one call: at
/// 80 instances (calls 0.43 ms a cycle) a miss came with 1.2-1.4 ms of calls, none of them
/// above 0.14 ms. A stretch of slow cycles longer than the neighbours, and a nearly full cycle
/// that a smaller delay tips over, count as the load's: a fuller cycle has less room for the
/// machine's delays. (A yardstick of fixed work timed before and after each cycle's calls told
/// little more: its slow-downs were 1.1-1.25 times where the calls' were 2 times.)
fn held_up(cycles: &[Cycle], i: usize, usual_woke_ns: u64, period_ns: u64) -> bool {
    let c = cycles[i];
    if !c.missed(period_ns) {
        return false;
    }
    let woke = if c.woke_late_ns > HELD_NS {
        c.woke_late_ns.saturating_sub(usual_woke_ns)
    } else {
        0
    };
    let before = &cycles[i.saturating_sub(NEIGHBOURS)..i];
    let after = &cycles[(i + 1).min(cycles.len())..(i + 1 + NEIGHBOURS).min(cycles.len())];
    let work = |c: &Cycle| c.work_ns;
    let around = median(before, work)
        .max(median(after, work))
        .unwrap_or(c.work_ns);
    let slowed = if c.work_ns > 2 * around {
        c.work_ns - around
    } else {
        0
    };
    let delay = woke + slowed;
    delay > 0 && c.late_ns - delay <= period_ns
}

/// One candidate instance count: `k` instances processed one after another in each block, for
/// `seconds`. Returns the deadlines missed after a two-second warm-up (in which the fleet finds
/// its level), how many of those in cycles the machine held up ([`held_up`]), and the mean
/// factor the instances kept. It stops early past `allowed` misses, unless the machine's are set
/// aside (`--set-aside-stalls`).
fn probe_instances(
    entry: &clack_host::prelude::PluginEntry,
    k: usize,
    block: usize,
    mode: Healing,
    args: &Args,
    (seconds, allowed): (f64, u32),
    log_dir: &Path,
) -> Result<Probe, String> {
    log_to(log_dir, true)?;
    let mut salves = (0..k)
        .map(|_| active_salve(entry, mode, args, block))
        .collect::<Result<Vec<_>, String>>()?;
    let input = signal(args.rate, block * 64);
    let period = block as f64 / args.rate;
    let warm_up = 2.0;
    let period_ns = (period * 1e9) as u64;
    let mut misses = 0;
    let mut audio_s = 0.0;
    let mut offset = 0;
    // Every cycle after the warm-up, for the cost of one call, the machine's misses and, with
    // `--instance-count`, the log.
    let mut cycles: Vec<Cycle> = Vec::with_capacity(((warm_up + seconds) / period) as usize + 1);
    audio_priority(true);
    let t0 = Instant::now();
    // With the machine's misses set aside the run plays to its end: which misses those are,
    // the cycles after them tell.
    while audio_s < warm_up + seconds && (args.set_aside_stalls || misses <= allowed) {
        let due = t0 + Duration::from_secs_f64(audio_s);
        session::sleep_then_spin(due);
        if offset + block > input[0].len() {
            offset = 0;
        }
        let work = Instant::now();
        let woke_late_ns = work.saturating_duration_since(due).as_nanos() as u64;
        for s in &mut salves {
            s.process(
                &input[0][offset..offset + block],
                &input[1][offset..offset + block],
            )?;
        }
        let end = Instant::now();
        offset += block;
        let cycle = Cycle {
            due_s: audio_s,
            woke_late_ns,
            work_ns: end.duration_since(work).as_nanos() as u64,
            late_ns: end.saturating_duration_since(due).as_nanos() as u64,
        };
        let missed = cycle.missed(period_ns);
        if audio_s >= warm_up {
            misses += missed as u32;
            cycles.push(cycle);
        }
        if missed {
            // The driver starts again at the next period boundary.
            audio_s += (cycle.late_ns as f64 * 1e-9 / period).ceil() * period;
        } else {
            audio_s += period;
        }
    }
    let usual_woke_ns = median(&cycles, |c| c.woke_late_ns).unwrap_or(0);
    let held_up = (0..cycles.len())
        .filter(|&i| held_up(&cycles, i, usual_woke_ns, period_ns))
        .count() as u32;
    audio_priority(false);
    for s in &mut salves {
        s.deactivate();
    }
    drop(salves);
    let log = read_logs(log_dir)?;
    let mean_factor = log.tick_factor_sum as f64 / log.tick_blocks.max(1) as f64;
    if args.instance_count.is_some() {
        write_instance_cycles(&log_dir.join("cycles.csv"), &cycles)?;
    }
    let mut work_ns: Vec<u64> = cycles.iter().map(|c| c.work_ns).collect();
    work_ns.sort_unstable();
    if let (Some(&median), Some(_)) = (work_ns.get(work_ns.len() / 2), args.instance_count) {
        eprintln!(
            "\r{k} instances {mode:?}: Salve's calls take {:.1} % of the cycle (median), {:.0} ns a call   ",
            median as f64 / (period * 1e9) * 100.0,
            median as f64 / k as f64
        );
    }
    Ok(Probe {
        misses,
        held_up,
        counted: if args.set_aside_stalls {
            misses - held_up
        } else {
            misses
        },
        mean_factor,
    })
}

/// What one candidate count did.
#[derive(Debug, Clone, Copy)]
struct Probe {
    misses: u32,
    /// Misses in cycles the machine held up ([`held_up`]).
    held_up: u32,
    /// The misses the search counts: all, or with `--set-aside-stalls` those not held up.
    counted: u32,
    mean_factor: f64,
}

/// Writes an instance run's cycles: when each was due (seconds of audio), how late the audio
/// thread woke for it, how long its Salve calls took, and when it ended after it was due (ns).
fn write_instance_cycles(path: &Path, cycles: &[Cycle]) -> Result<(), String> {
    use std::fmt::Write as _;
    let mut csv = String::from("due_s,woke_late_ns,salve_ns,late_ns\n");
    for c in cycles {
        let _ = writeln!(
            csv,
            "{:.6},{},{},{}",
            c.due_s, c.woke_late_ns, c.work_ns, c.late_ns
        );
    }
    std::fs::write(path, csv).map_err(|e| format!("write {}: {e}", path.display()))
}

/// A count passes if one of two tries stays within the allowed misses: this VM slows down for
/// seconds at a time, and one such moment must not end the search at a count far below what
/// the machine runs (it did, in both modes: Off found 3 instances in one run and 76 in the
/// next). Returns the mean factor kept by the passing try.
fn probe_twice(
    entry: &clack_host::prelude::PluginEntry,
    k: usize,
    block: usize,
    mode: Healing,
    args: &Args,
    within: (f64, u32),
    log_dir: &Path,
) -> Result<Option<f64>, String> {
    for _ in 0..2 {
        let probe = probe_instances(entry, k, block, mode, args, within, log_dir)?;
        if probe.counted <= within.1 {
            return Ok(Some(probe.mean_factor));
        }
    }
    Ok(None)
}

#[derive(Debug, Serialize)]
struct InstanceResult {
    block: usize,
    mode: Healing,
    run: usize,
    max_instances: usize,
    mean_factor: f64,
}

fn instances(
    entry: &clack_host::prelude::PluginEntry,
    args: &Args,
    out: &Path,
) -> Result<(), String> {
    let log_dir = out.join("log").join("instances");
    let mut results = Vec::new();
    let mut baselines = Vec::new();
    for &block in &args.instance_blocks {
        // This machine's own misses, with one instance for three times as long: a count passes
        // with at most one miss per 10 s more than that (counted as the search counts them).
        eprint!("\r{block:>4} samples: the machine's own misses, one instance   ");
        let long = 3.0 * args.instance_seconds;
        let machine = probe_instances(
            entry,
            1,
            block,
            Healing::Off,
            args,
            (long, u32::MAX),
            &log_dir,
        )?;
        let own = machine.counted;
        let tens = args.instance_seconds / 10.0;
        let allowed = (own as f64 / 3.0).ceil() as u32 + tens.floor().max(1.0) as u32;
        eprintln!(
            "\r{block:>4} samples: the machine misses {} cycles in {long:.0} s on its own ({} held up); a count passes with at most {allowed} {} in {:.0} s",
            machine.misses,
            machine.held_up,
            if args.set_aside_stalls {
                "not held up"
            } else {
                "misses"
            },
            args.instance_seconds
        );
        baselines.push(serde_json::json!({"block": block, "own_misses": machine.misses, "held_up": machine.held_up, "seconds": long, "allowed": allowed}));
        let within = (args.instance_seconds, allowed);
        if let Some(k) = args.instance_count {
            for mode in [Healing::Auto, Healing::Off] {
                let dir = out
                    .join("log")
                    .join(format!("instances-{mode:?}").to_lowercase());
                let p = probe_instances(entry, k, block, mode, args, (within.0, u32::MAX), &dir)?;
                println!(
                    "{block:>4} samples {mode:?}: {k} instances, {} misses, {} of them in cycles the machine held up (allowed {allowed}), mean factor {:.2}x; logs in {}",
                    p.misses,
                    p.held_up,
                    p.mean_factor,
                    dir.display()
                );
            }
            continue;
        }
        // Auto and Off take turns, run by run: this VM's own slow-downs come and go over
        // minutes, and both modes must meet the same machine. Which goes first alternates too,
        // so that neither always meets it second: with the same work in both (a 1x ceiling)
        // the mode that went second once found 512 and 383 instances against 1024 and 896, and
        // with the order alternating the next set found 511 and 912 against 620 and 672, so the
        // machine, not the order, made that gap.
        for run in 0..args.runs {
            let order = if run % 2 == 0 {
                [Healing::Auto, Healing::Off]
            } else {
                [Healing::Off, Healing::Auto]
            };
            for mode in order {
                // Grow until a miss, then bisect between the last good and the first bad count.
                let (mut good, mut good_factor, mut bad) = (0usize, 0.0, None);
                let mut k = 4;
                while bad.is_none() && k <= 1024 {
                    eprint!("\r{block:>4} samples {mode:?} run {run}: trying {k} instances   ");
                    let _ = std::io::stderr().flush();
                    match probe_twice(entry, k, block, mode, args, within, &log_dir)? {
                        Some(f) => (good, good_factor, k) = (k, f, k * 2),
                        None => bad = Some(k),
                    }
                }
                let mut bad = bad.unwrap_or(usize::MAX);
                while bad - good > 1 && bad != usize::MAX {
                    let mid = (good + bad) / 2;
                    eprint!("\r{block:>4} samples {mode:?} run {run}: trying {mid} instances   ");
                    let _ = std::io::stderr().flush();
                    match probe_twice(entry, mid, block, mode, args, within, &log_dir)? {
                        Some(f) => (good, good_factor) = (mid, f),
                        None => bad = mid,
                    }
                }
                eprintln!(
                    "\r{block:>4} samples {mode:?} run {run}: {good} instances, mean factor {good_factor:.2}x   "
                );
                results.push(InstanceResult {
                    block,
                    mode,
                    run,
                    max_instances: good,
                    mean_factor: good_factor,
                });
            }
        }
    }
    let criterion = if args.set_aside_stalls {
        "misses counted: only those in cycles the machine did not hold up (--set-aside-stalls; not the issue's criterion)"
    } else {
        "misses counted: all"
    };
    println!("\n{criterion}");
    println!("\n| block | mode | runs: instances | mean factor kept |");
    println!("|---|---|---|---|");
    for &block in &args.instance_blocks {
        for mode in [Healing::Auto, Healing::Off] {
            let rs: Vec<&InstanceResult> = results
                .iter()
                .filter(|r| r.block == block && r.mode == mode)
                .collect();
            let ks: Vec<String> = rs.iter().map(|r| r.max_instances.to_string()).collect();
            // The factor kept, over the runs that found a count at all.
            let held: Vec<f64> = rs
                .iter()
                .filter(|r| r.max_instances > 0)
                .map(|r| r.mean_factor)
                .collect();
            let f = held.iter().sum::<f64>() / held.len().max(1) as f64;
            println!("| {block} | {mode:?} | {} | {f:.2}x |", ks.join(", "));
        }
    }
    // The target: at 64-sample blocks, Auto runs at least four times as many instances as Off
    // (the medians of the runs).
    let median = |mode: Healing| {
        let mut ks: Vec<usize> = results
            .iter()
            .filter(|r| r.block == 64 && r.mode == mode)
            .map(|r| r.max_instances)
            .collect();
        ks.sort_unstable();
        ks.get(ks.len() / 2).copied()
    };
    if let (Some(auto), Some(off)) = (median(Healing::Auto), median(Healing::Off)) {
        println!(
            "\n{} 64 samples: Auto {auto} instances >= 4 x Off's {off} ({:.1}x){}",
            if auto >= 4 * off { "PASS" } else { "FAIL" },
            auto as f64 / off.max(1) as f64,
            if args.set_aside_stalls {
                ", the machine's hold-ups set aside"
            } else {
                ""
            }
        );
    }
    let path = out.join("instances.json");
    let json =
        serde_json::json!({"criterion": criterion, "machine": baselines, "results": results});
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap())
        .map_err(|e| e.to_string())?;
    println!("\nWrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD_NS: u64 = 1_333_333;

    /// A cycle woken `woke_late_ns` late whose calls took `work_ns`.
    fn cycle(woke_late_ns: u64, work_ns: u64) -> Cycle {
        Cycle {
            woke_late_ns,
            work_ns,
            late_ns: woke_late_ns + work_ns,
            ..Default::default()
        }
    }

    /// 200 cycles whose calls take `usual_ns`, woken 50 µs late, with `odd` as cycle 100.
    fn run(usual_ns: u64, odd: Cycle) -> Vec<Cycle> {
        let mut cycles = vec![cycle(50_000, usual_ns); 200];
        cycles[100] = odd;
        cycles
    }

    fn held(cycles: &[Cycle]) -> bool {
        held_up(cycles, 100, 50_000, PERIOD_NS)
    }

    #[test]
    fn a_cycle_missed_only_through_the_machine_is_set_aside() {
        // Woken 1.1 ms late, then the usual 0.43 ms of calls.
        assert!(held(&run(430_000, cycle(1_100_000, 430_000))));
        // The calls slowed down throughout: 1.36 ms where they take 0.43 (run G80-1).
        assert!(held(&run(430_000, cycle(120_000, 1_364_000))));
    }

    #[test]
    fn a_cycle_that_salves_calls_filled_counts() {
        // Calls that fill the cycle, a short wake-up delay tips it over.
        assert!(!held(&run(1_250_000, cycle(90_000, 1_250_000))));
        // A late wake-up in a cycle that would have missed without it too (as its neighbours
        // do); 50 µs less work and it would have ended in time without it.
        assert!(!held(&run(1_300_000, cycle(300_000, 1_300_000))));
        assert!(held(&run(1_250_000, cycle(300_000, 1_250_000))));
        // A wake-up delay below HELD_NS in a nearly full cycle.
        assert!(!held(&run(1_200_000, cycle(150_000, 1_200_000))));
        // A stretch of cycles all 2.5 times slower than usual: the neighbours tell nothing.
        let mut slow = run(500_000, cycle(50_000, 1_300_000));
        for k in (85..115).filter(|&k| k != 100) {
            slow[k] = cycle(50_000, 1_250_000);
        }
        assert!(!held(&slow));
        // A crossfade from 8x up to 16x (the cycles after it at 16x): 1.5 times 16x's 0.9 ms.
        let mut up = run(450_000, cycle(50_000, 1_350_000));
        up[101..].iter_mut().for_each(|c| c.work_ns = 900_000);
        assert!(!held(&up));
        // A cycle that ended in time missed nothing.
        assert!(!held(&run(430_000, cycle(500_000, 430_000))));
    }
}
