//! The audio path: everything that turns input samples into output samples, with no knowledge of
//! plugins, hosts or threads.

pub mod declick;
pub mod delay;
pub mod engine;
pub mod filters;
pub mod halfband;
pub mod limiter;
pub mod loudness;
pub mod oversampler;
pub mod shaper;
pub mod simd;
pub mod tap;

#[cfg(any(test, feature = "fault-injection"))]
pub use engine::InjectedFault;
pub use engine::{CHUNK, ControlValues, Controls, Engine, OutputStats, Path};
pub use oversampler::Factor;
pub use shaper::Curve;
pub use simd::Simd;
