//! Version 2 of the trials elf's `greet` (a changed task source gives a new
//! task version; the tests run both).

/// This module's tasks belong to the elf `trials`.
pub const ELF: &str = "trials";

/// Greets `name`, warmly.
#[mycelium::task]
pub fn greet(name: String) -> String {
    format!("hello, {name}!")
}
