use mycelium::flow::Flow;

#[mycelium_macros::flow(elf = "x")]
async fn borrow(cx: &mut Flow, day: &str) -> u64 {
    day.len() as u64
}

fn main() {}
