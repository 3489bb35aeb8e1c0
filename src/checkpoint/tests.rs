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
    let mut cp = h.checkpoint(0xDEAD_BEEF, 42, true);
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
    let empty = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default())
        .checkpoint(1, 1, true);
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

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("salve-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
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
    }));
    let mut c = Checkpointer::new(session.clone(), None);
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    c.tick(&mut h, false, Level::Ultra);
    assert_eq!(
        session.lock().unwrap().current,
        Some(text.clone()),
        "a load alone writes nothing"
    );
    assert_eq!(c.last_write_wall_s(), None);
    assert!(h.notice.is_some());
    c.tick(&mut h, true, Level::Ultra);
    // The panel's "last checkpoint" time is the checkpoint's own.
    assert!(
        c.last_write_wall_s()
            .is_some_and(|s| s.abs_diff(wall_clock_s()) < 5)
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
    h.restore(&cp, Level::Ultra);
    assert_eq!(h.start_session(48_000, 64, Level::Ultra), Level::Medium);
    assert!(!h.breakers[Level::Ultra as usize].is_closed());
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::Crash));
    assert!(h.notice.as_deref().unwrap().contains("unexpected shutdown"));
    // The earlier incidents and learning came back.
    assert_eq!(h.learned, cp.learned);

    // A clean checkpoint restores without any of that.
    cp.running = false;
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.restore(&cp, Level::Ultra);
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
    c.tick(&mut h, true, Level::Ultra);
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::Journal));
    // The plugin state still got its checkpoint.
    assert!(session.lock().unwrap().current.is_some());
    let _ = std::fs::remove_file(&blocker);
}
