struct Counter;

impl Counter {
    #[mycelium_macros::task(elf = "x")]
    fn count(&self) -> u32 {
        0
    }
}

fn main() {}
