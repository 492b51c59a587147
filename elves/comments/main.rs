//! The comments elf.

fn main() -> std::process::ExitCode {
    use mycelium_elves::comments::tasks::*;
    mycelium::elf::main(mycelium::elf::Elf::new(ELF).task(&record_comment::TASK).task(&comments_count::TASK))
}
