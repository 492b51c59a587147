//! Doorbells: wake-ups that only cut latency.
//!
//! After a commit that makes jobs ready, the writer rings the coordinator
//! (`ring <elf> <n>`); the coordinator wakes as many idle instances of that
//! elf as the `n` new jobs need (`wake`), counting the free slots each said
//! it has (`slots <free>` before `idle`), not all of them. A lost ring costs latency, never
//! correctness: every waiter also polls the store. Locally the doorbell is a
//! unix socket beside the store (`<store>.sock`); across machines the
//! coordinator also listens on TCP (`--doorbell-tcp`, with an optional shared
//! token) and elves find it through `MYCELIUM_DOORBELL=host:port`.
//!
//! The coordinator also learns from the doorbell when an elf process dies:
//! its connection closes without `bye`, and the elf's jobs are expired at
//! once instead of at the end of their lease.
//!
//! The protocol is one line per message:
//! `hello <token> <elf> <instance>`, `slots <free>`, `idle`, `bye`,
//! `ring <token> <elf> <n>`
//! (client to coordinator) and `wake` (coordinator to elf).

mod client;
mod server;

pub(crate) use client::{Bell, Endpoint, ring};
pub(crate) use server::{Server, ServerOptions};
