//! The tasks elf of the flow tests.

fn main() -> std::process::ExitCode {
    use mycelium_elves::flows::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&step::TASK)
            .task(&ext_create::TASK)
            .task(&ext_status::TASK)
            .task(&square::TASK)
            .task(&nap::TASK),
    )
}
