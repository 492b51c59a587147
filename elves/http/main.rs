//! The built-in `http` elf: serves the task `http/request`.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(tasks::ELF).task(&tasks::request::TASK))
}
