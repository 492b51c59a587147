//! The exit codes of the `mycelium` command, and the errors that carry one.

use std::fmt;

use crate::storage::{self, ErrorKind};

/// Success.
pub const OK: u8 = 0;
/// An error: the store is unreachable, the input is bad, anything else.
pub const ERROR: u8 = 1;
/// A usage error: unknown subcommand or flag, missing argument (clap's
/// default).
pub const USAGE: u8 = 2;
/// Something named does not exist: a run, job, failure, task or version.
pub const NOT_FOUND: u8 = 3;
/// A run that was waited on (`run --follow`) ended failed or cancelled.
pub const RUN_FAILED: u8 = 4;

/// The text of `mycelium --help` that explains the exit codes.
pub const HELP: &str = "\
Exit codes:
  0  ok
  1  error (store unreachable, bad input)
  2  usage error (unknown command or flag, missing argument)
  3  not found (unknown run, job, failure, task or version)
  4  a waited-on run (run --follow) ended failed or cancelled";

/// An error with the exit code it should end the command with.
#[derive(Debug)]
pub struct Exit {
    /// The exit code.
    pub code: u8,
    /// What to tell the user.
    pub message: String,
}

impl Exit {
    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { code: NOT_FOUND, message: message.into() }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: USAGE, message: message.into() }
    }

    /// A waited-on run ended failed or cancelled.
    pub fn run_failed(message: impl Into<String>) -> Self {
        Self { code: RUN_FAILED, message: message.into() }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The exit code for `err`: the code an [`Exit`] in its chain carries, 3 for
/// a store error saying something does not exist, 1 otherwise.
pub fn code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(exit) = cause.downcast_ref::<Exit>() {
            return exit.code;
        }
        if cause.downcast_ref::<storage::Error>().is_some_and(|e| e.kind() == ErrorKind::NotFound) {
            return NOT_FOUND;
        }
    }
    ERROR
}

/// Whether `err` is only a closed pipe on stdout (`mycelium runs | head`),
/// which is no failure of the command. JSON output meets it inside a
/// `serde_json` error, tables as a plain I/O error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_recognised_however_it_is_wrapped() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::from(pipe())));
        assert!(is_broken_pipe(&anyhow::Error::from(serde_json::Error::io(pipe())).context("print runs")));
        assert!(!is_broken_pipe(&anyhow::Error::from(std::io::Error::other("disk full"))));
        let syntax = serde_json::from_str::<u32>("x").map_err(anyhow::Error::from);
        assert!(syntax.is_err_and(|e| !is_broken_pipe(&e)));
    }
}
