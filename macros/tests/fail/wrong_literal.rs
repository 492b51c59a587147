#[mycelium_macros::task(elf = "x", timeout_ms = "2s")]
fn slow() {}

fn main() {}
