//! `cargo xtask ...`: Salve's developer commands. This crate has no dependencies, so it compiles
//! in a second on a fresh machine, and it first makes sure the system can build Salve:
//! - `bundle salve --release` (and `screenshot`, `chaos`): checks the system libraries the build
//!   needs and installs missing ones (`system.rs`; `--no-install` only checks), then hands over
//!   to the `salve-tasks` crate (nice-plug's bundler, the screenshot, the chaos runner).
//! - `test [cargo test args]`: the same set-up, then `cargo test --workspace`: the whole suite,
//!   and exactly what CI runs.
//! - `setup [--no-install]`: only the set-up.
//! - `fresh-check`: both of the README's commands on a fresh Debian root (`fresh.rs`).

mod fresh;
mod system;

use std::process::Command;

fn main() {
    if let Err(e) = run_command() {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
}

fn run_command() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().cloned().unwrap_or_default();
    let install = system::take_install_flag(&mut args);
    match command.as_str() {
        "setup" => system::ensure(install),
        "test" => {
            system::ensure(install)?;
            exit_with(cargo().args(["test", "--workspace"]).args(&args[1..]))
        }
        "fresh-check" => fresh::main(args[1..].to_vec()),
        _ => {
            system::ensure(install)?;
            exit_with(
                cargo()
                    .args(["run", "--package", "salve-tasks", "--release", "--"])
                    .args(&args),
            )
        }
    }
}

/// Cargo, in the workspace's root.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// Runs `cmd` and exits with its status.
fn exit_with(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    std::process::exit(status.code().unwrap_or(1));
}

/// The workspace's root folder (this crate lives in `xtask/` below it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
