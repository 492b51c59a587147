//! The built-in `http` elf: serves the task `http/request`.

use mycelium_elves::http::tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::request::TASK))
}
