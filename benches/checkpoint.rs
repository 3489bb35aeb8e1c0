//! Checkpoint costs on the healer thread: building and serializing a checkpoint with a full
//! incident ring, and writing it to the journal (atomic write: temporary file, fsync, rename).
//! The audio thread never does any of this.

use criterion::{Criterion, criterion_group, criterion_main};
use salve::checkpoint::Checkpoint;
use salve::checkpoint::journal::Journal;
use salve::healer::learning::Incident;
use salve::healer::level::Level;
use salve::healer::{Healer, HealerConfig};
use std::hint::black_box;

fn full_healer() -> Healer {
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Default::default());
    for i in 0..64 {
        h.log.push(Incident::example(i));
    }
    h
}

fn checkpoint(c: &mut Criterion) {
    let h = full_healer();
    c.bench_function("checkpoint/build+serialize", |b| {
        b.iter(|| black_box(Checkpoint::of(h.export(), 1, 2, true).encode()))
    });
    let cp = Checkpoint::of(h.export(), 1, 2, true);
    println!(
        "checkpoint size with a full incident ring: {} bytes",
        cp.encode().len()
    );
    let dir = std::env::temp_dir().join(format!("salve-bench-journal-{}", std::process::id()));
    let journal = Journal::new(&dir);
    let mut generation = 0;
    c.bench_function("checkpoint/journal_write", |b| {
        b.iter(|| {
            generation += 1;
            let mut cp = cp.clone();
            cp.generation = generation;
            journal.write(&cp).unwrap();
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
