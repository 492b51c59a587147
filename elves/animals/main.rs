//! The animals elf.

use mycelium_elves::animals::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::draw::TASK))
}
