//! `elf-agents-clock`: a task that runs every second.

use mycelium_elves::agents::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new("agents-clock").task(&tasks::beat::TASK))
}
