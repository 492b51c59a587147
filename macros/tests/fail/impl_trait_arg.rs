#[mycelium_macros::task(elf = "x")]
fn greet(name: impl Into<String>) -> String {
    name.into()
}

fn main() {}
