//! Crash recovery through the real plugin: a child process hosts Salve, plays, autosaves its
//! state like a host and is killed with SIGKILL; a new instance loads that state, reports the
//! crash, starts at the last known-good level and keeps the incidents. Also: a journal newer than
//! the host's state wins, and hostile plugin states leave the user's parameters intact.

mod support;

use proptest::prelude::*;
use salve::checkpoint::Checkpoint;
use salve::healer::learning::IncidentKind;
use salve::healer::level::Level;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const SR: f64 = 48_000.0;
const CHILD_ENV: &str = "SALVE_CRASH_CHILD";

/// Not a test: the child process of the crash tests (run only through `CHILD_ENV`).
#[test]
#[ignore = "helper process for the crash tests"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let newer_journal = dir.join("newer-journal").exists();
    let mut inst = instance();
    let mut p = inst.activate(SR, 512);
    // Play long enough for the healer to checkpoint, then autosave like a host.
    play(&mut p, 0.5, |_| {});
    let state = inst.save_state();
    assert!(
        checkpoint_of(&state).is_some(),
        "no checkpoint in the state"
    );
    std::fs::write(dir.join("state.tmp"), &state).unwrap();
    std::fs::rename(dir.join("state.tmp"), dir.join("state")).unwrap();
    if newer_journal {
        // Something significant after the host's last save: only the journal has it.
        let (fault, nan) = inst.value_of("test_fault", "1");
        p.set_param(fault, nan);
    }
    play(&mut p, 0.5, |_| {});
    std::fs::write(dir.join("ready"), b"").unwrap();
    // Keep playing until killed.
    play(&mut p, 60.0, |_| {});
}

/// Runs the child until it is ready, kills it with SIGKILL, returns the state it saved.
fn crash_a_session(dir: &Path) -> Vec<u8> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, dir)
        .env("SALVE_JOURNAL_DIR", dir.join("journal"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start the child host");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("ready").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child host exited early: {status}");
        }
        assert!(Instant::now() < deadline, "the child host never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL the child host");
    child.wait().unwrap();
    std::fs::read(dir.join("state")).unwrap()
}

/// Loads `state` into a new instance (journal in `dir`), plays briefly, returns the checkpoint it
/// then saves.
fn recover(dir: &Path, state: &[u8]) -> (Checkpoint, Checkpoint) {
    // SAFETY: this test binary's instances read the variable only when created, and this
    // process creates them one test at a time from here on (see `recovery` below).
    unsafe { std::env::set_var("SALVE_JOURNAL_DIR", dir.join("journal")) };
    let before = checkpoint_of(state).expect("the saved state has a checkpoint");
    let mut inst = instance();
    assert!(inst.load_state(state));
    let mut p = inst.activate(SR, 512);
    play(&mut p, 0.3, |_| {});
    let after = checkpoint_of(&inst.save_state()).expect("a checkpoint after recovery");
    inst.deactivate(p);
    (before, after)
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn recovery() {
    plugin_library();

    // 1. SIGKILL mid-session: the autosaved state says the session was running.
    let dir = temp("host");
    let state = crash_a_session(&dir);
    let (before, after) = recover(&dir, &state);
    assert!(before.running, "the autosave was taken mid-session");
    assert!(
        after
            .incidents
            .iter()
            .any(|i| i.kind == IncidentKind::Crash),
        "crash not reported: {:?}",
        after.incidents
    );
    // The recovering instance carries on the session under its own id (every live instance
    // has one, so a duplicate can never write another's journal).
    assert_ne!(after.instance_id, before.instance_id);
    assert!(
        after.level <= before.known_good,
        "{:?} vs {:?}",
        after.level,
        before.known_good
    );
    assert!(!after.breakers[before.level as usize].is_closed());
    // Every incident from before the crash is still there (its time moved onto the new
    // session's time base, so it is matched by what it says).
    for i in &before.incidents {
        assert!(after.incidents.iter().any(|j| j.kind == i.kind
            && j.load == i.load
            && j.level == i.level
            && j.action == i.action));
    }

    // 2. A journal newer than the host's state wins.
    let dir = temp("journal");
    std::fs::write(dir.join("newer-journal"), b"").unwrap();
    let state = crash_a_session(&dir);
    let (before, after) = recover(&dir, &state);
    assert!(
        after
            .incidents
            .iter()
            .any(|i| i.kind == IncidentKind::NonFinite),
        "the journal's newer incident is missing"
    );
    assert!(
        !before
            .incidents
            .iter()
            .any(|i| i.kind == IncidentKind::NonFinite),
        "the host's copy already had it"
    );
    assert!(after.generation > before.generation + 1);
    assert!(
        after
            .incidents
            .iter()
            .any(|i| i.kind == IncidentKind::Crash)
    );
    let _ = Level::Ultra;
}

#[test]
fn load_then_save_without_playing_gives_identical_bytes() {
    let mut a = instance();
    let mut p = a.activate(SR, 512);
    play(&mut p, 0.2, |_| {});
    a.deactivate(p);
    let saved = a.save_state();
    let cp = checkpoint_of(&saved).expect("a checkpoint after playing");
    assert!(
        !cp.running,
        "a clean deactivate clears the running sentinel"
    );
    let mut b = instance();
    assert!(b.load_state(&saved));
    assert_eq!(saved, b.save_state());
    // Activating without processing changes nothing either.
    let p = b.activate(SR, 512);
    std::thread::sleep(Duration::from_millis(100));
    b.deactivate(p);
    assert_eq!(saved, b.save_state());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("SALVE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
    ))]

    /// Random plugin states, random session fields, damaged checkpoints: the load never crashes
    /// the host, the plugin keeps working, and parameters the state did not set keep their values.
    #[test]
    fn hostile_states_never_break_the_plugin(
        junk in proptest::collection::vec(any::<u8>(), 0..512),
        field in ".{0,64}",
        cut in 0usize..4000,
        flip in 0usize..4000,
    ) {
        let mut inst = instance();
        let drive = inst.value_of("drive", "13 dB");
        inst.set_params(&[drive]);

        // A valid state whose session field is damaged (truncated, a bit flipped, or junk).
        let mut donor = instance();
        let mut p = donor.activate(SR, 512);
        p.process(&[0.1; 512], &[0.1; 512]);
        std::thread::sleep(Duration::from_millis(40));
        donor.deactivate(p);
        let state = donor.save_state();
        let mut json: serde_json::Value = serde_json::from_slice(&state[8..]).unwrap();
        json["params"] = serde_json::json!({});
        let session = json["fields"]["session"].as_str().unwrap_or("").to_owned();
        let mut damaged = session.into_bytes();
        if !damaged.is_empty() {
            let n = damaged.len();
            damaged[flip % n] ^= 0x04;
            damaged.truncate(cut % (n + 1));
        }
        for text in [String::from_utf8_lossy(&damaged).into_owned(), field.clone()] {
            json["fields"]["session"] = serde_json::Value::String(text);
            let body = serde_json::to_vec(&json).unwrap();
            let mut blob = (body.len() as u64).to_le_bytes().to_vec();
            blob.extend_from_slice(&body);
            let _ = inst.load_state(&blob);
        }
        // Raw junk as a whole state.
        let _ = inst.load_state(&junk);
        prop_assert!((inst.param_value(drive.0) - drive.1).abs() < 1e-6);
        let mut p = inst.activate(SR, 512);
        let (l, _) = p.process(&[0.25; 512], &[0.25; 512]);
        prop_assert!(l.iter().all(|x| x.is_finite()));
        inst.deactivate(p);
    }
}
