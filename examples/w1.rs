//! W1 of WORKLOADS.md against elves that are already running: 10,000
//! independent `bench/value` tasks, summed by the driver.
//!
//! Start the benchmark elves with `mycelium launch examples/bench.toml`,
//! then `MYCELIUM_URL=sqlite://examples/bench.db cargo run --release --example w1 [n]`.

use std::time::Instant;

use mycelium_elves::bench::tasks as bench;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let n: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let myc = mycelium::connect(&url)?;
    let mut o = myc.orchestration("w1");
    for i in 0..n {
        o.call(bench::value::call(i));
    }
    let t0 = Instant::now();
    let run = o.submit().await?;
    let submitted = t0.elapsed();
    let progress = run.follow(|_| {}).await?;
    let seconds = t0.elapsed().as_secs_f64();
    anyhow::ensure!(progress.failed == 0, "{} task(s) failed: see `mycelium failures`", progress.failed);
    // The driver sums: all the results in one read.
    let sum: u64 = myc.store().results(run.jobs())?.iter().filter_map(|(_, v)| v.as_u64()).sum();
    anyhow::ensure!(sum == n * (n - 1) / 2, "the sum {sum} is not the expected {}", n * (n - 1) / 2);
    println!(
        "run {}: {n} tasks in {seconds:.3} s ({:.0} tasks/s; submit {:.3} s), sum {sum}",
        run.id(),
        n as f64 / seconds,
        submitted.as_secs_f64()
    );
    Ok(())
}
