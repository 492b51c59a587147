#[mycelium_macros::flow(elf = "x")]
async fn lonely(day: String) -> u64 {
    day.len() as u64
}

fn main() {}
