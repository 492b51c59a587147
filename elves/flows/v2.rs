//! The flows elf built with version 2 of `ordered` (its calls swapped).

use mycelium_elves::flows::flows_v2;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(flows_v2::ELF).flow(&flows_v2::ordered::FLOW))
}
