#[mycelium_macros::task(elf = "x")]
struct Animal {
    name: String,
}

fn main() {}
