//! mycelium: durable orchestration of machine elves.
//!
//! An application is split into small worker programs, **elves**, that never
//! talk to each other, only to one shared database, the **mycelium**. A
//! driver composes an orchestration by calling tasks; each call records a job
//! and passing one call's output into another records a dependency edge.
//!
//! # An elf and a driver
//!
//! Tasks are functions marked `#[mycelium::task]`, in a module that both the
//! elf binary and the drivers compile. Each task needs to know its elf: the
//! module's `pub const ELF: &str`, or `#[task(elf = "name")]`.
//!
//! ```no_run
//! // tasks.rs: compiled into the elf and into every driver that calls it.
//! mod tasks {
//!     /// The elf that serves this module's tasks.
//!     pub const ELF: &str = "greeter";
//!
//!     /// Greets `name`.
//!     #[mycelium::task]
//!     pub fn greet(name: String) -> String {
//!         format!("hello, {name}")
//!     }
//!
//!     /// Counts the characters of `text`. An `Err` is a failure, recorded
//!     /// with the line it arose at; `Fatal` stops the retries.
//!     #[mycelium::task(retries = 3, backoff_ms = 100)]
//!     pub fn count(text: String) -> Result<usize, mycelium::Fatal> {
//!         if text.is_empty() {
//!             return Err(mycelium::Fatal::msg("nothing to count"));
//!         }
//!         Ok(text.chars().count())
//!     }
//! }
//!
//! // The elf binary's whole `main` (run it as `elf-greeter --store sqlite://app.db`;
//! // `elf-greeter --help` lists its settings).
//! fn elf_main() -> std::process::ExitCode {
//!     use mycelium::elf::{Elf, main};
//!     main(Elf::new(tasks::ELF).task(&tasks::greet::TASK).task(&tasks::count::TASK))
//! }
//!
//! // A driver: two calls, the second fed by the first, submitted in one
//! // transaction; then it waits for the value.
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     let myc = mycelium::connect("sqlite://app.db")?;
//!     let mut o = myc.orchestration("greeting");
//!     let greeting = o.call(tasks::greet::call("ada".to_owned()));
//!     let length = o.call(tasks::count::call(&greeting));
//!     let run = o.submit().await?;
//!     println!("run {}: {} characters", run.id(), run.wait(&length).await?);
//!     Ok(())
//! }
//! ```
//!
//! Start the elf and `mycelium coordinator` (both take `--store`), run the
//! driver, and inspect what happened with `mycelium runs`, `mycelium run
//! <id>` and, when something failed, `mycelium failure <id>`.
//!
//! # Layout
//!
//! * [`task`](mod@task): tasks as compiled into elves and called by drivers (the
//!   `#[task]` attribute is [`macro@task`]).
//! * [`flow`](mod@flow): durable flows (`#[mycelium::flow]`), their context and
//!   commands.
//! * [`agent`]: signals with receivers, queues and exchanges, RPC,
//!   schedules, and the context a task may take.
//! * [`driver`]: orchestrations, submitted runs, waiting for values.
//! * [`elf`]: the elf runtime an elf binary's `main` calls (with its hooks).
//! * [`coordinator`]: leadership, lease reaping, lost elves, schedules'
//!   ticks, retention, the run-graph audit.
//! * [`model`]: the documents of the mycelium (jobs, runs, tasks, failures,
//!   events, flows' steps).
//! * [`storage`]: the [`Store`] handle, with the job lifecycle written once
//!   above a narrow seam; the backends, chosen by URL scheme (`sqlite://`,
//!   `memory:`, `arangodb://`); the conformance suite (feature
//!   `test-util`).
//! * [`testing`]: elves' handlers run in-process on the in-memory store and a
//!   manual clock.
//! * [`schema`]: the JSON Schemas of the documents, for elves and drivers in
//!   other languages.
//! * [`serve`](mod@serve): the HTTP API, event stream, webhooks, metrics and
//!   dashboard of `mycelium serve`, to embed in a program of your own.
//!
//! The `mycelium` command line (inspection, operations, the coordinator's
//! process, the launcher, the benchmarks) is the binary's, not part of this
//! API: it is compiled here, private, because it works on the store's
//! internals, and the binary's `main` only calls it.

pub mod agent;
mod bench;
mod child;
mod cli;
pub mod coordinator;
pub(crate) mod doorbell;
pub mod driver;
pub mod elf;
pub mod flow;
mod host;
mod launch;
mod lifecycle;
pub mod model;
#[cfg(feature = "otel")]
mod otel;
pub(crate) mod refs;
pub mod schema;
pub mod serve;
pub mod storage;
pub mod task;
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

// The `#[task]` expansion names `::mycelium`; this lets the crate's own
// tests declare tasks too.
extern crate self as mycelium;

pub use driver::{Mycelium, connect};
pub use flow::{Flow, FlowError, TaskFailed};
pub use mycelium_macros::{flow, task};
pub use storage::Store;
pub use task::{Arg, Call, Fatal, IntoArg, Output};
