//! The `mycelium` command.

pub mod bench;
pub mod coordinator;
pub mod probe;
