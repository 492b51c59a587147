#[mycelium_macros::task(elf = "x")]
unsafe fn risky() {}

fn main() {}
