//! The standalone Salve: the plugin with its own audio I/O (`--backend dummy|alsa|jack|auto`).

fn main() {
    nice_plug::prelude::nice_export_standalone::<salve::Salve>();
}
