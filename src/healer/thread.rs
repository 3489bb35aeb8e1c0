//! The healer's own background thread (not nice-plug's shared `execute_background` worker, which
//! every instance shares): drains the probe's ring, ticks the [`Healer`] at 50 Hz, publishes its
//! decisions in atomics and a snapshot for the editor. Started at `activate`, stopped and joined
//! at `deactivate` or drop. A panic inside a tick is caught and recorded; the loop goes on, and
//! the audio thread keeps playing the last decided level whatever happens here.

use super::level::Level;
use super::shared::Decisions;
use super::{Healer, Mode, TickInputs};
use crate::checkpoint::Checkpointer;
use crate::probe::clock::Clock;
use crate::probe::record::BlockRecord;
use crate::probe::telemetry::Telemetry;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the healer ticks.
pub const TICK_INTERVAL: Duration = Duration::from_millis(20);

/// What the plugin and the editor tell the healer thread.
#[derive(Debug)]
pub struct Controls {
    /// [`Mode`] as `u8` (0 Auto, 1 Monitor only, 2 Off).
    pub mode: AtomicU8,
    /// The user's ceiling ([`Level`] as `u8`).
    pub ceiling: AtomicU8,
    /// Set while the host renders offline: the healer stays out.
    pub offline: AtomicBool,
    /// The editor's smoothed frame time in microseconds, 0 while closed.
    pub gui_frame_us: AtomicU64,
    /// Requests from the health panel, consumed by the thread.
    pub acknowledge: AtomicBool,
    pub reset_learning: AtomicBool,
    /// Panics caught inside a tick.
    pub tick_panics: AtomicU64,
    /// When the last checkpoint was written (Unix seconds, UTC), 0 for none yet.
    pub last_checkpoint_wall_s: AtomicU64,
}

impl Controls {
    pub fn new(ceiling: Level) -> Self {
        Self {
            mode: AtomicU8::new(0),
            ceiling: AtomicU8::new(ceiling as u8),
            offline: AtomicBool::new(false),
            gui_frame_us: AtomicU64::new(0),
            acknowledge: AtomicBool::new(false),
            reset_learning: AtomicBool::new(false),
            tick_panics: AtomicU64::new(0),
            last_checkpoint_wall_s: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Relaxed) {
            0 => Mode::Auto,
            1 => Mode::MonitorOnly,
            _ => Mode::Off,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        let v = match mode {
            Mode::Auto => 0,
            Mode::MonitorOnly => 1,
            Mode::Off => 2,
        };
        self.mode.store(v, Ordering::Relaxed);
    }
}

/// A running healer thread; stops and joins when dropped.
pub struct HealerThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl HealerThread {
    /// Starts the thread. `healer` is shared so that the editor and the checkpoints can read it
    /// (they lock it briefly between ticks; the audio thread never does).
    pub fn spawn<C: Clock>(
        healer: Arc<Mutex<Healer>>,
        checkpointer: Arc<Mutex<Checkpointer>>,
        mut records: rtrb::Consumer<BlockRecord>,
        decisions: Arc<Decisions>,
        controls: Arc<Controls>,
        telemetry: Arc<Telemetry>,
        clock: C,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("salve-healer".into())
            .spawn(move || {
                let mut batch: Vec<BlockRecord> =
                    Vec::with_capacity(super::super::probe::RING_CAPACITY);
                #[cfg(feature = "chaos")]
                let mut chaos_log = super::chaos_log::ChaosLog::open();
                while !stop_flag.load(Ordering::Acquire) {
                    // Before the records: every panic counted here has its record in the ring
                    // (or lost with it), so the healer can tell a lost one.
                    let panics_raised = decisions.panics_raised.load(Ordering::Acquire);
                    batch.clear();
                    while let Ok(r) = records.pop() {
                        batch.push(r);
                    }
                    let offline = controls.offline.load(Ordering::Relaxed);
                    let mode = if offline { Mode::Off } else { controls.mode() };
                    let gui_us = controls.gui_frame_us.load(Ordering::Relaxed);
                    let inputs = TickInputs {
                        mode,
                        ceiling: Level::from_u8(controls.ceiling.load(Ordering::Relaxed)),
                        gui_frame_ms: (gui_us > 0).then_some(gui_us as f32 / 1000.0),
                        reflex_count: decisions.reflex_count.load(Ordering::Acquire),
                        panics_raised,
                    };
                    let now = clock.now_ns();
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        let mut healer = healer.lock().unwrap_or_else(|p| p.into_inner());
                        if controls.acknowledge.swap(false, Ordering::Relaxed) {
                            healer.acknowledge();
                        }
                        if controls.reset_learning.swap(false, Ordering::Relaxed) {
                            healer.reset_learning();
                        }
                        let d = healer.tick(now, &batch, inputs);
                        // Offline renders are not sessions to recover: no checkpoints from them.
                        let realtime = batch.iter().any(|r| r.deadline_ns > 0);
                        let mut cp = checkpointer.lock().unwrap_or_else(|p| p.into_inner());
                        cp.tick(&mut healer, realtime, inputs.ceiling);
                        #[cfg(feature = "chaos")]
                        if let Some(log) = &mut chaos_log {
                            log.tick(&batch, &healer);
                        }
                        (d, healer.panics_seen, cp.last_write_wall_s())
                    }));
                    match result {
                        Ok((d, panics, checkpoint_s)) => {
                            if let Some(s) = checkpoint_s {
                                controls.last_checkpoint_wall_s.store(s, Ordering::Relaxed);
                            }
                            decisions.level.store(d.level as u8, Ordering::Release);
                            decisions.vis.store(d.vis as u8, Ordering::Relaxed);
                            decisions
                                .acting
                                .store(mode == Mode::Auto, Ordering::Relaxed);
                            decisions.panics_seen.store(panics, Ordering::Release);
                        }
                        Err(_) => {
                            controls.tick_panics.fetch_add(1, Ordering::Relaxed);
                            // The audio thread keeps the last decision; the fault is recorded.
                            let mut healer = healer.lock().unwrap_or_else(|p| p.into_inner());
                            healer.record_own_fault();
                        }
                    }
                    decisions.ticks.fetch_add(1, Ordering::Relaxed);
                    let _ = &telemetry;
                    // Woken early by `stop`, so a deactivate does not wait out a tick.
                    std::thread::park_timeout(TICK_INTERVAL);
                }
                // A clean stop: the final checkpoint, sentinel cleared.
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    let mut healer = healer.lock().unwrap_or_else(|p| p.into_inner());
                    checkpointer
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .finish(&mut healer);
                    #[cfg(feature = "chaos")]
                    if let Some(log) = &mut chaos_log {
                        // The blocks played since the last tick, so the log has every one.
                        batch.clear();
                        while let Ok(r) = records.pop() {
                            batch.push(r);
                        }
                        log.tick(&batch, &healer);
                        log.finish(&healer);
                    }
                }));
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread (waking it) and waits for its final checkpoint.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

impl Drop for HealerThread {
    fn drop(&mut self) {
        self.stop();
    }
}
