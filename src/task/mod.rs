//! Tasks as compiled into elves and called by drivers.
//!
//! The `#[task]` attribute keeps a function as written and generates, beside
//! it, a module of the same name holding the task's [`TaskInfo`] (exact
//! source, file, line, doc, signature), its [`Task`] registration for the
//! elf, and `call(..)`, the typed stub a driver calls.

mod arg;
mod error;
mod info;
pub(crate) mod site;

pub(crate) use arg::parse_local_key;
pub use arg::{AnyOutput, Arg, Call, CallOptions, IntoArg, Output, Source};
pub use error::{Fatal, TaskError};
pub use info::{Body, RetryDefaults, Task, TaskFuture, TaskInfo};
pub use site::{ErrorSite, Traced};
