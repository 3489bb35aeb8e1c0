//! A stand-in for the host's side of the editor (the `GuiContext`), so tests and benchmarks can
//! draw the real editor without a window and see which parameter gestures and state loads it
//! asked the host for.

use nice_plug::context::PluginApi;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::prelude::{ParamPtr, PluginState};
use std::sync::{Arc, Mutex};

/// What the editor asked the host to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum HostCall {
    Begin(String),
    Set(String, f32),
    End(String),
    SetState,
}

/// Applies parameter changes directly (as a host would) and records every call.
#[derive(Default)]
pub struct RecordingHost {
    pub calls: Mutex<Vec<HostCall>>,
}

impl RecordingHost {
    /// A host and a `GuiContext` talking to it.
    pub fn new() -> (Arc<Self>, GuiContext) {
        let host = Arc::new(Self::default());
        let gui = GuiContext::new(host.clone());
        (host, gui)
    }

    pub fn calls(&self) -> Vec<HostCall> {
        crate::sync::lock(&self.calls).clone()
    }

    fn push(&self, call: HostCall) {
        crate::sync::lock(&self.calls).push(call);
    }
}

impl GuiContextInner for RecordingHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }

    unsafe fn raw_begin_set_parameter(&self, param: ParamPtr) {
        // Safety: the editor only passes pointers to parameters of the plugin it shows.
        self.push(HostCall::Begin(unsafe { param.name() }.to_owned()));
    }

    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // Safety: as above; the host applies the value as a real one would.
        unsafe {
            param._internal_set_normalized_value(normalized);
            self.push(HostCall::Set(param.name().to_owned(), normalized));
        }
    }

    unsafe fn raw_end_set_parameter(&self, param: ParamPtr) {
        // Safety: as above.
        self.push(HostCall::End(unsafe { param.name() }.to_owned()));
    }

    fn get_state(&self) -> PluginState {
        PluginState {
            version: String::new(),
            params: Default::default(),
            fields: Default::default(),
        }
    }

    fn set_state(&self, _state: PluginState) {
        self.push(HostCall::SetState);
    }

    fn request_restart(&self) {}
}
