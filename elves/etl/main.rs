//! The nightly ETL elf: its tasks and its flow.

use mycelium_elves::etl::flows;

fn main() -> std::process::ExitCode {
    use mycelium_elves::etl::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&list_files::TASK)
            .task(&count_rows::TASK)
            .task(&publish::TASK)
            .flow(&flows::nightly::FLOW),
    )
}
