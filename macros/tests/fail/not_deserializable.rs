pub struct Opaque;

#[mycelium_macros::task(elf = "x")]
fn take(n: u32, opaque: Opaque) {
    let _ = (n, opaque);
}

fn main() {}
