//! What the plugin and the editor tell the healer's side of an instance (its mode, ceiling,
//! the editor's requests), and what that side tells them back (tick panics, the last
//! checkpoint's time). The fleet thread (see [`super::fleet`]) reads and writes these atomics.

use super::Mode;
use super::level::Level;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// What the plugin and the editor tell the fleet thread about one instance.
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
