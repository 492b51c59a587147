#[mycelium_macros::task(elf = "x", retry = 3)]
fn flaky() {}

fn main() {}
