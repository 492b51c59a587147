//! The animals pipeline, 10 rounds: each round an animals elf draws a species
//! and a weight, a storage elf saves it after the rounds before it, three
//! statistics elves compute the mean, minimum and maximum of everything saved
//! so far, and a report elf prints the round's line.
//!
//! Start a coordinator and the elves (see the README), then:
//! `cargo run --example pipeline` (store: `$MYCELIUM_URL`, default `sqlite://mycelium.db`).

use mycelium::Output;
use mycelium_elves::animals::tasks as animals;
use mycelium_elves::report::tasks as report;
use mycelium_elves::stats::tasks as stats;
use mycelium_elves::storage::tasks as storage;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let rounds: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10);
    let myc = mycelium::connect(&url)?;
    let mut o = myc.orchestration("animals");
    let mut before: Option<Output<storage::Saved>> = None;
    let mut lines = Vec::new();
    for round in 0..rounds {
        let animal = o.call(animals::draw::call(round));
        let saved = o.call(storage::save::call(round, animal, before.clone()));
        let mean = o.call(stats::mean::call(&saved));
        let min = o.call(stats::minimum::call(&saved));
        let max = o.call(stats::maximum::call(&saved));
        lines.push(o.call(report::report::call(round, &saved, mean, min, max)));
        before = Some(saved);
    }
    let jobs = o.len();
    let run = o.submit().await?;
    println!("submitted run {} ({jobs} jobs); waiting for the elves...", run.id());
    let progress = run
        .follow(|p| eprintln!("  run {}: {} of {} jobs done, {} failed", p.run, p.total - p.open, p.total, p.failed))
        .await?;
    println!("run {} {}:", run.id(), progress.state);
    for line in &lines {
        let l: report::Line = run.wait(line).await?;
        println!(
            "  round {:>2}: {:>2} animals  mean {:>7.2} kg  min {:>7.2} kg  max {:>7.2} kg",
            l.round, l.count, l.mean, l.min, l.max
        );
    }
    println!("inspect it with:");
    println!("  mycelium --store {url} run {}", run.id());
    println!("  mycelium --store {url} graph {} --format dot", run.id());
    println!("  mycelium --store {url} history {}", run.id());
    println!("  mycelium --store {url} source animals/draw");
    Ok(())
}
