//! `elf-agents-b`: a second receiver and responder, and a server that
//! crashes when `AGENTS_CRASH_AFTER_MS` says when.

use std::time::Duration;

fn main() -> std::process::ExitCode {
    use mycelium_elves::agents::tasks::*;
    let crash_after: Option<u64> = std::env::var("AGENTS_CRASH_AFTER_MS").ok().and_then(|v| v.parse().ok());
    mycelium::elf::main(
        mycelium::elf::Elf::new("agents-b")
            .task(&ping_b::TASK)
            .task(&answer_b::TASK)
            .task(&ask_then_wait::TASK)
            .emits::<Ask>()
            .server("status", move |mut h| async move {
                match crash_after {
                    Some(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Err(std::io::Error::other("the status port went away"))
                    }
                    None => {
                        h.stopping().await;
                        Ok(())
                    }
                }
            }),
    )
}
