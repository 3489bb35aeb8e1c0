//! `cargo xtask fresh-check`: the README's two commands on a fresh Debian 12 machine that has
//! nothing but the Rust toolchain. Not part of CI (it takes a debootstrap and two cold builds).
//!
//! 1. `debootstrap --variant=minbase bookworm` into `target/fresh-check/pristine` (once; kept for
//!    the next run), from the first Debian mirror in this machine's own apt sources.
//! 2. A copy of it gets the toolchain and nothing else: this machine's rustup toolchain and cargo
//!    registry cache bind-mounted read-only, plus `gcc` and `libc6-dev`, the linker every Rust
//!    toolchain on Linux needs. The source is `git archive HEAD` (a clean checkout).
//! 3. As a user without sudo: `cargo xtask bundle salve --release` must stop with the exact
//!    install line, before compiling anything of Salve.
//! 4. As root: `cargo xtask bundle salve --release`, then `cargo xtask test`, must both pass.
//!
//! Each step's time and the packages the commands installed are printed at the end. Needs root on
//! this machine (debootstrap, chroot, mount).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const SUITE: &str = "bookworm";
/// The build user inside the root: no sudo, no password.
const USER: &str = "builder";
/// The toolchain's own prerequisite: rustc links through the system C compiler.
const LINKER_PACKAGES: &[&str] = &["gcc", "libc6-dev"];
/// The README's commands.
const BUNDLE: &str = "cargo xtask bundle salve --release";
const TEST: &str = "cargo xtask test";

pub fn main(args: Vec<String>) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("fresh-check takes no arguments, got {args:?}"));
    }
    let workspace = crate::workspace_root();
    let dir = workspace.join("target").join("fresh-check");
    let pristine = dir.join("pristine");
    let root = dir.join("root");
    let mut times = Vec::new();

    if !pristine.join("etc/debian_version").exists() {
        crate::system::ensure_tool("debootstrap", "debootstrap")?;
        let mirror = debian_mirror()?;
        let t = Instant::now();
        run(Command::new("debootstrap")
            .args(["--variant=minbase", SUITE])
            .arg(&pristine)
            .arg(&mirror))?;
        times.push(("debootstrap (once)", t.elapsed().as_secs_f64()));
    }
    if root.exists() {
        run(Command::new("rm").arg("-rf").arg(&root))?;
    }
    run(Command::new("cp").arg("-a").arg(&pristine).arg(&root))?;
    let before = installed_packages(&root)?;

    let _mounts = Mounts::new(&root)?;
    let t = Instant::now();
    chroot_root(
        &root,
        &format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
             --no-install-recommends {}",
            LINKER_PACKAGES.join(" ")
        ),
    )?;
    times.push(("installing the linker", t.elapsed().as_secs_f64()));
    let with_toolchain = installed_packages(&root)?;

    // The source, as a clean checkout, once for root and once for the user.
    for (dest, owner) in [("root/src", "root"), (&*format!("home/{USER}/src"), USER)] {
        if owner == USER {
            chroot_root(&root, &format!("useradd --create-home {USER}"))?;
        }
        let dest = root.join(dest);
        std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
        let archive = Command::new("git")
            .current_dir(&workspace)
            .args(["archive", "--format=tar", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("git archive: {e}"))?;
        run(Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&dest)
            .stdin(archive.stdout.expect("piped")))?;
        chroot_root(
            &root,
            &format!("chown -R {owner}: {}", inside(&root, &dest)),
        )?;
    }

    // 3. Without root or sudo: the bundle command stops with the install line.
    let t = Instant::now();
    let user = chroot_user(&root, &format!("cd ~/src && {BUNDLE} 2>&1"))?;
    let user_time = t.elapsed().as_secs_f64();
    times.push(("user without sudo: bundle (stops)", user_time));
    let print = String::from_utf8_lossy(&user.stdout).into_owned();
    let expected = "sudo apt-get install pkg-config libasound2-dev";
    if user.status.success() || !print.contains(expected) {
        return Err(format!(
            "as a user without sudo, `{BUNDLE}` should have stopped with `{expected}`:\n{print}"
        ));
    }
    if print.contains("Compiling salve") {
        return Err(format!("the check came after compiling Salve:\n{print}"));
    }
    let xtask_build = print
        .lines()
        .find(|l| l.contains("Finished") && l.contains("release"))
        .unwrap_or("(xtask was already built)")
        .trim()
        .to_string();
    println!("--- user without sudo ---\n{print}");

    // 4. As root: both commands pass.
    for command in [BUNDLE, TEST] {
        let t = Instant::now();
        chroot_root(&root, &format!("cd /root/src && {command}"))?;
        times.push((command, t.elapsed().as_secs_f64()));
    }
    let after = installed_packages(&root)?;

    println!("\nfresh-check passed on Debian {SUITE} (minbase).");
    println!(
        "Installed with the toolchain: {}",
        diff(&before, &with_toolchain).join(" ")
    );
    println!(
        "Installed by the README's commands: {}",
        diff(&with_toolchain, &after).join(" ")
    );
    println!("The user's stop: {xtask_build}");
    for (what, secs) in times {
        println!("{what}: {:.0} s", secs);
    }
    Ok(())
}

/// The first Debian archive in this machine's apt sources (deb822 or one-line format).
fn debian_mirror() -> Result<String, String> {
    let mut texts: Vec<String> = std::fs::read_to_string("/etc/apt/sources.list")
        .ok()
        .into_iter()
        .collect();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "sources" || e == "list") {
                texts.extend(std::fs::read_to_string(p).ok());
            }
        }
    }
    texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("URIs:")
                .map(str::trim)
                .or_else(|| {
                    l.strip_prefix("deb ")
                        .and_then(|r| r.split_whitespace().last())
                })
                .filter(|_| !l.starts_with('#'))
        })
        .flat_map(|uris| uris.split_whitespace())
        .find(|uri| uri.trim_end_matches('/').ends_with("/debian"))
        .map(str::to_string)
        .ok_or_else(|| "no Debian archive in this machine's apt sources".into())
}

fn installed_packages(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("chroot")
        .arg(root)
        .args(["dpkg-query", "-W", "-f", "${Package}\\n"])
        .output()
        .map_err(|e| e.to_string())?;
    let mut list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    list.sort();
    Ok(list)
}

fn diff(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|p| before.binary_search(p).is_err())
        .cloned()
        .collect()
}

/// The path of `path` as seen inside `root`.
fn inside(root: &Path, path: &Path) -> String {
    format!("/{}", path.strip_prefix(root).unwrap_or(path).display())
}

/// The toolchain as the chroot sees it: rustup's home and cargo's binaries read-only, and the
/// registry cache. Offline, so nothing but that cache feeds cargo.
fn toolchain_env(home: &str) -> String {
    format!(
        "env -i HOME={home} PATH=/opt/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
         RUSTUP_HOME=/opt/rustup CARGO_HOME={home}/.cargo CARGO_NET_OFFLINE=true TERM=dumb"
    )
}

fn chroot_root(root: &Path, script: &str) -> Result<(), String> {
    run(Command::new("chroot").arg(root).args([
        "sh",
        "-c",
        &format!(
            "mkdir -p /root/.cargo && ln -sfn /opt/registry /root/.cargo/registry && \
             {} sh -c '{script}'",
            toolchain_env("/root")
        ),
    ]))
}

fn chroot_user(root: &Path, script: &str) -> Result<std::process::Output, String> {
    let home = format!("/home/{USER}");
    Command::new("chroot")
        .arg(format!("--userspec={USER}:{USER}"))
        .arg(root)
        .args([
            "sh",
            "-c",
            &format!(
                "mkdir -p {home}/.cargo && ln -sfn /opt/registry {home}/.cargo/registry && \
                 {} sh -c '{script}'",
                toolchain_env(&home)
            ),
        ])
        .output()
        .map_err(|e| format!("chroot: {e}"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// The bind mounts into the root, undone (lazily) when dropped.
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn new(root: &Path) -> Result<Self, String> {
        let home = std::env::var("HOME").map_err(|_| "HOME is not set")?;
        let rustup = std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup"));
        let cargo = std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo"));
        let binds: [(String, &str, bool); 6] = [
            ("/proc".into(), "proc", false),
            ("/sys".into(), "sys", false),
            ("/dev".into(), "dev", false),
            (rustup, "opt/rustup", true),
            (format!("{cargo}/bin"), "opt/cargo/bin", true),
            (format!("{cargo}/registry"), "opt/registry", false),
        ];
        let mut mounts = Mounts(Vec::new());
        for (from, to, read_only) in binds {
            let target = root.join(to);
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            run(Command::new("mount").arg("--bind").arg(&from).arg(&target))?;
            mounts.0.push(target.clone());
            if read_only {
                run(Command::new("mount")
                    .args(["-o", "remount,bind,ro"])
                    .arg(&target))?;
            }
        }
        std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
            .map_err(|e| e.to_string())?;
        Ok(mounts)
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for target in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(target).status();
        }
    }
}
