//! A test tone for the README's screenshots (the `demo-tone` feature, built only by
//! `cargo xtask screenshot`): the standalone's dummy backend feeds silence, and a panel without
//! a signal shows little. Never in a release bundle.

/// A soft chord of three sines at -12 dBFS in all, played wherever the input is silent.
#[derive(Debug, Default)]
pub struct DemoTone {
    phase: f32,
}

impl DemoTone {
    /// Fills silent channels with the tone (real-time safe: arithmetic only).
    pub fn fill(&mut self, channels: &mut [&mut [f32]], sample_rate: f32) {
        let silent = channels.iter().all(|c| c.iter().all(|&x| x == 0.0));
        if !silent || channels.is_empty() {
            return;
        }
        let step = std::f32::consts::TAU * 110.0 / sample_rate.max(1.0);
        let len = channels[0].len();
        for i in 0..len {
            let p = self.phase;
            let x = 0.12 * p.sin() + 0.08 * (p * 1.5).sin() + 0.05 * (p * 2.0).sin();
            for c in channels.iter_mut() {
                c[i] = x;
            }
            // Wraps after a whole number of the slowest common period (4 cycles of 110 Hz).
            self.phase = (p + step) % (4.0 * std::f32::consts::TAU);
        }
    }
}
