//! What the plugin and the editor ask of the fleet for one instance ([`Requests`]: its mode,
//! ceiling, offline state, the editor's frame time and buttons), and what the fleet reports back
//! to the editor ([`Report`]). Each is one-way: the fleet thread (see [`super::fleet`]) only reads
//! and takes requests, and is the only writer of the report.

use super::Mode;
use super::level::Level;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// What the plugin (main and audio threads, from the parameters) and the editor ask of the
/// fleet thread for one instance. The fleet reads them, and takes (swaps back) the buttons.
#[derive(Debug)]
pub struct Requests {
    /// [`Mode`] as `u8` (0 Auto, 1 Monitor only, 2 Off).
    pub mode: AtomicU8,
    /// The user's ceiling ([`Level`] as `u8`).
    pub ceiling: AtomicU8,
    /// Set while the host renders offline: the healer stays out.
    pub offline: AtomicBool,
    /// Frames the editor has drawn: the fleet publishes the panel's view of the healer at a tick
    /// only if this moved since the last one (the editor is open and drawing).
    pub editor_frames: AtomicU64,
    /// The editor's smoothed frame time in microseconds, 0 while closed.
    pub gui_frame_us: AtomicU64,
    /// Requests from the health panel, consumed by the thread.
    pub acknowledge: AtomicBool,
    pub reset_learning: AtomicBool,
}

/// What the fleet thread tells the editor about one instance; the fleet is its only writer.
#[derive(Debug, Default)]
pub struct Report {
    /// Panics caught inside a tick.
    pub tick_panics: AtomicU64,
    /// When the last checkpoint was written (Unix seconds, UTC), 0 for none yet.
    pub last_checkpoint_wall_s: AtomicU64,
}

impl Requests {
    pub fn new(ceiling: Level) -> Self {
        Self {
            mode: AtomicU8::new(0),
            ceiling: AtomicU8::new(ceiling as u8),
            offline: AtomicBool::new(false),
            editor_frames: AtomicU64::new(0),
            gui_frame_us: AtomicU64::new(0),
            acknowledge: AtomicBool::new(false),
            reset_learning: AtomicBool::new(false),
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
