//! Starts the nightly ETL flow (elf `etl`) over a directory of `.csv` files
//! and waits for its report, for the README's "Durable flows" walkthrough.
//! The flow waits for an approval: send it from another terminal with
//! `mycelium signal nightly-<day> approve --data '{"by": "ana"}'`.
//!
//! Start `elf-etl` (and a coordinator), then
//! `cargo run --example nightly -- <dir> [day]`.

use mycelium_elves::etl::flows;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".to_owned());
    let day = args.next().unwrap_or_else(|| "today".to_owned());
    let dir = std::fs::canonicalize(&dir)?.display().to_string();
    let myc = mycelium::connect(&url)?;
    let mut o = myc.orchestration("nightly");
    // One flow per day: starting it again reattaches to the same flow.
    let key = format!("nightly-{day}");
    o.idempotency_key(&key);
    let report = o.call(flows::nightly::call(dir, 2_000u64));
    let run = o.submit().await?;
    println!("flow job {} (run {}) started; approve it with:", run.jobs()[0], run.id());
    println!("  mycelium signal {key} approve --data '{{\"by\": \"ana\"}}'");
    let r: flows::Report = run.wait(&report).await?;
    println!("report: {} files, {} rows, approved by {}, written to {}", r.files, r.rows, r.approved_by, r.path);
    Ok(())
}
