//! The trials elf, built with version 2 of `greet`.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

#[path = "tasks_v2.rs"]
mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::greet::TASK))
}
