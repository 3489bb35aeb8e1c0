//! Salve's heavier developer commands, started by `cargo xtask` (the `xtask` crate) once the
//! system set-up is done:
//! - `bundle salve --release`: nice-plug's bundler.
//! - `screenshot [PNG]`: bundles Salve, runs the standalone under Xvfb with the dummy audio
//!   backend and writes a PNG of its editor (default `docs/health-panel.png`; needs `Xvfb` and
//!   ImageMagick's `import` and `convert`, Debian: xvfb, imagemagick).
//! - `chaos`: the real-time fault-injection runner (see `chaos/mod.rs`, or
//!   `cargo xtask chaos --help`).

mod chaos;

use nice_plug_xtask::Result;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::Duration;

/// The X display the screenshot uses.
const DISPLAY: &str = ":97";
/// The editor's size in pixels (see `src/editor/mod.rs`).
const EDITOR_SIZE: &str = "860x560+0+0";

fn main() {
    // The error as one plain message (anyhow's backtrace would bury it).
    if let Err(e) = run_command() {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run_command() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("chaos") => chaos::main(args[1..].to_vec()).map_err(|e| anyhow::anyhow!(e)),
        Some("screenshot") => screenshot(
            args.get(1)
                .map(String::as_str)
                .unwrap_or("docs/health-panel.png"),
        ),
        _ => nice_plug_xtask::main_with_args("cargo xtask", args),
    }
}

/// The workspace's root folder (this crate lives in `tasks/` below it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tasks lives in the workspace")
        .to_path_buf()
}

/// Kills the child when dropped, so nothing is left running on error.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status()?;
    anyhow_ok(status.success(), || format!("{cmd:?} failed: {status}"))
}

fn anyhow_ok(ok: bool, why: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::other(why()).into())
    }
}

fn screenshot(out: &str) -> Result<()> {
    nice_plug_xtask::main_with_args(
        "cargo xtask",
        ["bundle", "salve", "--release"].map(String::from),
    )?;
    let _xvfb = Running(
        Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1280x800x24"])
            .spawn()?,
    );
    sleep(Duration::from_secs(2));
    let _salve = Running(
        Command::new("target/bundled/Salve")
            .args(["--backend", "dummy"])
            .env("DISPLAY", DISPLAY)
            .spawn()?,
    );
    // Let the editor open and the panel fill with a few seconds of telemetry.
    sleep(Duration::from_secs(6));
    let full = std::env::temp_dir().join("salve-screen.png");
    run(Command::new("import")
        .args(["-display", DISPLAY, "-window", "root"])
        .arg(&full))?;
    if let Some(dir) = std::path::Path::new(out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    run(Command::new("convert")
        .arg(&full)
        .args(["-crop", EDITOR_SIZE, "+repage", out]))?;
    println!("Wrote {out}");
    Ok(())
}
