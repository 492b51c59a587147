//! The printer elf: prints what it is given.

/// This module's tasks belong to the elf `printer`.
pub const ELF: &str = "printer";

/// Prints `text` and returns how many characters it printed.
#[mycelium::task]
pub fn print_it(text: String) -> usize {
    println!("printer: {text}");
    text.chars().count()
}

/// Prints every message of every group; returns the number of messages.
#[mycelium::task]
pub fn print_all(groups: Vec<Vec<String>>) -> usize {
    for (i, group) in groups.iter().enumerate() {
        println!("printer: group {i}: {}", group.join(" | "));
    }
    groups.iter().map(Vec::len).sum()
}
