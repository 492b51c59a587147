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

mod error;
mod orchestration;
mod run;

pub use error::Error;
pub use orchestration::{Mycelium, Orchestration, connect};
pub use run::{Progress, Run};
