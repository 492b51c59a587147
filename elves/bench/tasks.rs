//! The bench elf: the no-op tasks of the benchmark workloads (WORKLOADS.md),
//! and the agents' workloads (`queue`, `signal`, `tick`).

use mycelium::agent::Signal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// The `signal` workload's signal, received twice.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BenchPing {
    /// Which emission.
    pub n: u64,
}

impl Signal for BenchPing {
    const NAME: &'static str = "bench_ping";
}

/// The first receiver of `bench_ping`.
#[mycelium::task(receives = [BenchPing])]
pub fn recv_a(p: BenchPing) -> u64 {
    p.n
}

/// The second receiver of `bench_ping`.
#[mycelium::task(receives = [BenchPing])]
pub fn recv_b(p: BenchPing) -> u64 {
    p.n
}

/// The `queue` workload's consumer: acknowledges every message.
#[mycelium::task(consumes = "bench")]
pub fn consume(n: u64) -> u64 {
    n
}

/// W5, W6: sleeps `ms` milliseconds (a task of known length), returns `i`.
#[mycelium::task]
pub fn nap(ms: u64, i: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    i
}

/// W5: one link of a chain of naps: sleeps `ms` milliseconds, returns
/// `prev + 1`.
#[mycelium::task]
pub fn nap_after(prev: u64, ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    prev + 1
}
