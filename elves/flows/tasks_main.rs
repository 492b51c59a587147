//! The tasks elf of the flow tests.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

mod tasks;

fn main() -> std::process::ExitCode {
    use tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&step::TASK)
            .task(&ext_create::TASK)
            .task(&ext_status::TASK)
            .task(&square::TASK)
            .task(&nap::TASK),
    )
}
