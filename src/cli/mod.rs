//! The `mycelium` command.

pub mod bench;
pub mod coordinator;
pub mod diff;
pub mod elves;
pub mod error;
pub mod exit;
pub mod failure;
pub mod failures;
pub mod flow;
pub mod gc;
pub mod graph;
pub mod history;
pub mod inbox;
pub mod lookup;
pub mod ops;
pub mod probe;
pub mod queue;
pub mod render;
pub mod run;
pub mod runs;
pub mod schedules;
pub mod signal;
pub mod signals;
pub mod source;
pub mod start;

pub use error::{Context, Error, Result};
