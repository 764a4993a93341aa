//! glibc malloc tuning: keeping the process's memory flat where the C library is glibc.
//!
//! `transform` allocates and frees a lot of short-lived memory (page bodies, sorted runs) among
//! long-lived sets (the work keys seen). glibc's allocator keeps what is freed: one arena per
//! thread that ever allocated (the blocking pool has dozens), and free pages stranded below live
//! ones. Measured at 1M works (docs/benchmarks.md): ~380 MB peak RSS as is, ~250 MB with two
//! arenas, less with the freed pages handed back after each sorted run is spilled. Two arenas
//! proved too few for the threads that parse pages at once and the one sorting their rows: they
//! queued on the arena locks (transform at 1M: 8.0 s with two, 7.4 s with four, 7.3 s uncapped; peak
//! RSS 197, 210 and 253 MB), so four it is.
//! Other C libraries (musl, macOS) need nothing here.

/// glibc's malloc arenas: enough that the threads parsing pages seldom wait for one another.
const ARENAS: i32 = 4;

/// Caps glibc at [`ARENAS`] malloc arenas. Call once, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Hands freed memory back to the operating system (after a burst of temporary allocations).
pub fn release_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
