//! The report elf.

use mycelium_elves::report::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::report::TASK))
}
