//! How a task's failure reaches the elf runtime.

use std::error::Error as StdError;
use std::fmt;

use super::ErrorSite;

/// Why a task did not produce a value.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The arguments do not decode into the task's parameters.
    BadInput(String),
    /// The task returned an error.
    Failed {
        /// The error, with its source chain.
        error: Box<dyn StdError + Send + Sync>,
        /// Whether another attempt may succeed.
        retryable: bool,
        /// Where the error was turned into a failure (after the task
        /// returned), unresolved.
        backtrace: backtrace::Backtrace,
        /// Where in the task's own code the error arose, when the `#[task]`
        /// expansion saw it leave (a `?`, `return`, tail or `bail!`).
        site: Option<ErrorSite>,
    },
}

impl TaskError {
    /// Wraps a task's error; a [`Fatal`] one is not retried.
    pub fn from_error(error: Box<dyn StdError + Send + Sync>) -> Self {
        let retryable = !error.is::<Fatal>();
        TaskError::Failed { error, retryable, backtrace: backtrace::Backtrace::new_unresolved(), site: None }
    }

    /// The same failure, arisen at `site` in the task's own code.
    pub fn at(mut self, at: Option<ErrorSite>) -> Self {
        if let TaskError::Failed { site, .. } = &mut self {
            *site = at;
        }
        self
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::BadInput(m) => write!(f, "bad input: {m}"),
            TaskError::Failed { error, .. } => write!(f, "{error}"),
        }
    }
}

/// An error that retrying cannot fix: a task returns `Err(Fatal::new(e).into())`
/// (or `Fatal::msg("...")`) and the job fails at once, whatever its retry
/// policy.
#[derive(Debug)]
pub struct Fatal(Box<dyn StdError + Send + Sync>);

impl Fatal {
    /// Marks `error` as not retryable.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Fatal(error.into())
    }

    /// A non-retryable error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Fatal(message.into().into())
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for Fatal {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}
