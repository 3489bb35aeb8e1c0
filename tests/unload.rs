//! A host unloads Salve's library while a thread that once created an instance lives on (a
//! plugin scan, or a session closed before the host's worker threads end): that thread must
//! still end cleanly. This is the only test in its binary, so nothing else holds the library.

mod support;

use std::sync::mpsc::channel;
use support::*;

#[test]
fn a_host_thread_that_created_salve_ends_cleanly_after_the_library_is_unloaded() {
    let library = plugin_library().clone();
    let (first_created, wait_first_created) = channel::<()>();
    let (second_gone, wait_second_gone) = channel::<()>();
    let (may_end, wait_may_end) = channel::<()>();

    // The first instance in the process: creating it starts nice-plug's shared worker thread,
    // and the thread-local state that leaves on this thread keeps the library mapped until the
    // thread ends. It plays, so it also logs.
    let first = {
        let library = library.clone();
        std::thread::spawn(move || {
            let entry = load_entry_from(&library);
            let mut salve = Instance::new(&entry, "unload test, first");
            let mut processor = salve.activate(48_000.0, 64);
            let tone = sine(440.0, 48_000.0, 0.5, 64);
            for _ in 0..16 {
                processor.process(&tone, &tone);
            }
            salve.deactivate(processor);
            first_created.send(()).unwrap();
            wait_second_gone.recv().unwrap();
        })
    };
    wait_first_created.recv().unwrap();

    // A second host thread creates and destroys an instance, and then lives on. Creating it asks
    // for this thread's `std::thread::current()` inside the library, which leaves a thread-exit
    // destructor in Salve's code with glibc, and nothing that keeps the library mapped.
    let second = {
        let library = library.clone();
        std::thread::spawn(move || {
            {
                let entry = load_entry_from(&library);
                let salve = Instance::new(&entry, "unload test, second");
                drop(salve);
            }
            second_gone.send(()).unwrap();
            wait_may_end.recv().unwrap();
        })
    };
    first.join().expect("the first thread ended cleanly");

    // Every instance and every thread that kept the library mapped is gone; one more load and
    // unload (a host scanning the plugin again) lets the loader unmap it.
    drop(load_entry_from(&library));

    // Now the second thread ends. Without `-z nodelete` (build.rs) the process dies here: glibc
    // calls the destructor at an address that is no longer mapped (rust-lang/rust#91979).
    may_end.send(()).unwrap();
    second.join().expect("the second thread ended cleanly");
}
