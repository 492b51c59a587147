//! The stats-max elf.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers, which use other parts of them")]

#[path = "../animals/tasks.rs"]
mod animals;
#[path = "../storage/tasks.rs"]
mod storage;
mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("stats-max").task(&tasks::maximum::TASK))
}
