//! What the plugin and the editor ask of the fleet for one instance (its mode, ceiling, offline
//! state, the editor's frame time and buttons), and what the fleet reports back to the editor.
//!
//! [`channel`] gives one end per side, and each end has only its side's methods:
//! - [`Plugin`]: the plugin's main and audio threads publish the user's choices (the host never
//!   runs `activate` and `process` at once, so they never race);
//! - [`Editor`]: the editor tells its frames and presses its buttons, and reads the report;
//! - [`Fleet`]: the fleet thread (see [`super::fleet`]) reads the requests, takes the buttons
//!   (swaps them back), and writes the report.
//!
//! Every value is a relaxed atomic: no side ever waits for another.

use super::Mode;
use super::level::Level;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

#[derive(Debug)]
struct Shared {
    /// [`Mode`] as `u8` (0 Auto, 1 Monitor only, 2 Off).
    mode: AtomicU8,
    /// The user's ceiling ([`Level`] as `u8`).
    ceiling: AtomicU8,
    /// Set while the host renders offline: the healer stays out.
    offline: AtomicBool,
    /// Set while the host bypasses the instance: the healer holds.
    bypassed: AtomicBool,
    /// Frames the editor has drawn.
    editor_frames: AtomicU64,
    /// The editor's smoothed frame time in microseconds, 0 while closed.
    gui_frame_us: AtomicU64,
    /// The health panel's buttons, until the fleet takes them.
    acknowledge: AtomicBool,
    reset_learning: AtomicBool,
    /// The report: panics caught inside a tick...
    tick_panics: AtomicU64,
    /// ...and when the last checkpoint was written (Unix seconds), 0 for none yet.
    last_checkpoint_wall_s: AtomicU64,
}

/// The three ends of one instance's requests, all at their defaults: Auto, ceiling `ceiling`,
/// realtime, no editor.
pub fn channel(ceiling: Level) -> (Plugin, Editor, Fleet) {
    let shared = Arc::new(Shared {
        mode: AtomicU8::new(mode_to_u8(Mode::Auto)),
        ceiling: AtomicU8::new(ceiling as u8),
        offline: AtomicBool::new(false),
        bypassed: AtomicBool::new(false),
        editor_frames: AtomicU64::new(0),
        gui_frame_us: AtomicU64::new(0),
        acknowledge: AtomicBool::new(false),
        reset_learning: AtomicBool::new(false),
        tick_panics: AtomicU64::new(0),
        last_checkpoint_wall_s: AtomicU64::new(0),
    });
    (
        Plugin {
            shared: shared.clone(),
            published: None,
        },
        Editor(shared.clone()),
        Fleet(shared),
    )
}

fn mode_to_u8(mode: Mode) -> u8 {
    match mode {
        Mode::Auto => 0,
        Mode::MonitorOnly => 1,
        Mode::Off => 2,
    }
}

/// The plugin's end (main and audio threads): the user's choices, from the parameters.
#[derive(Debug)]
pub struct Plugin {
    shared: Arc<Shared>,
    /// What was stored last: the audio thread publishes at every block, and stores only what
    /// changed, so that it does not write the line the editor writes at every frame and the
    /// fleet thread reads (with hundreds of instances, every such line is a cache miss).
    published: Option<(u8, u8, bool, bool)>,
}

impl Plugin {
    /// Publishes the healing mode, the quality ceiling, whether the host renders offline and
    /// whether it bypasses the instance (relaxed stores: real-time safe).
    #[inline]
    pub fn publish(&mut self, mode: Mode, ceiling: Level, offline: bool, bypassed: bool) {
        let now = (mode_to_u8(mode), ceiling as u8, offline, bypassed);
        if self.published == Some(now) {
            return;
        }
        self.published = Some(now);
        let s = &*self.shared;
        s.mode.store(now.0, Ordering::Relaxed);
        s.ceiling.store(now.1, Ordering::Relaxed);
        s.offline.store(offline, Ordering::Relaxed);
        s.bypassed.store(bypassed, Ordering::Relaxed);
    }
}

/// The editor's end.
#[derive(Clone, Debug)]
pub struct Editor(Arc<Shared>);

impl Editor {
    /// One frame drawn, with the editor's smoothed frame time: the fleet publishes the panel's
    /// view of the healer only at ticks when frames were drawn, and sheds the visualizer when
    /// they are slow.
    pub fn frame_drawn(&self, smoothed_frame_us: f32) {
        let s = &*self.0;
        s.gui_frame_us
            .store(smoothed_frame_us as u64, Ordering::Relaxed);
        s.editor_frames.fetch_add(1, Ordering::Relaxed);
    }

    /// The panel's "Acknowledge" button.
    pub fn acknowledge(&self) {
        self.0.acknowledge.store(true, Ordering::Relaxed);
    }

    /// The panel's "Reset learning" button.
    pub fn reset_learning(&self) {
        self.0.reset_learning.store(true, Ordering::Relaxed);
    }

    /// Panics the fleet caught inside this instance's ticks.
    pub fn tick_panics(&self) -> u64 {
        self.0.tick_panics.load(Ordering::Relaxed)
    }

    /// When the last checkpoint was written (Unix seconds).
    pub fn last_checkpoint_wall_s(&self) -> Option<u64> {
        let s = self.0.last_checkpoint_wall_s.load(Ordering::Relaxed);
        (s > 0).then_some(s)
    }
}

/// The fleet thread's end.
#[derive(Clone, Debug)]
pub struct Fleet(Arc<Shared>);

impl Fleet {
    /// Asks for the shared requests in the cache (see [`crate::cache`]).
    #[inline]
    pub fn prefetch(&self) {
        crate::cache::prefetch_value(&*self.0);
    }

    pub fn mode(&self) -> Mode {
        match self.0.mode.load(Ordering::Relaxed) {
            0 => Mode::Auto,
            1 => Mode::MonitorOnly,
            _ => Mode::Off,
        }
    }

    pub fn ceiling(&self) -> Level {
        Level::from_u8(self.0.ceiling.load(Ordering::Relaxed))
    }

    pub fn offline(&self) -> bool {
        self.0.offline.load(Ordering::Relaxed)
    }

    pub fn bypassed(&self) -> bool {
        self.0.bypassed.load(Ordering::Relaxed)
    }

    /// The editor's smoothed frame time (ms), `None` while it is closed (or has not drawn).
    pub fn gui_frame_ms(&self) -> Option<f32> {
        let us = self.0.gui_frame_us.load(Ordering::Relaxed);
        (us > 0).then_some(us as f32 / 1000.0)
    }

    /// Frames the editor has drawn so far.
    pub fn editor_frames(&self) -> u64 {
        self.0.editor_frames.load(Ordering::Relaxed)
    }

    /// Whether "Acknowledge" was pressed since the last call.
    pub fn take_acknowledge(&self) -> bool {
        self.0.acknowledge.swap(false, Ordering::Relaxed)
    }

    /// Whether "Reset learning" was pressed since the last call.
    pub fn take_reset_learning(&self) -> bool {
        self.0.reset_learning.swap(false, Ordering::Relaxed)
    }

    /// Reports a panic caught inside a tick.
    pub fn tick_panicked(&self) {
        self.0.tick_panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports when the last checkpoint was written (Unix seconds).
    pub fn checkpoint_written(&self, wall_s: u64) {
        self.0
            .last_checkpoint_wall_s
            .store(wall_s, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_hears_the_others() {
        let (mut plugin, editor, fleet) = channel(Level::High);
        assert_eq!((fleet.mode(), fleet.ceiling()), (Mode::Auto, Level::High));
        assert_eq!(
            (fleet.gui_frame_ms(), editor.last_checkpoint_wall_s()),
            (None, None)
        );
        plugin.publish(Mode::MonitorOnly, Level::Medium, true, true);
        assert!(fleet.bypassed());
        assert_eq!(
            (fleet.mode(), fleet.ceiling(), fleet.offline()),
            (Mode::MonitorOnly, Level::Medium, true)
        );
        // The same choices again store nothing; a change after them is stored.
        plugin.publish(Mode::MonitorOnly, Level::Medium, true, true);
        plugin.publish(Mode::Off, Level::Low, false, false);
        assert_eq!(
            (
                fleet.mode(),
                fleet.ceiling(),
                fleet.offline(),
                fleet.bypassed()
            ),
            (Mode::Off, Level::Low, false, false)
        );
        editor.frame_drawn(2500.0);
        assert_eq!(
            (fleet.gui_frame_ms(), fleet.editor_frames()),
            (Some(2.5), 1)
        );
        // A button is taken once.
        editor.acknowledge();
        assert!(fleet.take_acknowledge() && !fleet.take_acknowledge());
        assert!(!fleet.take_reset_learning());
        fleet.tick_panicked();
        fleet.checkpoint_written(1_700_000_000);
        assert_eq!(editor.tick_panics(), 1);
        assert_eq!(editor.last_checkpoint_wall_s(), Some(1_700_000_000));
    }
}
