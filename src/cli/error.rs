//! The error of the `mycelium` command. Each variant carries its exit code
//! by construction ([`Error::code`]), so nothing downcasts to find it.
//!
//! `{e}` prints what failed; `{e:#}` prints it with its causes, joined by
//! `: ` ("read run 12: store `...` is unavailable: ..."), the way the
//! command prints its errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use super::exit;
use crate::storage::{self, ErrorKind};

/// The result of a CLI command.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed CLI command, with the exit code it ends with.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Error {
    /// Something named does not exist: a run, job, failure, task, version,
    /// token (exit 3).
    NotFound(String),
    /// A waited-on run (`run --follow`) ended failed or cancelled (exit 4).
    RunFailed(String),
    /// The store failed or refused: exit 3 when what was named does not
    /// exist ([`ErrorKind::NotFound`]), 1 otherwise.
    Store {
        /// What the command was doing, if it said.
        context: Option<String>,
        /// The store's error.
        source: storage::Error,
    },
    /// Writing the command's output failed. A closed pipe
    /// (`mycelium runs | head`) is no failure of the command (exit 0).
    Output(io::Error),
    /// Bad input, or anything else the command found wrong (exit 1).
    Message(String),
    /// Another library's error, with what the command was doing if it said
    /// (exit 1).
    Other {
        /// What the command was doing.
        context: Option<String>,
        /// The library's error.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// What the command was doing when a CLI error happened; the exit code
    /// is the inner error's.
    Context {
        /// What the command was doing.
        context: String,
        /// The error.
        source: Box<Error>,
    },
    /// A command's own exit code (`launch`: 5 and 6, see its `--help`).
    Exit {
        /// The exit code.
        code: u8,
        /// What to tell the user.
        message: String,
    },
}

impl Error {
    /// Something named does not exist (exit 3).
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }

    /// A waited-on run ended failed or cancelled (exit 4).
    pub(crate) fn run_failed(message: impl Into<String>) -> Self {
        Error::RunFailed(message.into())
    }

    /// Bad input or anything else wrong (exit 1).
    pub(crate) fn msg(message: impl Into<String>) -> Self {
        Error::Message(message.into())
    }

    /// Another library's error as it is (exit 1): it reads as its own
    /// message.
    pub(crate) fn other(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Error::Other { context: None, source: source.into() }
    }

    /// This error, within what the command was doing; the exit code stays.
    pub(crate) fn context(self, context: impl Into<String>) -> Self {
        Error::Context { context: context.into(), source: Box::new(self) }
    }

    /// The exit code the command ends with (see [`exit`]).
    pub(crate) fn code(&self) -> u8 {
        match self {
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::RunFailed(_) => exit::RUN_FAILED,
            Error::Store { source, .. } if source.kind() == ErrorKind::NotFound => exit::NOT_FOUND,
            Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => exit::OK,
            Error::Store { .. } | Error::Output(_) | Error::Message(_) | Error::Other { .. } => exit::ERROR,
            Error::Context { source, .. } => source.code(),
            Error::Exit { code, .. } => *code,
        }
    }

    /// The store's error, if this is one (however wrapped in context).
    pub(crate) fn store_error(&self) -> Option<&storage::Error> {
        match self {
            Error::Store { source, .. } => Some(source),
            Error::Context { source, .. } => source.store_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(m) | Error::RunFailed(m) | Error::Message(m) => f.write_str(m)?,
            Error::Exit { message, .. } => f.write_str(message)?,
            Error::Store { context: Some(c), .. }
            | Error::Other { context: Some(c), .. }
            | Error::Context { context: c, .. } => {
                f.write_str(c)?;
            }
            // Without context an error reads as its own message.
            Error::Store { context: None, source } => write!(f, "{source}")?,
            Error::Other { context: None, source } => write!(f, "{source}")?,
            Error::Output(_) => f.write_str("write the output")?,
        }
        if f.alternate() {
            let mut cause = self.source();
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Store { context: Some(_), source } => Some(source),
            Error::Store { context: None, source } => source.source(),
            Error::Output(e) => Some(e),
            Error::Other { context: Some(_), source } => Some(source.as_ref()),
            Error::Other { context: None, source } => source.source(),
            Error::Context { source, .. } => Some(source.as_ref()),
            Error::NotFound(_) | Error::RunFailed(_) | Error::Message(_) | Error::Exit { .. } => None,
        }
    }
}

impl From<storage::Error> for Error {
    fn from(source: storage::Error) -> Self {
        Error::Store { context: None, source }
    }
}

/// A bare I/O error is one on the command's output: every other I/O a
/// command does names itself with [`Context::context`].
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Output(e)
    }
}

/// An error a [`Context`] call can wrap.
pub(crate) trait Cause {
    /// This error, within what the command was doing.
    fn within(self, context: String) -> Error;
}

impl Cause for Error {
    fn within(self, context: String) -> Error {
        self.context(context)
    }
}

impl Cause for storage::Error {
    fn within(self, context: String) -> Error {
        Error::Store { context: Some(context), source: self }
    }
}

/// A message some parser gave as its error.
impl Cause for String {
    fn within(self, context: String) -> Error {
        Error::Message(self).context(context)
    }
}

/// Other libraries' errors, wrapped as [`Error::Other`].
macro_rules! foreign {
    ($($t:ty),* $(,)?) => {$(
        impl Cause for $t {
            fn within(self, context: String) -> Error {
                Error::Other { context: Some(context), source: Box::new(self) }
            }
        }
    )*};
}

foreign!(io::Error, serde_json::Error, std::num::TryFromIntError, std::num::ParseIntError);

/// Adds what the command was doing to an error (or to a missing value),
/// keeping the error as the cause: `store.runs(..).context("read the runs")?`.
pub(crate) trait Context<T> {
    /// Wraps the error in `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;

    /// Wraps the error in the context `f` makes (only on error).
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Cause> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.within(context.into()))
    }

    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.within(f().into()))
    }
}

/// A missing value is an error that says only what was missing.
impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| Error::Message(context.into()))
    }

    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::Message(f().into()))
    }
}

/// Returns early with an [`Error::Message`] (exit 1) formatted like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::cli::Error::Message(format!($($arg)*)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> io::Error {
        io::Error::from(io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn a_closed_pipe_on_the_output_ends_the_command_cleanly() {
        assert_eq!(Error::from(pipe()).code(), exit::OK);
        assert_eq!(Error::from(pipe()).context("print runs").code(), exit::OK);
        assert_eq!(Error::from(io::Error::other("disk full")).code(), exit::ERROR);
        // A closed pipe met elsewhere (named with context) is a failure.
        let elsewhere: Result<()> = Err(pipe()).context("read the child's output");
        assert!(elsewhere.is_err_and(|e| e.code() == exit::ERROR));
    }

    #[test]
    fn store_errors_are_classified_by_their_kind() {
        let missing: Result<()> = Err(storage::Error::UnknownRun(crate::model::RunId(7))).context("read run 7");
        let missing = missing.err().map(|e| (e.code(), format!("{e:#}")));
        assert_eq!(
            missing,
            Some((exit::NOT_FOUND, "read run 7: run 7 does not exist (list runs with `mycelium runs`)".to_owned()))
        );
        let down = Error::from(storage::Error::Unavailable { store: "s".into(), detail: "busy".into() });
        assert_eq!((down.code(), format!("{down:#}")), (exit::ERROR, "store `s` is unavailable: busy".to_owned()));
    }

    #[test]
    fn context_keeps_the_exit_code_and_the_causes() {
        let e = Error::not_found("no run has key `x`").context("find the flow").context("show it");
        assert_eq!(e.code(), exit::NOT_FOUND);
        assert_eq!(format!("{e}"), "show it");
        assert_eq!(format!("{e:#}"), "show it: find the flow: no run has key `x`");
        let parse: Result<u8> = "x".parse::<u8>().context("--limit");
        assert!(parse.is_err_and(|e| e.code() == exit::ERROR && format!("{e:#}").starts_with("--limit: ")));
        assert_eq!(
            None::<u8>.context("no version recorded").err().map(|e| e.to_string()).as_deref(),
            Some("no version recorded")
        );
    }
}
