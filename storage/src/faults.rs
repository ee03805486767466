//! Test-only fault injection: tests arm a failure at a named point of the write path and check
//! that the operation fails cleanly and changes nothing (redb's crash-backend style, without
//! needing a broken disk). Compiled only for this crate's tests and with the `fault-injection`
//! feature; release builds have no such hooks.

use std::cell::Cell;

use crate::error::{Result, StorageError};

/// Where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Point {
    /// The RocksDB write of a commit (its outcome is then unknown to the writer).
    CommitWrite = 1,
}

thread_local! {
    /// Per thread, so that tests running in parallel never trip each other's faults.
    static ARMED: Cell<u32> = const { Cell::new(0) };
}

/// Makes the next pass through `p` on this thread fail (once).
pub fn arm(p: Point) {
    ARMED.with(|a| a.set(p as u32));
}

/// Disarms any pending fault of this thread.
pub fn disarm() {
    ARMED.with(|a| a.set(0));
}

/// Fails if a fault is armed at `p` on this thread (and disarms it).
pub fn check(p: Point) -> Result<()> {
    if ARMED.with(|a| a.replace(0)) == p as u32 {
        return Err(StorageError::io(
            "injected fault",
            std::io::Error::other(format!("fault injected at {p:?}")),
        ));
    }
    Ok(())
}

/// A durability step a mutation test can switch off (see [`skip_sync`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Every directory fsync nestdb does (after creating, renaming or removing files).
    Dir,
}

/// Whether the environment variable `NESTDB_FAULT_SKIP_FSYNC` switches `s` off (`dir`).
///
/// The power-loss test uses it to prove it can fail: with directory fsyncs skipped, files
/// nestdb committed vanish on a power cut, and the test must notice.
pub fn skip_sync(s: Sync) -> bool {
    let name = match s {
        Sync::Dir => "dir",
    };
    std::env::var("NESTDB_FAULT_SKIP_FSYNC").is_ok_and(|v| v == name)
}
