struct Opaque;

#[mycelium_macros::task(elf = "x")]
fn make(n: u32) -> Opaque {
    let _ = n;
    Opaque
}

fn main() {}
