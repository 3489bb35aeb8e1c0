//! The chaos tooling, end to end: the release bundle carries no fault-injection control, and
//! `cargo xtask chaos` runs a short scenario through the real plugin and writes its report and
//! plot. Only structure and the NaN guarantee are asserted, never timing (the runner is a
//! benchmark; CI machines are noisy).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use support::{Instance, load_entry_from};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's own target directory: the release bundle, the xtask and the chaos library
/// share their dependencies there with what a developer's `cargo xtask bundle` already built.
fn target() -> PathBuf {
    root().join("target")
}

/// The bundle and the chaos library are both Salve's release library, built with and without the
/// chaos feature into one directory: one at a time, so the bundle never picks up the other.
static RELEASE_BUILDS: Mutex<()> = Mutex::new(());

fn cargo_xtask(args: &[&str]) {
    let _one_at_a_time = RELEASE_BUILDS.lock().unwrap_or_else(|p| p.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .arg("xtask")
        .args(args)
        .env(
            "SALVE_JOURNAL_DIR",
            root().join("target").join("test-journal"),
        )
        .status()
        .expect("run cargo xtask");
    assert!(status.success(), "cargo xtask {args:?} failed");
}

#[test]
fn the_release_bundle_has_no_fault_injection_controls() {
    cargo_xtask(&["bundle", "salve", "--release"]);
    let clap = target().join("bundled").join("Salve.clap");
    let mut salve = Instance::new(&load_entry_from(&clap), "Salve tests");
    let params = salve.param_infos();
    let ids: Vec<u32> = params.iter().map(|p| p.clap_id).collect();
    assert!(
        ids.contains(&salve_host::clap_param_id("drive")),
        "{params:?}"
    );
    for id in ["test_fault", "chaos_slow", "chaos_nan", "chaos_denormal"] {
        assert!(
            !ids.contains(&salve_host::clap_param_id(id)),
            "the release bundle has the parameter {id:?}"
        );
    }
    for name in params.iter().map(|p| &p.name) {
        let lower = name.to_lowercase();
        assert!(
            !lower.contains("chaos") && !lower.contains("test"),
            "the release bundle exposes {name:?}"
        );
    }
}

#[test]
fn the_chaos_runner_runs_a_short_scenario_end_to_end() {
    let out = target().join("chaos-ci");
    let _ = std::fs::remove_dir_all(&out);
    cargo_xtask(&[
        "chaos",
        "--scenario",
        "nan",
        "--seconds",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
            .expect("valid JSON");
    let runs = report["runs"].as_array().expect("runs");
    let modes: Vec<&str> = runs.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["Auto", "Off"]);
    for run in runs {
        assert_eq!(run["scenario"], "nan");
        let blocks = run["blocks"].as_u64().unwrap();
        // 4 s of 64-sample blocks at 48 kHz, and Salve logged every one of them.
        assert_eq!(blocks, 3000, "{run}");
        assert_eq!(run["records"].as_u64().unwrap(), blocks, "{run}");
        // The NaN guarantee: bursts inside the DSP never reach the host.
        assert_eq!(run["non_finite_samples"], 0, "{run}");
        assert!(run["peak_output"].as_f64().unwrap() <= 2.0, "{run}");
        for key in [
            "deadline_misses",
            "first_miss_s",
            "first_downgrade_s",
            "mean_factor",
            "tier_changes",
            "incidents",
            "recommendations",
        ] {
            assert!(run.get(key).is_some(), "{key} missing from {run}");
        }
    }
    // The bursts were real: Salve caught them and restarted its DSP in both modes (the first
    // burst comes 2 s in, 50 ms long), and the healer logged incidents for them under Auto.
    for run in runs {
        assert!(run["nan_restarts"].as_u64().unwrap() > 0, "{run}");
    }
    assert!(runs[0]["incidents"].as_u64().unwrap() > 0, "{}", runs[0]);
    let checks = report["checks"].as_array().expect("checks");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    let svg = std::fs::read_to_string(out.join("nan.svg")).expect("the plot");
    assert!(svg.starts_with("<svg") && svg.contains("deadline miss"));
}
