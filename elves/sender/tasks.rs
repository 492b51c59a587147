//! The sender elf: hands a message on.

/// This module's tasks belong to the elf `sender`.
pub const ELF: &str = "sender";

/// Sends `message` on, unchanged.
#[mycelium::task]
pub fn send(message: String) -> String {
    message
}

/// Waits `ms` milliseconds, then returns them (for crash and timeout demos).
#[mycelium::task]
pub fn slow(ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    ms
}

/// Upper-cases `text`; an empty text is an error.
#[mycelium::task]
pub fn shout(text: String) -> Result<String, String> {
    if text.is_empty() {
        return Err("nothing to shout: the text is empty".to_owned());
    }
    Ok(text.to_uppercase())
}
