//! Test elves without processes: an in-memory mycelium on a clock the test
//! moves, where the tasks of your elves run in your test's own process.
//!
//! [`Harness`] holds a fresh in-memory store (every rule of the lifecycle
//! holds there as on SQLite: the same code runs), a [`ManualClock`], and the
//! elves under test. [`Harness::run_until_idle`] claims every job that is
//! ready *now* on the harness's clock, runs it in this process (sync tasks
//! on blocking threads, async ones on a runtime, panics caught, just as an
//! elf does), stores results and failures, and repeats until nothing is left
//! to do at this instant. [`Harness::advance`] moves the clock to fire retry
//! backoffs, lease expiries, flows' timers, signal waits' timeouts,
//! schedules' ticks and tasks' time limits without waiting: a task's
//! `timeout_ms` is measured on the harness's clock, and an attempt the clock
//! passes fails as an elf's does (`FailureKind::Timeout`).
//!
//! Every kind of handler runs: tasks, flows (`Elf::flow`: each turn
//! replays the flow from its history, as an elf that did not keep it in
//! memory would, so a test also proves the flow replays), receivers of
//! signals, queue consumers, and scheduled tasks (the harness leads the
//! coordinator role and turns due ticks into jobs). [`Harness::emitted`]
//! and [`Harness::messages`] show what was emitted and queued;
//! [`Harness::inject`] makes the next call of a task panic, fail, lose its
//! elf, or hang until its time limit passes on the clock, and [`Harness::store`] gives every read and operation of the
//! store (send a signal to a flow, requeue, cancel, retry).
//!
//! Where a process is the point (a crash, a signal, a restart),
//! [`Child`] runs one: in its own process group, its output read line by
//! line, ready when it prints a line (never after a sleep), stopped with
//! SIGTERM or killed with SIGKILL, killed when dropped; the project's own
//! tests with real elves and coordinators use it.
//!
//! ```
//! use mycelium::testing::Harness;
//! use mycelium::elf::Elf;
//!
//! mod shop {
//!     pub const ELF: &str = "shop";
//!
//!     /// The price with tax.
//!     #[mycelium::task]
//!     pub fn with_tax(cents: u64) -> u64 {
//!         cents * 120 / 100
//!     }
//! }
//!
//! let mut h = Harness::new().elf(Elf::new(shop::ELF).task(&shop::with_tax::TASK));
//! let mut o = h.orchestration("checkout");
//! let total = o.call(shop::with_tax::call(1_000));
//! let run = h.submit(o).unwrap();
//! h.run_until_idle().unwrap();
//! assert_eq!(h.value(&run, &total).unwrap(), 1_200);
//! ```

mod harness;

pub use harness::{Harness, Injection, Ran};

pub use crate::child::Child;
pub use crate::lifecycle::ManualClock;

#[cfg(test)]
mod tests;
