//! The sender to printer hand-off, and nested lists holding outputs.
//!
//! Start the sender and printer elves (see the README), then
//! `cargo run --example hello`.

use mycelium_elves::printer::tasks as printer;
use mycelium_elves::sender::tasks as sender;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MYCELIUM_URL").unwrap_or_else(|_| mycelium::storage::DEFAULT_URL.to_owned());
    let myc = mycelium::connect(&url)?;
    let mut o = myc.orchestration("hello");
    let message = o.call(sender::send::call("a message from the sender".to_owned()));
    let printed = o.call(printer::print_it::call(&message));
    // Outputs nested inside lists: the printer receives their values.
    let words: Vec<_> =
        ["nested", "lists", "hold", "outputs"].iter().map(|w| o.call(sender::send::call(w.to_string()))).collect();
    let groups = vec![words[..2].to_vec(), words[2..].to_vec()];
    let total = o.call(printer::print_all::call(groups));
    let run = o.submit().await?;
    let chars: usize = run.wait(&printed).await?;
    let messages: usize = run.wait(&total).await?;
    println!("run {}: the printer printed {chars} characters, then {messages} nested messages", run.id());
    Ok(())
}
