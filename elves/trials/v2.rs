//! The trials elf, built with version 2 of `greet`.

use mycelium_elves::trials::tasks_v2 as tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::greet::TASK))
}
