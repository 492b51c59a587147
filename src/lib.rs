//! mycelium: durable orchestration of machine elves.
//!
//! An application is split into small worker programs, **elves**, that never
//! talk to each other, only to one shared database, the **mycelium**. A
//! driver composes an orchestration by calling tasks; each call records a job
//! and passing one call's output into another records a dependency edge.
//!
//! # Layout
//!
//! * [`model`]: the documents of the mycelium (jobs, runs, tasks, failures,
//!   events).
//! * [`refs`]: output references inside job arguments.
//! * [`storage`]: the [`storage::Store`] trait, its SQLite backend and the
//!   conformance suite.

pub mod bench;
pub mod cli;
pub mod coordinator;
pub mod doorbell;
pub mod driver;
pub mod elf;
pub mod model;
pub mod refs;
pub mod schema;
pub mod storage;
pub mod task;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use driver::{Mycelium, connect};
pub use mycelium_macros::task;
pub use storage::{Store, open};
pub use task::{Arg, Call, Fatal, IntoArg, Output};
