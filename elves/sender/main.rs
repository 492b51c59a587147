//! The sender elf.

use mycelium_elves::sender::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(
        mycelium::elf::Elf::new(tasks::ELF).task(&tasks::send::TASK).task(&tasks::slow::TASK).task(&tasks::shout::TASK),
    )
}
