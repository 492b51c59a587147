#[mycelium_macros::task(elf = "x")]
fn add((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {}
