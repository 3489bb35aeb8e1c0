//! A deterministic simulation of Salve in a host, for the healer's tests: a virtual clock, the
//! real probe and reflex, a cost model where Salve's load is a base cost per factor times a
//! slowdown plus seeded jitter, outside stalls that do not scale with the factor, and the
//! engine's tier switches (both tiers run during a crossfade).

use super::level::Level;
use super::shared::{AudioSide, Decisions, FleetSide, Reflex};
use super::*;
use crate::dsp::OutputStats;
use crate::probe::clock::{Clock, VirtualClock};
use crate::probe::events::Events;
use crate::probe::telemetry::Telemetry;
use crate::probe::{BlockInfo, Probe, ProbeConfig};
use std::sync::Arc;

pub const RATE: f32 = 48_000.0;
pub const BLOCK: u32 = 64;
/// The healer thread's tick, in seconds (50 Hz).
pub const TICK_S: f64 = 0.02;

/// Salve's load per level at slowdown 1 (the share of a block's duration its processing takes).
pub const BASE_LOAD: [f32; 6] = [0.01, 0.05, 0.08, 0.14, 0.24, 0.40];

/// What happens to the machine over time.
#[derive(Debug, Clone, Copy)]
pub enum Stress {
    /// Nothing.
    Clean,
    /// Salve's work slows down by `factor` from `from_s` to `until_s`.
    Step {
        factor: f32,
        from_s: f64,
        until_s: f64,
    },
    /// The slowdown rises linearly from 1 to `to` over `from_s..until_s`, then stays.
    Ramp { to: f32, from_s: f64, until_s: f64 },
    /// Every `period_s`, one block takes `extra_s` longer, whatever the factor.
    Preemption { period_s: f64, extra_s: f64 },
    /// Every `period_s` from `from_s` to `until_s`, the DSP produces NaN.
    NanBursts {
        period_s: f64,
        from_s: f64,
        until_s: f64,
    },
}

impl Stress {
    fn slowdown(&self, t: f64) -> f32 {
        match *self {
            Stress::Step {
                factor,
                from_s,
                until_s,
            } if t >= from_s && t < until_s => factor,
            Stress::Ramp {
                to,
                from_s,
                until_s,
            } if t >= from_s => {
                let x = ((t - from_s) / (until_s - from_s)).min(1.0) as f32;
                1.0 + (to - 1.0) * x
            }
            _ => 1.0,
        }
    }
}

/// Per-block outcome, for the assertions.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub t: f64,
    pub overrun: bool,
    /// The block's load (its time over its period).
    pub load: f32,
    pub level: Level,
    pub nan: bool,
}

pub struct Sim {
    pub healer: Healer,
    pub mode: Mode,
    pub ceiling: Level,
    pub stress: Stress,
    pub steps: Vec<Step>,
    /// Every tick's time and records, kept to replay the same stream into another healer.
    pub batches: Vec<(u64, Vec<BlockRecord>)>,
    /// Load of the base cost at slowdown 1 (scales `BASE_LOAD`).
    pub base_scale: f32,
    pub jitter: f32,
    rng: u64,
    probe: Probe<VirtualClock>,
    records: rtrb::Consumer<BlockRecord>,
    clock: VirtualClock,
    decisions: Arc<Decisions>,
    /// The simulated plugin's side (the reflex) and the simulated fleet's side.
    audio: AudioSide,
    fleet: FleetSide,
    reflex: Reflex,
    heard: Level,
    switching: Option<(Level, u32)>,
    /// The reflex stepped down at the last block: the engine switches urgently.
    reflex_fired_last: bool,
    /// The last block's load: a step down after a near miss is urgent too.
    last_load: f32,
    offline: bool,
}

impl Sim {
    pub fn new(mode: Mode, stress: Stress, learned: Learned, seed: u64) -> Self {
        let clock = VirtualClock::new();
        let (probe, records) = Probe::new(
            clock.clone(),
            ProbeConfig::default(),
            Telemetry::channel().0,
        );
        let ceiling = Level::Ultra;
        let mut healer = Healer::new(HealerConfig::default(), ceiling, learned);
        let start = healer.start_session(RATE as u32, BLOCK, ceiling);
        let start = if mode == Mode::Auto { start } else { ceiling };
        let (decisions, fleet, audio) = Decisions::new(start);
        Self {
            healer,
            mode,
            ceiling,
            stress,
            steps: Vec::new(),
            batches: Vec::new(),
            base_scale: 1.0,
            jitter: 0.05,
            rng: seed | 1,
            probe,
            records,
            clock,
            decisions,
            audio,
            fleet,
            reflex: Reflex::default(),
            heard: start,
            switching: None,
            reflex_fired_last: false,
            last_load: 0.0,
            offline: false,
        }
    }

    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    fn random(&mut self) -> f32 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        ((self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32) / (1u64 << 24) as f32
    }

    fn cost(&mut self, level: Level, t: f64) -> f32 {
        let jitter = 1.0 + self.jitter * (2.0 * self.random() - 1.0);
        BASE_LOAD[level as usize] * self.base_scale * self.stress.slowdown(t) * jitter
    }

    /// Runs `seconds` of audio in 64-sample blocks, ticking the healer at 50 Hz.
    pub fn run(&mut self, seconds: f64) {
        let block_s = BLOCK as f64 / RATE as f64;
        let block_ns = (block_s * 1e9) as u64;
        let ticks_per = (TICK_S / block_s).round() as usize;
        let blocks = (seconds / block_s) as usize;
        let start_block = self.steps.len();
        let mut batch: Vec<BlockRecord> = Vec::with_capacity(64);
        for b in 0..blocks {
            let t = (start_block + b) as f64 * block_s;
            self.fleet
                .publish_acting(self.mode == Mode::Auto && !self.offline);
            // The engine: follow the decided level, crossfading (both tiers cost) while switching.
            let wanted = self.decisions.level();
            if self.switching.is_none() && wanted != self.heard {
                // The engine's switch lengths (latency 6): urgent (after the reflex, or a step
                // down after a near miss), a short warm-up and fade; otherwise a warm-up, then a
                // 10 ms fade (480). Both tiers cost throughout.
                use crate::dsp::engine::{SETTLE, URGENT_FADE, URGENT_WARM, WARM_UP_EXTRA};
                let down = wanted < self.heard;
                let urgent =
                    down && (self.reflex_fired_last || self.last_load > crate::URGENT_LOAD);
                let samples = if urgent {
                    URGENT_WARM + URGENT_FADE
                } else {
                    (6 + WARM_UP_EXTRA).max(SETTLE) + 480
                } as u32;
                let blocks = samples.div_ceil(BLOCK);
                self.switching = Some((wanted, blocks));
            }
            let mut load = self.cost(self.heard, t);
            // The block is heard (and labelled) as the old tier until its fade completes.
            let label = self.heard;
            if let Some((to, left)) = self.switching {
                load += self.cost(to, t);
                if left <= 1 {
                    self.heard = to;
                    self.switching = None;
                } else {
                    self.switching = Some((to, left - 1));
                }
            }
            let mut extra_ns = 0;
            let mut nan = false;
            match self.stress {
                // Periodic faults fire on whole block counts, free of float rounding.
                Stress::Preemption { period_s, extra_s } => {
                    let period = (period_s / block_s).round() as usize;
                    let index = start_block + b;
                    if index > 0 && index.is_multiple_of(period) {
                        extra_ns = (extra_s * 1e9) as u64;
                    }
                }
                Stress::NanBursts {
                    period_s,
                    from_s,
                    until_s,
                } if t >= from_s && t < until_s && self.heard != Level::Safe => {
                    let period = (period_s / block_s).round() as usize;
                    let index = start_block + b - (from_s / block_s).round() as usize;
                    nan = index.is_multiple_of(period);
                }
                _ => {}
            }
            let start = (start_block + b) as u64 * block_ns;
            self.clock.set_ns(start);
            let begin = self.probe.begin();
            self.clock
                .advance_ns((load as f64 * block_ns as f64) as u64 + extra_ns);
            let info = BlockInfo {
                samples: BLOCK,
                sample_rate: RATE,
                realtime: !self.offline,
                playing: false,
                position: None,
                loop_range: None,
            };
            let stats = OutputStats {
                restarted: nan,
                ..Default::default()
            };
            let record =
                *self
                    .probe
                    .end(begin, &info, &stats, label.ratio() as u8, Events::default());
            self.reflex_fired_last = self.reflex.observe(&record, &self.audio);
            self.last_load = record.load;
            self.steps.push(Step {
                t,
                overrun: record.events.contains(EventKind::Overrun),
                load: record.load,
                level: label,
                nan,
            });

            if (start_block + b + 1).is_multiple_of(ticks_per) {
                batch.clear();
                while let Ok(r) = self.records.pop() {
                    batch.push(r);
                }
                let inputs = TickInputs {
                    mode: self.mode,
                    ceiling: self.ceiling,
                    gui_frame_ms: None,
                    reflex_count: self.fleet.begin_tick().reflex_count,
                    panics_raised: 0,
                    bypassed: false,
                };
                let now = self.clock.now_ns();
                let d = self.healer.tick(now, &batch, inputs);
                self.batches.push((now, batch.clone()));
                // The simulated fleet ticks between blocks: no reflex runs during its tick.
                self.audio.start_at(d.level);
                self.fleet.publish_vis(d.vis);
            }
        }
    }

    pub fn overruns(&self) -> usize {
        self.steps.iter().filter(|s| s.overrun).count()
    }

    /// The time spent past the deadlines, in periods: a block of twice its period counts one
    /// (a host misses that many periods), however many blocks it took.
    pub fn late_periods(&self) -> f32 {
        self.steps.iter().map(|s| (s.load - 1.0).max(0.0)).sum()
    }

    /// The dearest block.
    pub fn worst_load(&self) -> f32 {
        self.steps.iter().map(|s| s.load).fold(0.0, f32::max)
    }

    pub fn first_overrun(&self) -> Option<f64> {
        self.steps.iter().find(|s| s.overrun).map(|s| s.t)
    }

    /// When the heard level first dropped below the ceiling.
    pub fn first_downgrade(&self) -> Option<f64> {
        self.steps
            .iter()
            .find(|s| s.level < self.ceiling)
            .map(|s| s.t)
    }

    /// The mean oversampling ratio heard.
    pub fn mean_factor(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| s.level.ratio() as f64)
            .sum::<f64>()
            / self.steps.len() as f64
    }

    /// Changes of the heard level.
    pub fn level_changes(&self) -> Vec<(f64, Level)> {
        self.steps
            .windows(2)
            .filter(|w| w[0].level != w[1].level)
            .map(|w| (w[1].t, w[1].level))
            .collect()
    }

    /// The most level changes within any 60 s window.
    pub fn max_changes_per_minute(&self) -> usize {
        let changes = self.level_changes();
        changes
            .iter()
            .map(|(t, _)| {
                changes
                    .iter()
                    .filter(|(u, _)| *u >= *t && *u < t + 60.0)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}
