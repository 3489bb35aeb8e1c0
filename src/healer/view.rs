//! What the health panel shows of an instance's healer, published by the fleet thread through a
//! triple buffer: the editor reads the latest view at every frame without ever taking the
//! healer's lock, and the fleet never waits for the editor.
//!
//! [`channel`] makes the two ends: the [`Publisher`] goes to the fleet thread (through the
//! instance's fleet membership), the [`Reader`] to the editor.

use super::Healer;
use super::learning::Incident;
use super::level::{Level, VisTier};
use std::sync::{Arc, Mutex};

/// How many of the latest incidents the panel lists.
pub const INCIDENTS_SHOWN: usize = 12;

/// The healer as the panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealerView {
    /// Whether a healer has published this (false before the first view).
    pub available: bool,
    pub level: Level,
    pub vis: VisTier,
    /// The predicted risk of an overrun, 0..=1.
    pub risk: f32,
    /// The 99th percentile of recent loads.
    pub p99: f32,
    /// The latest incidents, newest first.
    pub incidents: Vec<Incident>,
    /// Each quality level above safe mode, and whether its breaker is closed.
    pub breakers: Vec<(Level, bool)>,
    pub recommendations: Vec<String>,
    pub notice: Option<String>,
}

impl Default for HealerView {
    fn default() -> Self {
        Self {
            available: false,
            level: Level::Ultra,
            vis: VisTier::Full,
            risk: 0.0,
            p99: 0.0,
            incidents: Vec::new(),
            breakers: Vec::new(),
            recommendations: Vec::new(),
            notice: None,
        }
    }
}

impl Healer {
    /// The healer as the panel shows it, written into `view` (its buffers are reused).
    pub fn write_view(&self, view: &mut HealerView) {
        view.available = true;
        view.level = self.level();
        view.vis = self.vis();
        view.risk = self.risk();
        view.p99 = self.stats().p99();
        view.incidents.clear();
        view.incidents
            .extend(self.log.iter().rev().take(INCIDENTS_SHOWN).copied());
        view.breakers.clear();
        view.breakers.extend(
            Level::ALL[1..]
                .iter()
                .map(|l| (*l, self.breakers[*l as usize].is_closed())),
        );
        view.recommendations.clear();
        view.recommendations
            .extend(self.recommendations.iter().map(|r| r.text()));
        view.notice.clone_from(&self.notice);
    }

    /// The healer as the panel shows it.
    pub fn view(&self) -> HealerView {
        let mut view = HealerView::default();
        self.write_view(&mut view);
        view
    }
}

/// The fleet thread's end. Cloned into each fleet membership of the instance; only the fleet
/// thread publishes (the lock is never contended: it is there so that the end can outlive one
/// activation and serve the next).
#[derive(Clone)]
pub struct Publisher {
    input: Arc<Mutex<triple_buffer::Input<HealerView>>>,
}

impl Publisher {
    /// Publishes `healer`'s view for the editor's next frame.
    pub fn publish(&self, healer: &Healer) {
        let mut input = crate::sync::lock(&self.input);
        healer.write_view(input.input_buffer_mut());
        input.publish();
    }
}

/// The editor's end: the latest view, without waiting for anyone.
#[derive(Clone)]
pub struct Reader {
    output: Arc<Mutex<triple_buffer::Output<HealerView>>>,
}

impl Reader {
    /// Calls `f` with the latest view published (the previous one again if nothing new was).
    pub fn read<R>(&self, f: impl FnOnce(&HealerView) -> R) -> R {
        f(crate::sync::lock(&self.output).read())
    }
}

/// The two ends of an instance's view, starting with `healer`'s view now.
pub fn channel(healer: &Healer) -> (Publisher, Reader) {
    let (input, output) = triple_buffer::triple_buffer(&healer.view());
    (
        Publisher {
            input: Arc::new(Mutex::new(input)),
        },
        Reader {
            output: Arc::new(Mutex::new(output)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::healer::HealerConfig;

    #[test]
    fn the_reader_sees_the_latest_view_published() {
        let mut healer = Healer::new(HealerConfig::default(), Level::Ultra, Default::default());
        let (publisher, reader) = channel(&healer);
        assert_eq!(reader.read(HealerView::clone), healer.view());
        assert!(reader.read(HealerView::clone).available);
        healer.notice = Some("Restored after a crash".into());
        // Not yet published: the reader still has the old view.
        assert_eq!(reader.read(HealerView::clone).notice, None);
        publisher.publish(&healer);
        assert_eq!(
            reader.read(HealerView::clone).notice.as_deref(),
            Some("Restored after a crash")
        );
        // Reading again gives the same view.
        assert_eq!(reader.read(HealerView::clone), healer.view());
    }
}
