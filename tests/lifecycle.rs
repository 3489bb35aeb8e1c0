//! A plugin's whole lifecycle through the CLAP entry point: re-activation, duplicated instances,
//! saves while playing, panics at the edge of a deactivate, and a soak of many activations. Each
//! test names the promise it keeps. They share one journal directory, so they run one at a time.

mod support;

use salve::checkpoint::Checkpoint;
use salve::healer::breaker::BreakerState;
use salve::healer::learning::IncidentKind;
use salve::healer::level::Level;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use support::*;

const SR: f64 = 48_000.0;

/// One test at a time (they share the journal directory), with that directory set before the
/// first instance exists.
fn serial() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if std::env::var_os("SALVE_JOURNAL_DIR").is_none() {
        // SAFETY: set under the lock before any instance (the only reader) exists.
        unsafe { std::env::set_var("SALVE_JOURNAL_DIR", journal_dir()) };
    }
    plugin_library();
    guard
}

fn journal_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("lifecycle-journal-{}", std::process::id()))
}

/// The instance ids that have checkpoints in the journal, and whether any temporary file is left.
fn journal_contents() -> (BTreeSet<u64>, usize, bool) {
    let mut ids = BTreeSet::new();
    let mut files = 0;
    let mut tmp = false;
    for e in std::fs::read_dir(journal_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        tmp |= name.ends_with(".tmp");
        if name.ends_with(".ckpt") {
            files += 1;
            let cp = Checkpoint::decode(&std::fs::read(e.path()).unwrap()).unwrap();
            ids.insert(cp.instance_id);
        }
    }
    (ids, files, tmp)
}

/// One activation that plays in real time for `seconds` (512-sample blocks at 48 kHz).
fn session(inst: &mut Instance, seconds: f64) {
    let mut p = inst.activate(SR, 512);
    play(&mut p, seconds, |_| {});
    inst.deactivate(p);
}

fn saved_checkpoint(inst: &mut Instance) -> Checkpoint {
    checkpoint_of(&inst.save_state()).expect("a checkpoint in the saved state")
}

#[test]
fn time_carries_on_across_re_activations_so_checkpoints_continue() {
    let _serial = serial();
    let mut inst = instance();
    session(&mut inst, 5.0);
    let first = saved_checkpoint(&mut inst);
    assert!(!first.running);

    // A bounce or a buffer change: deactivate, activate, play on. The periodic checkpoint is due
    // 1.5-4.5 s after the last one (3 s times the instance's own factor), which the first
    // activation wrote before it ended: at most 4.5 s into the second one.
    let mut p = inst.activate(SR, 256);
    play(&mut p, 5.0, |_| {});
    let second = saved_checkpoint(&mut inst);
    inst.deactivate(p);
    assert!(
        second.running && second.generation > first.generation,
        "no periodic checkpoint in the second activation: {} then {}",
        first.generation,
        second.generation
    );
    assert!(
        second.session_s > first.session_s,
        "the healer's time went back from {} s to {} s",
        first.session_s,
        second.session_s
    );
}

#[test]
fn a_save_while_playing_is_no_crash_on_another_machine() {
    let _serial = serial();
    let mut a = instance();
    let mut p = a.activate(SR, 512);
    play(&mut p, 0.5, |_| {});
    // The host saves while the plugin plays: the checkpoint says the session runs.
    let saved = a.save_state();
    assert!(checkpoint_of(&saved).unwrap().running);
    a.deactivate(p);
    drop(a);
    // The project opens where the journal is gone (another machine, a cleaned data directory).
    let _ = std::fs::remove_dir_all(journal_dir());
    let mut b = instance();
    assert!(b.load_state(&saved));
    session(&mut b, 0.5);
    let cp = saved_checkpoint(&mut b);
    assert!(
        !cp.incidents.iter().any(|i| i.kind == IncidentKind::Crash),
        "a normal save read as a crash: {:?}",
        cp.incidents
    );
    assert!(cp.breakers.iter().all(|b| b.state == BreakerState::Closed));
    assert_eq!(cp.level, Level::Ultra);
}

#[test]
fn a_panic_right_before_a_deactivate_does_not_keep_safe_mode_for_good() {
    let _serial = serial();
    let mut inst = instance();
    let drive = inst.value_of("drive", "24 dB");
    let (fault, panic) = inst.value_of("test_fault", "2");
    inst.set_params(&[drive]);
    let mut p = inst.activate(SR, 512);
    play(&mut p, 0.2, |_| {});
    // A panic in the last block: its record is still in the ring when the host deactivates.
    let input = sine(220.0, SR, 0.5, 512);
    let steady = std::time::Instant::now();
    p.process(&input, &input);
    let steady = steady.elapsed();
    p.set_param(fault, panic);
    let panicking = std::time::Instant::now();
    let (out, _) = p.process(&input, &input);
    let panicking = panicking.elapsed();
    assert!(
        out.iter().all(|&x| x == 0.0),
        "the panicking block is silenced"
    );
    // A figure for the notes, not a test of speed.
    println!("panicking block: {panicking:?} (a steady block: {steady:?})");
    inst.deactivate(p);

    let mut p = inst.activate(SR, 512);
    play(&mut p, 3.0, |_| {});
    // Safe mode is a clean bypass (the input, 6 samples late): after it, Salve saturates again.
    let (out, _) = p.process(&input, &input);
    let bypass = out[6..]
        .iter()
        .zip(&input)
        .all(|(o, i)| (o - i).abs() < 1e-6);
    inst.deactivate(p);
    assert!(!bypass, "still in safe mode 3 s after the panic");
}

#[test]
fn duplicated_instances_keep_their_own_journal_and_history() {
    let _serial = serial();
    let mut original = instance();
    session(&mut original, 0.3);
    let state = original.save_state();
    let original_id = checkpoint_of(&state).unwrap().instance_id;

    // A duplicated track: two live instances from one state, sharing the journal directory.
    let mut a = instance();
    let mut b = instance();
    assert!(a.load_state(&state) && b.load_state(&state));
    let (fault, nan) = a.value_of("test_fault", "1");
    let mut pa = a.activate(SR, 512);
    let mut pb = b.activate(SR, 512);
    pa.set_param(fault, nan);
    // Interleaved like one host thread running both.
    play(&mut pa, 0.6, |_| {});
    play(&mut pb, 0.6, |_| {});
    play(&mut pa, 0.6, |_| {});
    play(&mut pb, 0.6, |_| {});
    a.deactivate(pa);
    b.deactivate(pb);
    let (ca, cb) = (saved_checkpoint(&mut a), saved_checkpoint(&mut b));
    let ids = BTreeSet::from([original_id, ca.instance_id, cb.instance_id]);
    assert_eq!(ids.len(), 3, "two live instances shared an id");
    let nan_incidents = |cp: &Checkpoint| {
        cp.incidents
            .iter()
            .any(|i| i.kind == IncidentKind::NonFinite)
    };
    assert!(nan_incidents(&ca) && !nan_incidents(&cb));

    // Reopen B's saved state alone: it has its own history, not A's.
    let b_state = b.save_state();
    drop((a, b));
    let mut c = instance();
    assert!(c.load_state(&b_state));
    session(&mut c, 0.3);
    let cc = saved_checkpoint(&mut c);
    assert!(
        !nan_incidents(&cc),
        "B's reopened session has A's incidents"
    );
    assert!(!cc.incidents.iter().any(|i| i.kind == IncidentKind::Crash));
}

#[test]
fn two_hundred_activations_leave_no_stale_time_crash_collision_or_temporary_file() {
    let _serial = serial();
    let _ = std::fs::remove_dir_all(journal_dir());
    let mut instances = [instance(), instance()];
    for inst in &mut instances {
        // A 1x ceiling: nothing in this test may step the quality down.
        let one = inst.value_of("oversampling", "1x");
        inst.set_params(&[one]);
    }
    let rates = [44_100.0, 48_000.0, 96_000.0, 22_050.0, 192_000.0];
    let blocks = [64, 32, 256, 1024, 16, 512];
    let mut last_session_s = [0.0f64; 2];
    let mut checkpoints = 0;
    for cycle in 0..200 {
        let which = cycle % 2;
        let inst = &mut instances[which];
        let offline = cycle % 7 == 3;
        inst.set_offline(offline);
        let rate = rates[cycle % rates.len()];
        let block = blocks[cycle % blocks.len()];
        let mut p = inst.activate(rate, block);
        let input = sine(220.0, rate, 0.3, block as usize);
        for _ in 0..8 {
            p.process(&input, &input);
        }
        // Let the healer tick (and checkpoint) at least once.
        std::thread::sleep(std::time::Duration::from_millis(25));
        if cycle % 10 == 5 {
            // A host save while playing.
            let _ = inst.save_state();
        }
        inst.deactivate(p);
        let state = inst.save_state();
        if let Some(cp) = checkpoint_of(&state) {
            assert!(
                cp.session_s >= last_session_s[which],
                "cycle {cycle}: time went back from {} s to {} s",
                last_session_s[which],
                cp.session_s
            );
            last_session_s[which] = cp.session_s;
            assert!(
                !cp.running,
                "cycle {cycle}: a clean deactivate left 'running'"
            );
            checkpoints += 1;
        }
        if cycle % 3 == 0 {
            // The host reloads the state it just saved (undo, reopening the project).
            assert!(inst.load_state(&state));
        }
    }
    assert!(checkpoints > 150, "only {checkpoints} checkpoints");
    let [a, b] = &mut instances;
    let (ca, cb) = (saved_checkpoint(a), saved_checkpoint(b));
    assert_ne!(ca.instance_id, cb.instance_id);
    for cp in [&ca, &cb] {
        assert!(
            !cp.incidents.iter().any(|i| i.kind == IncidentKind::Crash),
            "{:?}",
            cp.incidents
        );
        assert!(cp.breakers.iter().all(|b| b.state == BreakerState::Closed));
        assert_eq!(cp.level, Level::Minimal, "the 1x ceiling");
        assert!(cp.crashes_wall_s.is_empty());
    }
    // The journal holds each instance's last checkpoint, nobody else's, and no temporary file.
    let (ids, files, tmp) = journal_contents();
    assert_eq!(ids, BTreeSet::from([ca.instance_id, cb.instance_id]));
    assert_eq!(files, 2);
    assert!(!tmp);
}

/// The threads of this process whose name starts with `prefix` (from `/proc/self/task`).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .count()
}

#[test]
fn thirty_two_instances_are_healed_by_one_thread_that_ends_with_the_last() {
    let _serial = serial();
    let mut instances: Vec<Instance> = (0..32).map(|_| instance()).collect();
    let before = threads_named("salve");
    let mut processors: Vec<Processor> = instances
        .iter_mut()
        .map(|inst| inst.activate(SR, 256))
        .collect();
    let input = sine(220.0, SR, 0.3, 256);
    for _ in 0..20 {
        for p in &mut processors {
            p.process(&input, &input);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        threads_named("salve-fleet"),
        1,
        "one healer thread for 32 instances"
    );
    assert_eq!(
        threads_named("salve") - before,
        1,
        "no other Salve thread per instance"
    );
    for (inst, p) in instances.iter_mut().zip(processors) {
        inst.deactivate(p);
    }
    // The thread was woken by the last leave and ends by itself: wait for it, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while threads_named("salve-fleet") > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        threads_named("salve-fleet"),
        0,
        "the fleet thread outlived its members"
    );
    // Every instance still wrote its final checkpoint on leaving.
    for inst in &mut instances {
        assert!(!saved_checkpoint(inst).running);
    }
}
