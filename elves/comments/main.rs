//! The comments elf.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

#[path = "../service/signals.rs"]
mod signals;
mod tasks;

fn main() -> std::process::ExitCode {
    use tasks::*;
    mycelium::elf::main(mycelium::elf::Elf::new(ELF).task(&record_comment::TASK).task(&comments_count::TASK))
}
