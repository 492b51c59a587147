#[mycelium_macros::task(elf = "x")]
fn shout(text: &str) -> String {
    text.to_uppercase()
}

fn main() {}
