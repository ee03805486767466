//! Returning freed heap memory to the operating system between the phases of long jobs.
//!
//! glibc's allocator keeps freed memory in its arenas, and after a large block is freed it
//! raises its mmap threshold (up to 32 MiB), so the next large buffers come from the arenas
//! too. A bulk load or ANALYZE allocates and frees hundreds of MiB per phase (reader
//! batches, a segment's buffer, the fit's sample, a compaction bucket); without a trim the
//! process kept them, and its resident memory after a 600,000-row COPY stayed at 620 MiB of
//! which 490 was free (`bindings/cli/tests/peak_memory.rs`). Long jobs call [`release_free`]
//! after each phase; the query path never does.

/// Gives the allocator's free memory back to the operating system (glibc's `malloc_trim`;
/// nothing elsewhere). It walks every arena under its lock, so it belongs between phases of
/// long jobs, never on the query path.
pub(crate) fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; it never touches
    // live allocations, and it is thread-safe (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
}
