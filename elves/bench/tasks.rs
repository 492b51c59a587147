//! The bench elf: the no-op tasks of the benchmark workloads (WORKLOADS.md).

/// This module's tasks belong to the elf `bench`.
pub const ELF: &str = "bench";

/// W1, W4: returns `i`.
#[mycelium::task]
pub fn value(i: u64) -> u64 {
    i
}

/// W2: one hop of the chain.
#[mycelium::task]
pub fn add1(x: u64) -> u64 {
    x + 1
}

/// W3: the source of the fan-out.
#[mycelium::task]
pub fn source() -> u64 {
    7
}

/// W3: one map task.
#[mycelium::task]
pub fn map(src: u64, i: u64) -> u64 {
    src + i
}

/// W3: the fan-in.
#[mycelium::task]
pub fn reduce(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}
