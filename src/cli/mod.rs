//! The `mycelium` command.

pub mod bench;
pub mod coordinator;
pub mod diff;
pub mod elves;
pub mod exit;
pub mod failure;
pub mod failures;
pub mod graph;
pub mod history;
pub mod lookup;
pub mod ops;
pub mod probe;
pub mod render;
pub mod run;
pub mod runs;
pub mod source;
