//! `mycelium bench`.

use clap::Args as ClapArgs;

/// Arguments of `mycelium bench`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Which workload: w1, w2, w3, w4, or store (the storage layer alone).
    #[arg(long, default_value = "store")]
    pub workload: String,
    /// Elf instances.
    #[arg(long, default_value_t = 2)]
    pub elves: u32,
    /// Runs to take the median of.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// One JSON object per run on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("the benchmarks are not built yet")
}
