//! A stand-in for the host's side of the editor (the `GuiContext`), so tests and benchmarks can
//! draw the real editor without a window and see which parameter gestures and state loads it
//! asked the host for. Like a host, it applies them: gestures set the parameter, a state load
//! sets the parameters it names.

use nice_plug::context::PluginApi;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::{ParamPtr, Params, PluginState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the editor asked the host to do, in order; parameters by their stable `#[id]`.
#[derive(Debug, Clone, PartialEq)]
pub enum HostCall {
    Begin(String),
    Set(String, f32),
    End(String),
    SetState,
}

/// Applies parameter changes directly (as a host would) and records every call.
pub struct RecordingHost {
    pub calls: Mutex<Vec<HostCall>>,
    /// Each parameter's `#[id]` by its name (unique in a plugin, and all a `ParamPtr` tells).
    ids: HashMap<String, String>,
    /// Each parameter by its `#[id]`, to load states.
    params: HashMap<String, ParamPtr>,
}

impl RecordingHost {
    /// A host of the plugin with `params`, and a `GuiContext` talking to it.
    pub fn new(params: &dyn Params) -> (Arc<Self>, GuiContext) {
        let map = params.param_map();
        let ids = map
            .iter()
            // Safety: the pointers come from `params`, alive for this call.
            .map(|(id, ptr, _)| (unsafe { ptr.name() }.to_owned(), id.clone()))
            .collect();
        let params = map.into_iter().map(|(id, ptr, _)| (id, ptr)).collect();
        let host = Arc::new(Self {
            calls: Mutex::default(),
            ids,
            params,
        });
        let gui = GuiContext::new(host.clone());
        (host, gui)
    }

    /// The `#[id]` of the parameter `param` points to.
    ///
    /// # Safety
    /// `param` points to a parameter of the plugin this host was made for.
    unsafe fn id(&self, param: ParamPtr) -> String {
        let name = unsafe { param.name() };
        self.ids
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
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
        self.push(HostCall::Begin(unsafe { self.id(param) }));
    }

    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // Safety: as above; the host applies the value as a real one would.
        unsafe {
            param._internal_set_normalized_value(normalized);
            self.push(HostCall::Set(self.id(param), normalized));
        }
    }

    unsafe fn raw_end_set_parameter(&self, param: ParamPtr) {
        // Safety: as above.
        self.push(HostCall::End(unsafe { self.id(param) }));
    }

    fn get_state(&self) -> PluginState {
        PluginState {
            version: String::new(),
            params: Default::default(),
            fields: Default::default(),
        }
    }

    /// Sets the parameters the state names, as nice-plug does when a host loads one. The
    /// parameters must outlive the host (they do: the tests keep the plugin).
    fn set_state(&self, state: PluginState) {
        for (id, value) in &state.params {
            let Some(&ptr) = self.params.get(id) else {
                continue;
            };
            // Safety: the pointers are the plugin's parameters, alive while the editor is.
            unsafe {
                match (ptr, value) {
                    (ParamPtr::EnumParam(p), ParamValue::String(v)) => {
                        (*p).set_from_id(v);
                    }
                    (_, ParamValue::F32(v)) => {
                        ptr._internal_set_normalized_value(ptr.preview_normalized(*v));
                    }
                    (_, ParamValue::I32(v)) => {
                        ptr._internal_set_normalized_value(ptr.preview_normalized(*v as f32));
                    }
                    (_, ParamValue::Bool(v)) => {
                        ptr._internal_set_normalized_value(if *v { 1.0 } else { 0.0 });
                    }
                    _ => {}
                }
            }
        }
        self.push(HostCall::SetState);
    }

    fn request_restart(&self) {}
}
