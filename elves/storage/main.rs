//! The storage elf.

use mycelium_elves::storage::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::save::TASK))
}
