//! The nightly ETL elf: its tasks and its flow.

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

mod flows;
mod tasks;

fn main() -> std::process::ExitCode {
    use tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&list_files::TASK)
            .task(&count_rows::TASK)
            .task(&publish::TASK)
            .flow(&flows::nightly::FLOW),
    )
}
