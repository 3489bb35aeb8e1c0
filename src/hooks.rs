//! Test-only fault injection: with the `test-hooks` cargo feature, a hidden parameter lets a test
//! host inject a NaN burst or a panic into the DSP through the real plugin ABI. Without the
//! feature (every release bundle) the parameter does not exist.

use crate::dsp::{Engine, Fault};
use nice_plug::prelude::*;

/// The hidden fault parameter (with `test-hooks`): 0 none, 1 NaN burst, 2 panic. Each change to a
/// non-zero value injects one fault.
#[cfg(feature = "test-hooks")]
#[derive(Params)]
pub struct HookParams {
    #[id = "test_fault"]
    pub fault: IntParam,
}

#[cfg(feature = "test-hooks")]
impl Default for HookParams {
    fn default() -> Self {
        Self {
            fault: IntParam::new("Test fault", 0, IntRange::Linear { min: 0, max: 2 })
                .non_automatable(),
        }
    }
}

/// Without `test-hooks` there is nothing to inject.
#[cfg(not(feature = "test-hooks"))]
#[derive(Params, Default)]
pub struct HookParams {}

/// The audio thread's side: notices changes of the fault parameter.
#[derive(Default)]
pub struct Hooks {
    #[cfg(feature = "test-hooks")]
    last: i32,
}

impl Hooks {
    /// Arms the fault the parameter asks for, if it just changed. Returns whether a panic is
    /// armed (the plugin then lets the panic's own allocations through the allocation checker).
    #[allow(unused_variables)]
    pub fn arm(&mut self, params: &HookParams, engine: &mut Engine) -> bool {
        #[cfg(feature = "test-hooks")]
        {
            let value = params.fault.value();
            if value != self.last {
                self.last = value;
                match value {
                    1 => engine.inject_fault(Fault::Nan),
                    2 => {
                        engine.inject_fault(Fault::Panic);
                        return true;
                    }
                    _ => {}
                }
            }
        }
        let _ = Fault::Nan;
        false
    }
}
