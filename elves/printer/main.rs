//! The printer elf.

use mycelium_elves::printer::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::print_it::TASK).task(&tasks::print_all::TASK))
}
