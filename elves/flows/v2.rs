//! The flows elf built with version 2 of `ordered` (its calls swapped).

#![allow(unreachable_pub, dead_code, reason = "task modules are shared with drivers")]

mod flows;
mod flows_v2;
mod tasks;

fn main() -> std::process::ExitCode {
    mycelium::elf::main(mycelium::elf::Elf::new(flows_v2::ELF).flow(&flows_v2::ordered::FLOW))
}
