use mycelium::flow::Flow;

#[mycelium_macros::flow(elf = "x")]
fn plain(cx: &mut Flow) -> u64 {
    1
}

fn main() {}
