//! The stats-mean elf.

use mycelium_elves::stats::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("stats-mean").task(&tasks::mean::TASK))
}
