//! `elf-agents-clock`: a task that runs every second.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("agents-clock").task(&tasks::beat::TASK))
}
