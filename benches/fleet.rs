//! The fleet thread's own cost: N members, each fed the block records of a 64-sample stream at
//! 48 kHz (750 a second, pushed in 20 ms batches by a feeder thread, as audio threads would),
//! for 10 s after a 3 s warm-up; the fleet thread's CPU time comes from its own CPU clock.
//! A timed run, not a criterion benchmark: `cargo bench --bench fleet` prints the share of one
//! core for 128 and 512 members. The records are a steady stream, so each member's cycle reader
//! does the work it does in a session. Checkpoints go to a journal in a temporary directory (the disk
//! waits are not CPU time, the writes' system calls are).

use salve::checkpoint::journal::Journal;
use salve::checkpoint::{Checkpointer, Persisted};
use salve::healer::fleet::{self, Parts};
use salve::healer::level::Level;
use salve::healer::shared::Decisions;
use salve::healer::{Healer, HealerConfig};
use salve::probe::ProbeConfig;
use salve::probe::clock::MonotonicClock;
use salve::probe::cycle::CycleReader;
use salve::probe::record::BlockRecord;
use salve::probe::telemetry::Telemetry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// CPU time of the threads named `name`, in seconds, from each thread's own CPU clock
/// (nanoseconds; `/proc/*/stat` counts in 10 ms ticks, 0.1 % of a 10 s run).
fn cpu_seconds(name: &str) -> f64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|n| n.trim_end() == name)
        })
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .map(|tid| {
            // The kernel's per-thread CPU clock of another thread in this process:
            // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), as glibc's pthread_getcpuclockid builds it.
            let clock = ((!tid) << 3) | 6;
            let mut t = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `t` is a valid timespec to write into; an unknown clock only returns -1.
            if unsafe { libc::clock_gettime(clock, &mut t) } == 0 {
                t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
            } else {
                0.0
            }
        })
        .sum()
}

/// Before measuring: every member joins and writes its first checkpoint.
const WARM_UP: Duration = Duration::from_secs(3);

fn run(members: usize, seconds: f64) -> f64 {
    let dir = std::env::temp_dir().join(format!("salve-fleet-bench-{}", std::process::id()));
    let mut producers = Vec::new();
    let mut memberships = Vec::new();
    for _ in 0..members {
        let (producer, records) = rtrb::RingBuffer::new(salve::probe::ring_capacity(48_000.0));
        let session = Arc::new(Mutex::new(Persisted::default()));
        memberships.push(
            fleet::join(Parts {
                healer: Arc::new(Mutex::new(Healer::new(
                    HealerConfig::default(),
                    Level::Ultra,
                    Default::default(),
                ))),
                checkpointer: Arc::new(Mutex::new(Checkpointer::new(
                    session,
                    std::env::var_os("NO_JOURNAL")
                        .is_none()
                        .then(|| Journal::new(&dir)),
                ))),
                records,
                cycle: CycleReader::new(
                    ProbeConfig::default(),
                    Telemetry::channel().0.gap_counter(),
                ),
                decisions: Decisions::new(Level::Ultra).1,
                view: salve::healer::view::channel(&Healer::new(
                    HealerConfig::default(),
                    Level::Ultra,
                    Default::default(),
                ))
                .0,
                requests: salve::healer::requests::channel(Level::Ultra).2,
                clock: Box::new(MonotonicClock::new()),
                offset_ns: 0,
            })
            .expect("join"),
        );
        producers.push(producer);
    }
    let block_ns = 1_333_333u64;
    let per_batch: u64 = std::env::var("PER_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut seq = 0u64;
    let warm_up = Instant::now();
    let mut start_cpu = None;
    let mut start = warm_up;
    while start_cpu.is_none() || start.elapsed().as_secs_f64() < seconds {
        if start_cpu.is_none() && warm_up.elapsed() >= WARM_UP {
            // Every member has joined and written its first checkpoint: the steady state.
            start_cpu = Some(cpu_seconds(fleet::THREAD_NAME));
            start = Instant::now();
        }
        for p in &mut producers {
            for i in 0..per_batch {
                let _ = p.push(BlockRecord {
                    seq: seq + i,
                    start_ns: (seq + i) * block_ns,
                    elapsed_ns: (block_ns / 40) as u32,
                    deadline_ns: block_ns,
                    samples: 64,
                    sample_rate: 48_000.0,
                    load: 0.025,
                    ratio: 16,
                    ..Default::default()
                });
            }
        }
        seq += per_batch;
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu = cpu_seconds(fleet::THREAD_NAME) - start_cpu.unwrap_or_default();
    let wall = start.elapsed().as_secs_f64();
    drop(memberships);
    let _ = std::fs::remove_dir_all(&dir);
    cpu / wall
}

fn main() {
    // `cargo bench` passes --bench; any other argument filters nothing here.
    // FLEET_MEMBERS=128 measures one size only (for a profiler).
    let sizes: Vec<usize> = match std::env::var("FLEET_MEMBERS") {
        Ok(n) => n.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => vec![128, 512],
    };
    for members in sizes {
        let share = run(members, 10.0);
        println!(
            "fleet/{members}: {:.2} % of one core (fleet thread CPU over 10 s, after 3 s)",
            share * 100.0
        );
    }
}
