//! The sender elf.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers, which use other parts of them")]

mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(
        mycelium::elf::Elf::new(tasks::ELF).task(&tasks::send::TASK).task(&tasks::slow::TASK).task(&tasks::shout::TASK),
    )
}
