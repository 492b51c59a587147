//! The flows elf of the tests: serves the test flows (their tasks run on
//! `elf-flow-tasks`).

fn main() -> std::process::ExitCode {
    use mycelium_elves::flows::flows::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .flow(&chain::FLOW)
            .flow(&create_then_poll::FLOW)
            .flow(&approval::FLOW)
            .flow(&fan::FLOW)
            .flow(&greeter::FLOW)
            .flow(&ordered::FLOW)
            .flow(&narcissus::FLOW)
            .flow(&sleepy::FLOW),
    )
}
