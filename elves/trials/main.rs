//! The trials elf.

fn main() -> std::process::ExitCode {
    use mycelium_elves::trials::tasks::*;
    mycelium::elf::main(
        mycelium::elf::Elf::new(ELF)
            .task(&pick::TASK)
            .task(&parse_setting::TASK)
            .task(&flaky::TASK)
            .task(&refuse::TASK)
            .task(&read_number::TASK)
            .task(&sum_file::TASK)
            .task(&check_age::TASK)
            .task(&halve_later::TASK)
            .task(&nap::TASK)
            .task(&greet::TASK)
            .task(&crash::TASK),
    )
}
