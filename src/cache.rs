//! Cache hints: asking for memory ahead of its use. With hundreds of instances in a session,
//! each instance's state has left the cache by its next block, and a block that reads it line
//! by line, each read waiting for the one before (a pointer, then what it points to), waits for
//! every miss in turn; asked for at once, the lines come together. A hint never faults and
//! changes no memory, whatever the address.

/// Asks for the `bytes` from `at` in the cache, for reading.
#[inline]
pub fn prefetch<T: ?Sized>(at: *const T, bytes: usize) {
    let at = at.cast::<u8>();
    #[cfg(target_arch = "x86_64")]
    for offset in (0..bytes).step_by(64) {
        // SAFETY: a prefetch is a hint: it never faults and changes no memory (SSE is part of
        // every x86_64).
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(offset).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (at, bytes);
}

/// Asks for `value` in the cache, all of it.
#[inline]
pub fn prefetch_value<T>(value: &T) {
    prefetch(value as *const T, std::mem::size_of::<T>());
}

/// Asks for the cache line at `at` in a state to be written.
#[inline]
pub fn prefetch_for_write<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as above (a CPU without PREFETCHW takes it for a plain prefetch or a no-op).
    unsafe {
        use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_ET0>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
