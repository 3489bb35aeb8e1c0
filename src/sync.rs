//! Locking off the audio thread, one way everywhere.
//!
//! A lock whose holder panicked is used as it is: every value Salve shares behind a lock is
//! whole between two statements (a checkpoint, a healer, a registry), and the panic has been
//! told already (Salve catches its own). Refusing the value would turn one fault into a
//! permanent one. The audio thread takes no lock at all.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking over the value if a holder panicked (see the module's doc).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
