//! The driver API: compose an orchestration with typed calls, submit it in
//! one transaction, wait for outputs or follow the run.
//!
//! ```ignore
//! let myc = mycelium::connect("sqlite://mycelium.db")?;
//! let mut run = myc.orchestration("nightly");
//! let raw = run.call(fetcher::download::call(url));
//! let rows = run.call(parser::parse::call(raw));
//! let total = run.call(stats::sum::call(rows.clone()));
//! let run = run.submit().await?;            // one transaction
//! let v: u64 = run.wait(&total).await?;     // or run.follow(..)
//! ```
//!
//! A run too large to build in memory is streamed instead: opened, given
//! its jobs in chunks (one transaction each, elves working meanwhile), then
//! sealed ([`OpenRun`]).

mod error;
mod open_run;
mod orchestration;
mod run;
mod signal;

pub use error::Error;
pub use open_run::OpenRun;
pub use orchestration::{Mycelium, Orchestration, connect};
pub use run::{Progress, RunHandle};
