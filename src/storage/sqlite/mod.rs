//! The embedded mycelium: one SQLite file shared by every process on one
//! machine.
//!
//! WAL mode; every write is `BEGIN IMMEDIATE` behind a writer gate (an
//! `flock` on a file beside the store) so that competing processes queue in
//! the kernel instead of starving in SQLite's sleeping busy handler; hot paths
//! write in batches; checkpoints run off the hot path.

mod gate;
mod lifecycle;
mod open;
mod read;
mod retry;
mod rows;
mod schema;
mod store;
mod submit;

pub use open::{Options, SqliteStore, Synchronous};
