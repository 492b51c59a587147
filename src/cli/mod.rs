//! The `mycelium` command.

pub(crate) mod bench;
pub(crate) mod command;
pub(crate) mod coordinator;
pub(crate) mod diff;
pub(crate) mod elves;
pub(crate) mod error;
pub(crate) mod exit;
pub(crate) mod failure;
pub(crate) mod failures;
pub(crate) mod flow;
pub(crate) mod gc;
pub(crate) mod graph;
pub(crate) mod history;
pub(crate) mod inbox;
pub(crate) mod lookup;
pub(crate) mod ops;
pub(crate) mod probe;
pub(crate) mod queue;
pub(crate) mod render;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schedules;
pub(crate) mod signal;
pub(crate) mod signals;
pub(crate) mod source;
pub(crate) mod start;

pub(crate) use error::{Context, Error, Result};
