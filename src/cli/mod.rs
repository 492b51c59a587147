//! The `mycelium` command.

pub mod probe;
