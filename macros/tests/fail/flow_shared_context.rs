use mycelium::flow::Flow;

#[mycelium_macros::flow(elf = "x")]
async fn peek(cx: &Flow, day: String) -> u64 {
    day.len() as u64
}

fn main() {}
