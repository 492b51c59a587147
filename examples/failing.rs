//! A run that fails, for the README's "When things fail" walkthrough: the
//! trials elf picks the 8th of three fruits (a panic), so the greeting that
//! consumes it can never run; and a setting that does not parse (an error
//! returned with `?`).
//!
//! Start `elf-trials` (and a coordinator), then run this driver
//! (`target/release/examples/failing`, or `cargo run --example failing`).

use mycelium_elves::trials::tasks as trials;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let myc = mycelium::connect(&url)?;
    let mut o = myc.orchestration("fruit");
    let fruit = o.call(trials::pick::call(7));
    let greeting = o.call(trials::greet::call(&fruit));
    let setting = o.call(trials::parse_setting::call("retries=many".to_owned()));
    let run = o.submit().await?;
    match run.wait(&greeting).await {
        Ok(g) => println!("{g}"),
        Err(e) => println!("run {}: {e}", run.id()),
    }
    match run.wait(&setting).await {
        Ok(s) => println!("{s:?}"),
        Err(e) => println!("run {}: {e}", run.id()),
    }
    Ok(())
}
