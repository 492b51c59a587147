//! The users elf.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

#[path = "../service/signals.rs"]
mod signals;
mod tasks;

fn main() -> std::process::ExitCode {
    use tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&welcome::TASK)
            .task(&comment_seen::TASK)
            .task(&chatter::TASK)
            .task(&report::TASK)
            .emits::<signals::UserComment>()
            .emits::<signals::UserCreated>(),
    )
}
