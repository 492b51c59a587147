//! The example elves' task modules (the library of the package
//! `mycelium-elves`), for typed calls from the tests, under the names the
//! tests use.

pub(crate) use mycelium_elves::agents::tasks as agents;
pub(crate) use mycelium_elves::bench::tasks as bench;
pub(crate) use mycelium_elves::printer::tasks as printer;
pub(crate) use mycelium_elves::sender::tasks as sender;
pub(crate) use mycelium_elves::trials::tasks as trials;
pub(crate) use mycelium_elves::trials::tasks_v2 as trials_v2;
// The flow tests' flows (elf `flows`).
pub(crate) use mycelium_elves::flows::flows;
