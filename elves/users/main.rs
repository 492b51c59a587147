//! The users elf.

use mycelium_elves::service::signals;

fn main() -> std::process::ExitCode {
    use mycelium_elves::users::tasks::*;
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
