//! Panics caught on the audio thread stay real-time: while Salve's DSP runs inside its
//! `catch_unwind` in `process()`, the process-wide panic hook returns at once instead of
//! resolving a backtrace and logging (nice-plug's hook does both, which turned a silenced block
//! into a stall of milliseconds). The plugin counts the panic and the healer records it as an
//! incident, off the audio thread. Everywhere else the hook that was there before runs as usual.
//!
//! Limit: the unwinding itself still allocates its exception object, so under the `alloc-checks`
//! test feature a panic that a test did not inject aborts the host.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// Set while this thread runs Salve's DSP under `catch_unwind`.
    static CAUGHT_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the current panic hook (once per process; call it after the host wrapper set up its
/// logger, as creating a plugin instance is).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(quiet(std::panic::take_hook())));
}

type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// `previous`, except inside [`quietly`] on the panicking thread.
fn quiet(previous: Hook) -> Hook {
    Box::new(move |info| {
        if !CAUGHT_HERE.with(Cell::get) {
            previous(info);
        }
    })
}

/// Runs `f` with the hook quiet on this thread (the caller catches the unwinding).
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAUGHT_HERE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CAUGHT_HERE.with(|c| c.replace(true)));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_hook_is_quiet_only_inside_quietly_and_only_on_that_thread() {
        // Counts the hook's calls on this test's thread only (other tests panic on theirs).
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static COUNTED: Cell<bool> = const { Cell::new(false) };
        }
        COUNTED.with(|c| c.set(true));
        std::panic::set_hook(quiet(Box::new(|_| {
            if COUNTED.with(Cell::get) {
                CALLS.fetch_add(1, Ordering::Relaxed);
            }
        })));
        let before = CALLS.load(Ordering::Relaxed);
        assert!(catch_unwind(|| quietly(|| panic!("in the DSP"))).is_err());
        assert_eq!(CALLS.load(Ordering::Relaxed), before, "the hook ran");
        // The flag is restored after the unwinding: the next panic here is logged.
        assert!(catch_unwind(|| panic!("elsewhere")).is_err());
        assert_eq!(CALLS.load(Ordering::Relaxed), before + 1);
        let _ = std::panic::take_hook();
    }
}
