//! The stats-min elf.

use mycelium_elves::stats::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("stats-min").task(&tasks::minimum::TASK))
}
