//! The fault schedules. Loads are Salve's own share of each block's time at 16x; the runner turns
//! them into a slowdown factor from a calibration run, so at a lower oversampling factor the same
//! slowdown costs proportionally less, as it would on a slower machine.

/// What the schedule asks for at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// Salve's own load at 16x.
    pub load: f64,
    pub nan: bool,
    pub denormals: bool,
    /// The runner holds its audio thread this long before the callback (outside preemption).
    pub stall_ms: f64,
    /// The block size.
    pub block: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// No slowdown: measures Salve's own load.
    Calibrate,
    Clean,
    Step,
    Ramp,
    Spikes,
    Preemption,
    Nan,
    Denormals,
    Buffer,
}

/// A busy session: Salve's usual load while nothing goes wrong.
const BASE: f64 = 0.3;

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Clean,
        Scenario::Step,
        Scenario::Ramp,
        Scenario::Spikes,
        Scenario::Preemption,
        Scenario::Nan,
        Scenario::Denormals,
        Scenario::Buffer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Calibrate => "calibrate",
            Scenario::Clean => "clean",
            Scenario::Step => "step",
            Scenario::Ramp => "ramp",
            Scenario::Spikes => "spikes",
            Scenario::Preemption => "preemption",
            Scenario::Nan => "nan",
            Scenario::Denormals => "denormals",
            Scenario::Buffer => "buffer",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What the scenario is, for the plot's title.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::Calibrate => "calibration",
            Scenario::Clean => "clean: a steady 30 % load at 16x",
            Scenario::Step => "step: the load jumps from 30 % to 140 % (at 16x) for half the run",
            Scenario::Ramp => "ramp: the load climbs from 30 % to 200 % (at 16x) and stays",
            Scenario::Spikes => "throttling spikes: 250 ms at 160 % (at 16x) every 2 s",
            Scenario::Preemption => "outside preemption: the host's thread stalls 3 ms every 2 s",
            Scenario::Nan => "NaN bursts: 50 ms of NaN inside the DSP every 2 s",
            Scenario::Denormals => "denormal storms: 500 ms of subnormal input every 3 s",
            Scenario::Buffer => "buffer size: the block grows to 4x halfway through",
        }
    }

    /// The largest block the scenario uses.
    pub fn max_block(self, block: usize) -> usize {
        match self {
            Scenario::Buffer => block * 4,
            _ => block,
        }
    }

    /// The fault at `t` seconds into a run of `len` seconds with blocks of `block` samples
    /// lasting `period` seconds.
    pub fn at(self, t: f64, len: f64, block: usize, period: f64) -> Fault {
        let mut f = Fault {
            load: BASE,
            nan: false,
            denormals: false,
            stall_ms: 0.0,
            block,
        };
        // Periodic faults start after two seconds of clean running.
        let every = |period: f64, width: f64| t >= 2.0 && (t - 2.0) % period < width;
        match self {
            Scenario::Calibrate => f.load = 0.0,
            Scenario::Clean => {}
            Scenario::Step => {
                if (0.2 * len..0.7 * len).contains(&t) {
                    f.load = 1.4;
                }
            }
            Scenario::Ramp => {
                let x = ((t - 0.1 * len) / (0.7 * len)).clamp(0.0, 1.0);
                f.load = BASE + x * (2.0 - BASE);
            }
            Scenario::Spikes => {
                if every(2.0, 0.25) {
                    f.load = 1.6;
                }
            }
            Scenario::Preemption => {
                // One stall every two seconds: only the first block inside the window.
                if every(2.0, period * 0.999) {
                    f.stall_ms = 3.0;
                }
            }
            Scenario::Nan => f.nan = every(2.0, 0.05),
            Scenario::Denormals => f.denormals = every(3.0, 0.5),
            Scenario::Buffer => {
                if t >= 0.5 * len {
                    f.block = block * 4;
                }
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedules_do_what_they_say() {
        let s = |sc: Scenario, t: f64| sc.at(t, 30.0, 64, 64.0 / 48_000.0);
        assert_eq!(s(Scenario::Step, 5.0).load, BASE);
        assert_eq!(s(Scenario::Step, 10.0).load, 1.4);
        assert_eq!(s(Scenario::Step, 25.0).load, BASE);
        assert!((s(Scenario::Ramp, 24.0).load - 2.0).abs() < 1e-9);
        assert!(s(Scenario::Spikes, 4.1).load > 1.0 && s(Scenario::Spikes, 4.5).load == BASE);
        assert!(s(Scenario::Nan, 6.01).nan && !s(Scenario::Nan, 6.2).nan);
        assert_eq!(s(Scenario::Buffer, 20.0).block, 256);
        // One stall per two seconds, not one per block.
        // Times as the runner computes them: whole samples played over the rate.
        let stalls = (0..30 * 48_000 / 64)
            .filter(|i| s(Scenario::Preemption, (i * 64) as f64 / 48_000.0).stall_ms > 0.0)
            .count();
        assert_eq!(stalls, 14);
    }
}
