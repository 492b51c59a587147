//! The sender elf: hands a message on.

/// This module's tasks belong to the elf `sender`.
pub const ELF: &str = "sender";

/// Sends `message` on, unchanged.
#[mycelium::task]
pub fn send(message: String) -> String {
    message
}
