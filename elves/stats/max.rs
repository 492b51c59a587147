//! The stats-max elf.

use mycelium_elves::stats::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("stats-max").task(&tasks::maximum::TASK))
}
