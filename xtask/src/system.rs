//! The system libraries Salve's build needs, in one place: checked with pkg-config before any
//! compiling, installed on Debian/Ubuntu (apt-get as root, or `sudo -n`), and otherwise named with
//! the exact command for each distribution.
//!
//! How the list was found: `cargo xtask fresh-check` builds and tests on a minimal Debian root that
//! has nothing but the Rust toolchain (and its linker). What failed there was added; nothing else
//! is on the list.
//! - ALSA (`alsa-sys`, through cpal) is linked by the standalone's audio backend.
//! - JACK needs no headers: the `jack` crate loads `libjack.so.0` at run time (its default
//!   `dynamic_loading` feature), and the only thing `jack-sys`'s build script wants is a pkg-config
//!   entry. `xtask/pkgconfig/jack.pc` is that entry, with no link flags; `.cargo/config.toml` puts
//!   it on `PKG_CONFIG_PATH` for every cargo command in this workspace.
//! - X11, xcb and OpenGL need no `-dev` package: baseview (`x11-dl`, `x11rb`) and glow load them at
//!   run time.

use std::path::Path;
use std::process::{Command, Stdio};

/// One system package the build needs, by its pkg-config name and its package per distribution.
pub struct SystemLibrary {
    /// The name pkg-config knows it by; `None` for pkg-config itself (found on the PATH).
    pub pkg_config: Option<&'static str>,
    /// What needs it, for the error message.
    pub why: &'static str,
    pub debian: &'static str,
    pub fedora: &'static str,
    pub arch: &'static str,
}

/// Everything the build needs beyond the Rust toolchain (and the C linker it already uses).
pub const SYSTEM_LIBRARIES: &[SystemLibrary] = &[
    SystemLibrary {
        pkg_config: None,
        why: "finds the system libraries for the build scripts",
        debian: "pkg-config",
        fedora: "pkgconf-pkg-config",
        arch: "pkgconf",
    },
    SystemLibrary {
        pkg_config: Some("alsa"),
        why: "the standalone's ALSA audio backend (cpal)",
        debian: "libasound2-dev",
        fedora: "alsa-lib-devel",
        arch: "alsa-lib",
    },
];

/// Whether a missing package may be installed, or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    Allowed,
    CheckOnly,
}

/// Takes `--no-install` out of `args` (it is the xtask's, not cargo's).
pub fn take_install_flag(args: &mut Vec<String>) -> Install {
    let before = args.len();
    args.retain(|a| a != "--no-install");
    if args.len() == before {
        Install::Allowed
    } else {
        Install::CheckOnly
    }
}

/// Checks the system libraries and, where allowed and possible, installs the missing ones. Errors
/// name every missing package and the command that installs it.
pub fn ensure(install: Install) -> Result<(), String> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|l| l.debian).collect();
    eprintln!("Salve's build needs system packages that are missing:");
    for lib in &missing {
        eprintln!("  {} ({})", lib.debian, lib.why);
    }
    let debian_like = is_debian_like(Path::new("/etc/os-release"));
    if install == Install::Allowed
        && debian_like
        && let Some(prefix) = privilege()
    {
        let line = format!(
            "{prefix}apt-get update -qq && {prefix}env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq --no-install-recommends {}",
            names.join(" ")
        );
        eprintln!("Running: {line}");
        let status = Command::new("sh")
            .args(["-c", &line])
            .status()
            .map_err(|e| format!("could not run sh: {e}"))?;
        let still = missing_now();
        if status.success() && still.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "installing the system packages failed ({status}); still missing: {}",
            still.join(" ")
        ));
    }
    Err(instructions(&missing, install, debian_like))
}

/// Installs the Debian package `package` when `tool` is not on the PATH (for the xtask's own
/// helpers, such as debootstrap for `fresh-check`; root only).
pub fn ensure_tool(tool: &str, package: &str) -> Result<(), String> {
    if Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(());
    }
    if !is_root() {
        return Err(format!("{tool} is missing: sudo apt-get install {package}"));
    }
    let line = format!("apt-get update -qq && apt-get install -y -qq {package}");
    eprintln!("Running: {line}");
    let ok = Command::new("sh")
        .args(["-c", &line])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
        .ok_or_else(|| format!("installing {package} failed"))
}

/// The packages pkg-config cannot find now (by their Debian names).
fn missing_now() -> Vec<&'static str> {
    missing().iter().map(|l| l.debian).collect()
}

fn missing() -> Vec<&'static SystemLibrary> {
    let have_pkg_config = Command::new("pkg-config")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    SYSTEM_LIBRARIES
        .iter()
        .filter(|lib| match lib.pkg_config {
            None => !have_pkg_config,
            Some(name) => !have_pkg_config || !pkg_config_has(name),
        })
        .collect()
}

fn pkg_config_has(name: &str) -> bool {
    Command::new("pkg-config")
        .args(["--exists", name])
        .status()
        .is_ok_and(|s| s.success())
}

/// `""` as root, `"sudo -n "` where sudo works without a password, `None` otherwise.
fn privilege() -> Option<&'static str> {
    if is_root() {
        return Some("");
    }
    let sudo = Command::new("sudo")
        .args(["-n", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    sudo.then_some("sudo -n ")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether `/etc/os-release` names Debian or a derivative (Ubuntu, Mint, ...).
pub fn is_debian_like(os_release: &Path) -> bool {
    std::fs::read_to_string(os_release).is_ok_and(|text| os_release_is_debian_like(&text))
}

fn os_release_is_debian_like(text: &str) -> bool {
    text.lines().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        (key == "ID" || key == "ID_LIKE")
            && value
                .trim_matches('"')
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    })
}

/// What to run by hand, for each family of distributions.
fn instructions(missing: &[&SystemLibrary], install: Install, debian_like: bool) -> String {
    let list = |f: fn(&SystemLibrary) -> &'static str| {
        missing.iter().map(|l| f(l)).collect::<Vec<_>>().join(" ")
    };
    let why = match (install, debian_like) {
        (Install::CheckOnly, _) => "--no-install was given",
        (Install::Allowed, true) => "this user is not root and `sudo -n` does not work",
        (Install::Allowed, false) => "this is not a Debian or Ubuntu system",
    };
    format!(
        "missing system packages, not installed because {why}. Install them with:\n  \
         Debian/Ubuntu: sudo apt-get install {}\n  \
         Fedora:        sudo dnf install {}\n  \
         Arch:          sudo pacman -S --needed {}\n\
         then run the command again.",
        list(|l| l.debian),
        list(|l| l.fedora),
        list(|l| l.arch),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_its_derivatives_are_recognised_by_os_release() {
        assert!(os_release_is_debian_like("ID=debian\nVERSION_ID=\"12\"\n"));
        assert!(os_release_is_debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(os_release_is_debian_like(
            "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"
        ));
        assert!(!os_release_is_debian_like("ID=fedora\n"));
        assert!(!os_release_is_debian_like("ID=arch\n"));
        assert!(!os_release_is_debian_like("NAME=\"Debian-ish\"\n"));
    }

    #[test]
    fn the_instructions_name_every_missing_package_for_each_distribution() {
        let missing: Vec<&SystemLibrary> = SYSTEM_LIBRARIES.iter().collect();
        let text = instructions(&missing, Install::CheckOnly, true);
        assert!(text.contains("--no-install was given"), "{text}");
        assert!(
            text.contains("sudo apt-get install pkg-config libasound2-dev"),
            "{text}"
        );
        assert!(
            text.contains("sudo dnf install pkgconf-pkg-config alsa-lib-devel"),
            "{text}"
        );
        assert!(
            text.contains("sudo pacman -S --needed pkgconf alsa-lib"),
            "{text}"
        );
    }

    #[test]
    fn no_install_is_taken_out_of_the_cargo_arguments() {
        let mut args: Vec<String> = ["salve", "--no-install", "--release"]
            .map(String::from)
            .to_vec();
        assert_eq!(take_install_flag(&mut args), Install::CheckOnly);
        assert_eq!(args, ["salve", "--release"]);
        assert_eq!(take_install_flag(&mut args), Install::Allowed);
    }

    #[test]
    fn the_jack_stub_declares_the_library_without_linking_it() {
        // The stub only satisfies jack-sys's presence check; a `-ljack` here would make the
        // standalone need the JACK development package again.
        let stub = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("pkgconfig/jack.pc"),
        )
        .expect("xtask/pkgconfig/jack.pc");
        let libs = stub
            .lines()
            .find_map(|l| l.strip_prefix("Libs:"))
            .expect("a Libs line");
        assert_eq!(libs.trim(), "", "{stub}");
        let config = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cargo/config.toml"),
        )
        .expect(".cargo/config.toml");
        assert!(config.contains("xtask/pkgconfig"), "{config}");
    }
}
