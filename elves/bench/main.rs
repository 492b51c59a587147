//! The bench elf.

use mycelium_elves::bench::flows;

fn main() -> std::process::ExitCode {
    use mycelium_elves::bench::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&value::TASK)
            .task(&add1::TASK)
            .task(&source::TASK)
            .task(&map::TASK)
            .task(&reduce::TASK)
            .task(&recv_a::TASK)
            .task(&recv_b::TASK)
            .task(&consume::TASK)
            .task(&nap::TASK)
            .task(&nap_after::TASK)
            .flow(&flows::chain::FLOW)
            .flow(&flows::fan::FLOW)
            .flow(&flows::one::FLOW),
    )
}
