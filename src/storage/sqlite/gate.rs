//! The writer gate: one writer at a time across every process, queued fairly
//! by the kernel.
//!
//! SQLite's own busy handler sleeps and polls, so a process that just
//! committed takes the lock again before the sleepers wake; with four
//! processes that starved some for seconds (measured when choosing the
//! store). An
//! exclusive `flock` on `<store>-gate` around each write transaction makes
//! waiters sleep in the kernel and wake in turn; a process that dies holding
//! it releases it with its file descriptors.

use std::fs::File;

/// Holds the gate until dropped.
pub(super) struct Held<'a>(&'a File);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; an unlock error
        // leaves the lock to be released when the process exits.
        let _ = self.0.unlock();
    }
}

/// Blocks until this process holds the gate.
pub(super) fn enter(file: &File) -> std::io::Result<Held<'_>> {
    file.lock()?;
    Ok(Held(file))
}
