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

pub(crate) mod binary;
pub(crate) mod check;
pub(crate) mod child;
pub(crate) mod cli;
pub(crate) mod exec;
pub(crate) mod logs;
pub(crate) mod manifest;
pub(crate) mod plan;
pub(crate) mod problem;
pub(crate) mod status;
pub(crate) mod supervisor;

pub(crate) use cli::{Args, run};
