use super::journal::Journal;
use super::*;
use crate::healer::learning::IncidentKind;
use crate::healer::{Healer, HealerConfig};
use proptest::prelude::*;

fn incident(i: u32) -> Incident {
    Incident::example(i)
}

fn full_checkpoint() -> Checkpoint {
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    for i in 0..crate::healer::learning::INCIDENT_CAPACITY as u32 {
        h.log.push(incident(i));
    }
    for b in 0..16 {
        h.learned.learn_level(
            crate::healer::learning::Fingerprint {
                sample_rate: 48_000,
                block_size: 32 << (b % 6),
                ceiling: Level::from_u8(b as u8 % 6),
            },
            Level::High,
        );
    }
    h.breakers[5].trip(3.0);
    let mut cp = Checkpoint::of(h.export(), 0xDEAD_BEEF, 42, true);
    cp.wall_time_s = 1_700_000_000;
    cp
}

#[test]
fn a_full_checkpoint_round_trips_and_encodes_deterministically() {
    let cp = full_checkpoint();
    let bytes = cp.encode();
    assert_eq!(Checkpoint::decode(&bytes).unwrap(), cp);
    assert_eq!(bytes, cp.encode());
    assert_eq!(Checkpoint::from_text(&cp.to_text()).unwrap(), cp);
    println!("full checkpoint: {} bytes", bytes.len());
    assert!(bytes.len() <= 16 * 1024);
    let empty = Checkpoint::of(
        Healer::new(HealerConfig::default(), Level::Ultra, Learned::default()).export(),
        1,
        1,
        true,
    );
    println!("empty checkpoint: {} bytes", empty.encode().len());
    assert!(empty.encode().len() <= 1024);
}

#[test]
fn damage_is_named() {
    let bytes = full_checkpoint().encode();
    assert_eq!(
        Checkpoint::decode(&bytes[..10]),
        Err(CheckpointError::Truncated)
    );
    assert_eq!(
        Checkpoint::decode(&bytes[..bytes.len() - 1]),
        Err(CheckpointError::Truncated)
    );
    let mut flipped = bytes.clone();
    flipped[HEADER_LEN + 5] ^= 0x10;
    assert_eq!(Checkpoint::decode(&flipped), Err(CheckpointError::Corrupt));
    let mut future = bytes.clone();
    future[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        Checkpoint::decode(&future),
        Err(CheckpointError::FutureVersion(FORMAT_VERSION + 1))
    );
    assert_eq!(
        Checkpoint::decode(b"{\"json\": 1}"),
        Err(CheckpointError::NotACheckpoint)
    );
    let mut huge = bytes.clone();
    huge[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Checkpoint::decode(&huge),
        Err(CheckpointError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("SALVE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Checkpoint::decode(&bytes);
        let _ = Checkpoint::from_text(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn truncated_and_bit_flipped_checkpoints_never_panic(cut in 0usize..4096, flips in proptest::collection::vec((0usize..4096, 0u8..8), 0..8), fix_crc: bool) {
        let mut bytes = full_checkpoint().encode();
        for (at, bit) in flips {
            let n = bytes.len();
            bytes[at % n] ^= 1 << bit;
        }
        if fix_crc && bytes.len() > HEADER_LEN {
            // Damage that the checksum does not catch must still decode safely.
            let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
            bytes[10..14].copy_from_slice(&crc.to_le_bytes());
        }
        bytes.truncate(cut.min(bytes.len()));
        let _ = Checkpoint::decode(&bytes);
    }
}

/// A scratch directory of one test, removed when the test ends, passed or failed.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl From<&TempDir> for std::path::PathBuf {
    fn from(dir: &TempDir) -> Self {
        dir.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("salve-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

#[test]
fn the_journal_keeps_the_newest_generations_and_skips_damaged_ones() {
    let dir = temp_dir("journal");
    let j = Journal::new(&dir);
    let mut cp = full_checkpoint();
    for generation in 1..=6 {
        cp.generation = generation;
        j.write(&cp).unwrap();
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, journal::KEEP_GENERATIONS);
    assert_eq!(j.latest(cp.instance_id).unwrap().generation, 6);
    // The newest file damaged: the one before it is used.
    let newest = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .max()
        .unwrap();
    std::fs::write(&newest, b"garbage").unwrap();
    assert_eq!(j.latest(cp.instance_id).unwrap().generation, 5);
    assert!(j.latest(7).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_newer_journal_wins_over_the_hosts_copy() {
    let dir = temp_dir("precedence");
    let j = Journal::new(&dir);
    let mut cp = full_checkpoint();
    cp.generation = 3;
    let host = Persisted {
        current: Some(cp.to_text()),
        preserved: None,
        ..Default::default()
    };
    assert_eq!(choose(&host, Some(&j)).source, Source::Host);
    cp.generation = 9;
    j.write(&cp).unwrap();
    let r = choose(&host, Some(&j));
    assert_eq!(r.source, Source::Journal);
    assert_eq!(r.checkpoint.unwrap().generation, 9);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreadable_checkpoint_is_kept_and_explained() {
    let mut bytes = full_checkpoint().encode();
    bytes[4..6].copy_from_slice(&(FORMAT_VERSION + 3).to_le_bytes());
    let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let r = choose(
        &Persisted {
            current: Some(text.clone()),
            preserved: None,
            ..Default::default()
        },
        None,
    );
    assert_eq!(r.source, Source::Defaults);
    assert_eq!(r.unreadable, Some(text.clone()));
    assert!(r.problem.unwrap().contains("newer Salve"));

    // The checkpointer hands it back unchanged next to the new checkpoint.
    let session = std::sync::Arc::new(std::sync::Mutex::new(Persisted {
        current: Some(text.clone()),
        preserved: None,
        ..Default::default()
    }));
    let mut c = Checkpointer::new(session.clone(), None);
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.checkpoint_now(&mut c, false, Level::Ultra);
    assert_eq!(
        session.lock().unwrap().current,
        Some(text.clone()),
        "a load alone writes nothing"
    );
    assert_eq!(c.last_write_wall_s(), None);
    assert!(h.notice.is_some());
    h.checkpoint_now(&mut c, true, Level::Ultra);
    // The panel's "last checkpoint" time is the checkpoint's own.
    assert!(
        c.last_write_wall_s()
            .is_some_and(|s| s.abs_diff(crate::wall_clock::now_s()) < 5)
    );
    let p = session.lock().unwrap().clone();
    assert_eq!(p.preserved, Some(text));
    assert!(Checkpoint::from_text(p.current.as_deref().unwrap()).is_ok());
}

#[test]
fn a_crash_restores_at_the_known_good_level_with_the_breaker_open() {
    let mut cp = full_checkpoint();
    cp.level = Level::Ultra;
    cp.known_good = Level::Medium;
    cp.running = true;
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.restore(&cp.to_restore(true), Level::Ultra);
    assert_eq!(h.start_session(48_000, 64, Level::Ultra), Level::Medium);
    assert!(!h.breakers[Level::Ultra as usize].is_closed());
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::Crash));
    assert!(h.notice.as_deref().unwrap().contains("unexpected shutdown"));
    // The earlier incidents and learning came back.
    assert_eq!(h.learned, cp.learned);

    // A clean checkpoint restores without any of that.
    cp.running = false;
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.restore(&cp.to_restore(false), Level::Ultra);
    assert_eq!(h.start_session(48_000, 64, Level::Ultra), Level::Ultra);
    assert!(h.notice.is_none());
}

#[test]
fn a_journal_that_cannot_be_written_is_an_incident_not_a_failure() {
    // A file where the journal directory should be: every write fails.
    let blocker = temp_dir("readonly");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let session = std::sync::Arc::new(std::sync::Mutex::new(Persisted::default()));
    let mut c = Checkpointer::new(session.clone(), Some(Journal::new(blocker.join("journal"))));
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.checkpoint_now(&mut c, true, Level::Ultra);
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::Journal));
    // The plugin state still got its checkpoint.
    assert!(session.lock().unwrap().current.is_some());
    let _ = std::fs::remove_file(&blocker);
}

/// A session as a plugin instance runs it: a checkpointer with its own id and a healer, over a
/// journal directory and the plugin state the host holds.
struct Session {
    state: std::sync::Arc<std::sync::Mutex<Persisted>>,
    checkpointer: Checkpointer,
    healer: Healer,
}

impl Session {
    /// A new instance; the host loads `state` into it (if any) and it plays one tick.
    fn open(dir: &std::path::Path, state: Option<&Persisted>) -> Self {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(state.cloned().unwrap_or_default()));
        let mut s = Session {
            checkpointer: Checkpointer::new(shared.clone(), Some(Journal::new(dir))),
            state: shared,
            healer: Healer::new(HealerConfig::default(), Level::Ultra, Learned::default()),
        };
        s.healer
            .checkpoint_now(&mut s.checkpointer, true, Level::Ultra);
        s
    }

    /// What the host would save now.
    fn saved(&self) -> Persisted {
        self.state.lock().unwrap().clone()
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::from_text(self.saved().current.as_deref().unwrap()).unwrap()
    }

    fn crashes(&self) -> usize {
        self.healer
            .log
            .iter()
            .filter(|i| i.kind == IncidentKind::Crash)
            .count()
    }

    /// A clean stop: the final checkpoint.
    fn close(mut self) -> Persisted {
        self.healer.checkpoint_finish(&mut self.checkpointer);
        self.saved()
    }
}

#[test]
fn a_state_saved_while_playing_is_not_a_crash_unless_the_journal_says_so() {
    let dir = temp_dir("save-while-playing");
    // The host saves while the session plays: the checkpoint says "running".
    let playing = Session::open(&dir, None);
    let saved = playing.saved();
    assert!(playing.checkpoint().running);
    let _final = playing.close();

    // Reopened after a clean stop: the journal's newer checkpoint is not running.
    let reopened = Session::open(&dir, Some(&saved));
    assert_eq!(reopened.crashes(), 0);
    assert!(
        reopened.healer.notice.is_none()
            || !reopened
                .healer
                .notice
                .as_deref()
                .unwrap()
                .contains("shut down")
    );
    drop(reopened);

    // On another machine, or after the journal was deleted: Salve cannot tell, says nothing.
    let elsewhere = temp_dir("save-while-playing-elsewhere");
    let other = Session::open(&elsewhere, Some(&saved));
    assert_eq!(other.crashes(), 0);
    assert!(other.healer.notice.is_none(), "{:?}", other.healer.notice);
    assert!(other.healer.breakers.iter().all(|b| b.is_closed()));
    assert_eq!(other.healer.level(), Level::Ultra);
}

#[test]
fn a_journal_left_running_by_a_dead_instance_is_a_crash_told_once() {
    let dir = temp_dir("crash-once");
    let crashed = Session::open(&dir, None);
    let saved = crashed.saved();
    drop(crashed); // no clean stop: the journal still says running

    let first = Session::open(&dir, Some(&saved));
    assert_eq!(first.crashes(), 1);
    let _ = first.close();
    // The same saved state opened again: the crash was already told, and its successor stopped
    // cleanly.
    let second = Session::open(&dir, Some(&saved));
    assert_eq!(second.crashes(), 1, "only the incident carried over");
    let notice = second.healer.notice.clone().unwrap_or_default();
    assert!(
        !notice.contains("shut down") && !notice.contains("Recovered"),
        "{notice}"
    );
}

#[test]
fn crashes_in_a_row_restart_lower_each_time_then_in_safe_mode() {
    let dir = temp_dir("crash-loop");
    // The host never saves again while it keeps crashing at load: the same state every time.
    let saved = Session::open(&dir, None).saved();
    let mut levels = Vec::new();
    let mut notices = Vec::new();
    for _ in 0..3 {
        let s = Session::open(&dir, Some(&saved));
        levels.push(s.healer.level());
        notices.push(s.healer.notice.clone().unwrap_or_default());
        drop(s); // crashed again
    }
    // The known-good level of a new session is Medium; then one lower; then safe mode.
    assert_eq!(levels, [Level::Medium, Level::Low, Level::Safe]);
    assert!(notices[0].contains("unexpected shutdown"), "{}", notices[0]);
    assert!(notices[1].contains("twice in a row"), "{}", notices[1]);
    assert!(notices[2].contains("safe mode"), "{}", notices[2]);
    // Safe mode holds for a while, not just one breaker backoff.
    let s = Session::open(&dir, Some(&saved));
    assert_eq!(s.healer.level(), Level::Safe);
    assert!(!s.healer.breakers[Level::Safe as usize].allows_trial(30.0));
    // A clean stop ends the loop: the next crash is a first one again.
    let stopped = s.close();
    let again = Session::open(&dir, Some(&stopped));
    drop(again);
    let after = Session::open(&dir, Some(&stopped));
    assert!(
        after
            .healer
            .notice
            .as_deref()
            .unwrap()
            .contains("Recovered"),
        "{:?}",
        after.healer.notice
    );
}

#[test]
fn two_live_instances_from_one_state_keep_their_own_journal() {
    let dir = temp_dir("duplicates");
    let original = Session::open(&dir, None);
    let state = original.close();
    let a = Session::open(&dir, Some(&state));
    let b = Session::open(&dir, Some(&state));
    assert_ne!(a.checkpointer.instance_id(), b.checkpointer.instance_id());
    assert_ne!(a.checkpoint().instance_id, b.checkpoint().instance_id);
    assert_eq!(a.crashes() + b.crashes(), 0, "a live sibling is no crash");
    // Each one's journal holds only its own checkpoints.
    let j = Journal::new(&dir);
    assert_eq!(
        j.latest(a.checkpointer.instance_id()).unwrap().instance_id,
        a.checkpointer.instance_id()
    );
    assert_eq!(
        j.latest(b.checkpointer.instance_id()).unwrap().instance_id,
        b.checkpointer.instance_id()
    );
    // Only A has an incident after the load.
    let mut a = a;
    a.healer.log.push(Incident::example(7));
    let a_state = a.close();
    let b_state = b.close();
    let overloads = |s: &Session| {
        s.healer
            .log
            .iter()
            .filter(|i| i.kind == IncidentKind::Overload)
            .count()
    };
    // Reopening one alone gives its own history back, not its sibling's.
    assert_eq!(overloads(&Session::open(&dir, Some(&b_state))), 0);
    assert_eq!(overloads(&Session::open(&dir, Some(&a_state))), 1);
}

#[test]
fn the_journal_stays_bounded_and_clean_however_many_instances_come_and_go() {
    let dir = temp_dir("bounded");
    let j = Journal::new(&dir);
    let mut cp = full_checkpoint();
    for id in 0..(journal::MAX_FILES as u64 + 40) {
        cp.instance_id = id;
        for generation in 1..=4 {
            cp.generation = generation;
            j.write(&cp).unwrap();
        }
    }
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(
        files.len() <= journal::MAX_FILES + journal::PRUNE_AFTER_WRITES as usize,
        "{} files",
        files.len()
    );
    // The newest instance's newest generation is there.
    assert_eq!(
        j.latest(journal::MAX_FILES as u64 + 39).unwrap().generation,
        4
    );

    // A temporary file left by a cut-off write is pruned once it is stale; a fresh one is not
    // (it may be another instance's write in flight).
    let stale = dir.join("00000000000000aa-00000000000000000001.ckpt.tmp");
    let fresh = dir.join("00000000000000bb-00000000000000000001.ckpt.tmp");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::write(&fresh, b"half").unwrap();
    let old = std::time::SystemTime::now() - journal::STALE_TMP * 2;
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    j.prune("");
    assert!(!stale.exists());
    assert!(fresh.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_that_keeps_failing_is_one_incident_with_a_count() {
    let blocker = temp_dir("failing");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let session = std::sync::Arc::new(std::sync::Mutex::new(Persisted::default()));
    let mut c = Checkpointer::new(session, Some(Journal::new(blocker.join("journal"))));
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    for _ in 0..100 {
        h.checkpoint_now(&mut c, true, Level::Ultra);
        c.urgent_for_tests();
    }
    let journal: Vec<_> = h.log.of_kind(IncidentKind::Journal).collect();
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0].repeats, 99);
    // The disk works again: the incident is over.
    let _ = std::fs::remove_file(&blocker);
    h.checkpoint_now(&mut c, true, Level::Ultra);
    let i = h
        .log
        .iter()
        .find(|i| i.kind == IncidentKind::Journal)
        .unwrap();
    assert_eq!(i.outcome, crate::healer::learning::Outcome::Recovered);
    let _ = std::fs::remove_dir_all(&blocker);
}

#[test]
fn restored_breakers_keep_their_remaining_time_on_the_new_time_base() {
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    let mut cp = full_checkpoint();
    cp.session_s = 1000.0;
    cp.breakers[Level::Ultra as usize].state =
        crate::healer::breaker::BreakerState::Open { until_s: 1004.0 };
    cp.breakers[Level::High as usize].state =
        crate::healer::breaker::BreakerState::Open { until_s: 1e300 };
    cp.breakers[Level::Medium as usize].state =
        crate::healer::breaker::BreakerState::Open { until_s: f64::NAN };
    h.restore(&cp.to_restore(false), Level::Ultra);
    let b = &h.breakers;
    assert!(!b[Level::Ultra as usize].allows_trial(3.9));
    assert!(b[Level::Ultra as usize].allows_trial(4.0));
    // Hostile or foreign times wait a bounded while, not forever.
    let bound = crate::healer::breaker::MAX_RESTORED_WAIT_S;
    assert!(b[Level::High as usize].allows_trial(bound));
    assert!(b[Level::Medium as usize].allows_trial(bound));
}

#[test]
fn a_state_the_host_loads_while_running_is_restored_at_the_next_tick() {
    use nice_plug::params::persist::PersistentField;
    let session = std::sync::Arc::new(std::sync::Mutex::new(Persisted::default()));
    let mut c = Checkpointer::new(session.clone(), None);
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.checkpoint_now(&mut c, true, Level::Ultra);
    h.checkpoint_now(&mut c, true, Level::Ultra);
    assert!(h.breakers[5].is_closed());
    // The host sets the field as it does when it loads a state: a deserialized value.
    let loaded = Persisted {
        current: Some(full_checkpoint().to_text()),
        preserved: None,
        ..Default::default()
    };
    let text = serde_json::to_string(&loaded).unwrap();
    session.set(serde_json::from_str(&text).unwrap());
    h.checkpoint_now(&mut c, true, Level::Ultra);
    assert!(
        !h.breakers[5].is_closed(),
        "the loaded checkpoint's breaker"
    );
    // Loaded again, unchanged: nothing new to restore, and the text stays Salve's.
    let ours = session.lock().unwrap().clone();
    session.set(serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap());
    h.checkpoint_now(&mut c, true, Level::Ultra);
    assert_eq!(session.lock().unwrap().current, ours.current);
}

#[test]
fn instances_started_together_write_their_routine_checkpoints_apart() {
    // 80 instances start in the same tick, with the interval of a fleet of 80 (10 s), and have
    // something new to say at every tick (a journal failure counted again): their routine
    // checkpoints spread over the seconds instead of coming all in one.
    use crate::healer::{Mode, TickInputs};
    let inputs = TickInputs::playing(Mode::Auto, Level::Ultra);
    let mut members: Vec<(Checkpointer, Healer)> = (0..80)
        .map(|_| {
            let session = std::sync::Arc::new(std::sync::Mutex::new(Persisted::default()));
            (
                Checkpointer::new(session, None),
                Healer::new(HealerConfig::default(), Level::Ultra, Learned::default()),
            )
        })
        .collect();
    let mut per_second = [0u32; 40];
    for tick in 0..2000u64 {
        let now_ns = tick * 20_000_000;
        for (c, h) in &mut members {
            h.tick(now_ns, &[], inputs);
            h.record_journal_failure();
            c.spread_routine_writes(10.0);
            let before = c.generation;
            h.checkpoint_tick(c, true, Level::Ultra);
            if c.generation > before && tick > 0 {
                per_second[(now_ns / 1_000_000_000) as usize] += 1;
            }
        }
    }
    // With one interval for all, the 80 would write in the same tick every 10 s. Spread, each
    // writes every 5-15 s, from its random id: about 8 a second expected, 12 in the busiest
    // seconds; more than 30 in one second (a binomial tail near 6 standard deviations) is
    // expected less than once in ten million runs.
    let total: u32 = per_second.iter().sum();
    assert!(
        (200..=480).contains(&total),
        "{total} routine writes in 40 s"
    );
    assert!(
        per_second.iter().all(|&n| n <= 30),
        "writes per second: {per_second:?}"
    );
}
