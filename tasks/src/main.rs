//! Salve's heavier developer commands, started by `cargo xtask` (the `xtask` crate) once the
//! system set-up is done:
//! - `bundle salve --release`: nice-plug's bundler.
//! - `screenshot [PNG] [LOAD-PNG]`: bundles a Salve that plays a test tone where its input is
//!   silent (the `demo-tone` feature, in its own target directory `target/screenshot`, so the
//!   user's bundle never has it), runs the standalone under Xvfb with the dummy audio backend and
//!   writes two PNGs of its editor: playing (default `docs/health-panel.png`), and in a session
//!   whose audio cycle fills up (768 kHz, 256-sample periods; default
//!   `docs/health-panel-load.png`), where the panel shows the step down and its reason. Needs `Xvfb` and ImageMagick's `import` and
//!   `convert` (Debian: xvfb, imagemagick).
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
            args.get(2)
                .map(String::as_str)
                .unwrap_or("docs/health-panel-load.png"),
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

fn screenshot(out: &str, out_load: &str) -> Result<()> {
    let target = workspace_root().join("target").join("screenshot");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "xtask",
            "bundle",
            "salve",
            "--release",
            "--features",
            "demo-tone",
        ])
        .status()?;
    anyhow_ok(status.success(), || {
        "bundling the screenshot build failed".into()
    })?;
    let salve = target.join("bundled").join("Salve");
    let _xvfb = Running(
        Command::new("Xvfb")
            .args([DISPLAY, "-screen", "0", "1280x800x24"])
            .spawn()?,
    );
    sleep(Duration::from_secs(2));
    // Playing: long enough for the meters, the graph and the spectrum to fill, and for the
    // start-up (the fleet's first look at a cycle it does not know yet) to be over.
    shot(&salve, &[], Duration::from_secs(40), out)?;
    // Under load: a session whose audio cycle fills up. At 768 kHz and 256-sample periods each
    // cycle is a third of a millisecond, and the host's own work and Salve's at 16x fill most
    // of it: the fleet lowers the quality to make room, and the panel says so.
    shot(
        &salve,
        &["--sample-rate", "768000", "--period-size", "256"],
        Duration::from_secs(25),
        out_load,
    )
}

/// Runs the standalone with `args` for `wait`, then writes a PNG of its editor to `out`.
fn shot(salve: &std::path::Path, args: &[&str], wait: Duration, out: &str) -> Result<()> {
    let _salve = Running(
        Command::new(salve)
            .args(["--backend", "dummy"])
            .args(args)
            .env("DISPLAY", DISPLAY)
            .spawn()?,
    );
    sleep(wait);
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
