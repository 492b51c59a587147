#[mycelium_macros::task]
fn lonely() {}

fn main() {}
