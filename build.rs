//! Keeps the plugin library resident once a host has loaded it (`-z nodelete` on ELF targets).
//!
//! A host that calls into Salve from one of its own threads and later unloads the library
//! (`dlclose`) leaves glibc holding a thread-exit destructor inside Salve's code: Rust's
//! standard library registers one through `pthread_key_create` the first time a thread asks
//! for `std::thread::current()` (logging does, and so do several dependencies). When that
//! thread ends after the unload, glibc jumps into unmapped memory and the host crashes
//! (rust-lang/rust#91979). Hosts unload plugins after a scan and between sessions, so this is
//! a crash a musician would see. With `nodelete`, `dlclose` leaves the code mapped, so the
//! destructor stays valid, and a later load finds the same copy.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    );
    if elf {
        // Only the cdylib (the CLAP and VST3 library) is linked with it; the rlib, the tests
        // and the standalone are unaffected.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
