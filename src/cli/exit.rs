//! The exit codes of the `mycelium` command; [`super::Error::code`] gives
//! each error its own.

/// Success.
pub(crate) const OK: u8 = 0;
/// An error: the store is unreachable, the input is bad, anything else.
pub(crate) const ERROR: u8 = 1;
/// A usage error: unknown subcommand or flag, missing argument (clap's
/// default).
pub(crate) const USAGE: u8 = 2;
/// Something named does not exist: a run, job, failure, task or version.
pub(crate) const NOT_FOUND: u8 = 3;
/// A run that was waited on (`run --follow`) ended failed or cancelled.
pub(crate) const RUN_FAILED: u8 = 4;

/// The text of `mycelium --help` that explains the exit codes.
pub(crate) const HELP: &str = "\
Exit codes:
  0  ok
  1  error (store unreachable, bad input)
  2  usage error (unknown command or flag, missing argument)
  3  not found (unknown run, job, failure, task or version)
  4  a waited-on run (run --follow) ended failed or cancelled";
