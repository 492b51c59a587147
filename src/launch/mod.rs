//! `mycelium launch`: starts and supervises a group of processes (the
//! coordinator and replicas of elves) from a TOML manifest.
//!
//! Part of the `mycelium` command line, not of the library's API.
//!
//! # Layout
//!
//! * [`manifest`]: the manifest as written (TOML shapes, read with spans).
//! * [`check`]: from a manifest to a [`plan::Plan`], or every problem, each
//!   naming its line ([`problem`]) and the fix.
//! * [`binary`]: finding a group's program (a path, or a cargo binary name).
//! * [`supervisor`]: starting, restarting with backoff, group mode, stopping.
//! * [`child`]: one run of one process; [`exec`]: its first moments, which
//!   tie its life to the launcher's.
//! * [`logs`]: the one prefixed log stream; [`status`]: the summary table.
//! * [`cli`]: the command, its signals and exit codes.

pub mod binary;
pub mod check;
pub mod child;
pub mod cli;
pub mod exec;
pub mod logs;
pub mod manifest;
pub mod plan;
pub mod problem;
pub mod status;
pub mod supervisor;

pub use cli::{Args, run};
