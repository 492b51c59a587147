//! Durable flows: orchestration code that survives any crash, waits for
//! time and for the outside world, and decides at run time what to run.
//!
//! A flow is an `async fn(cx: &mut Flow, args..) -> Result<T, E>` marked
//! `#[mycelium::flow]`: a job like a task (started by a driver, the CLI or
//! the JSON API; served by elves beside tasks with
//! [`Elf::flow`](crate::elf::Elf::flow)) whose code calls tasks and other
//! flows through its [`Flow`] context. Every command is recorded in the
//! mycelium as the flow's history, in the same transaction as what it
//! creates. A flow that waits (for a child, a timer, a signal) holds no slot
//! and no process; when what it awaits happens, any elf serving it resumes
//! it by replaying its code against the history (or, on the elf that ran it
//! last, by resuming it from memory).
//!
//! # Layout
//!
//! * [`Flow`] (`context.rs`): the commands; `commands.rs`: the futures they
//!   return.
//! * `machine.rs`: the replay machine (history, new commands, determinism
//!   check).
//! * `run.rs`, `host.rs`: running a claimed flow inside an elf.
//! * [`retry`]: retrying a call with durable backoff, as library code.

mod commands;
mod context;
mod definition;
mod error;
pub(crate) mod host;
mod machine;
pub mod replay;
mod retry;
pub(crate) mod run;

#[cfg(test)]
mod tests;

pub use commands::{Awaited, JoinAll, Mapped, Select, SignalWait, Sleep};
pub use context::{Flow, Handle};
pub use definition::Definition;
pub use error::{FlowError, SignalError, TaskFailed};
pub use retry::{Retry, retry, transient};
pub use run::{FlowFuture, Ran};
