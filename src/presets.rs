//! Factory presets.
