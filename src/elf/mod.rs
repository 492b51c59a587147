//! The elf runtime: what an elf binary's `main` calls.
//!
//! An elf registers itself and the versions of its tasks, heartbeats, claims
//! ready jobs in batches up to its free slots, resolves output references,
//! runs tasks (sync ones on blocking threads, so a slow task never stalls a
//! heartbeat), and writes results or failures, batching completions with the
//! next claim. For jobs long against a transaction it claims a slot's next
//! job shortly before the slot frees, and a finished job's successor at once
//! (`pacing`). On SIGTERM or SIGINT it stops claiming, gives back what it
//! claimed ahead, finishes (or releases) what it holds, and exits 0.

pub(crate) mod cli;
mod frames;
mod hooks;
mod pacing;
pub(crate) mod panic;
pub(crate) mod runner;
mod service;

pub use cli::main;
pub(crate) use cli::stop_signal;
pub(crate) use frames::WARMED_UP;
pub use frames::frames_of;
pub use hooks::{Hook, HookError};
pub use service::{Elf, Options, serve};

#[cfg(test)]
mod tests;
