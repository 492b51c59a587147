//! Items the `#[task]` expansion calls. Not a public API: their shapes may
//! change with any release.

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use serde_json::Value;

pub use crate::agent::context::current as context;
pub use crate::agent::{QueueRef, Role, ScheduleRef, Signal, SignalRef, schema_of};
pub use crate::flow::{Definition as FlowDefinition, Flow, FlowFuture};
pub use crate::task::site::{record, traced};
pub use crate::task::{
    Arg, Body, Call, ErrorSite, IntoArg, RetryDefaults, Task, TaskError, TaskFuture, TaskInfo, Traced,
};

/// Decodes a JSON array of arguments into the parameter tuple `A`.
pub fn decode_args<A: DeserializeOwned>(info: &TaskInfo, args: Value) -> Result<A, TaskError> {
    let got = match &args {
        Value::Array(a) => a.len(),
        _ => usize::MAX,
    };
    if got != info.params.len() {
        return Err(TaskError::BadInput(format!(
            "{}/{} takes {} argument(s) ({}) but the job holds {}",
            info.elf,
            info.name,
            info.params.len(),
            info.params.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", "),
            if got == usize::MAX { format!("`{args}`, not a list") } else { got.to_string() }
        )));
    }
    serde_json::from_value(args).map_err(|e| TaskError::BadInput(format!("{}/{}: {e}", info.elf, info.name)))
}

/// Encodes a task's value.
pub fn encode_output<T: Serialize>(value: T) -> Result<Value, TaskError> {
    serde_json::to_value(value)
        .map_err(|e| TaskError::from_error(format!("the task's value cannot be encoded as JSON: {e}").into()))
}

/// Turns a task's error into a failure (keeping its source chain).
pub fn task_error<E: Into<Box<dyn std::error::Error + Send + Sync>>>(error: E) -> TaskError {
    TaskError::from_error(error.into())
}

/// Forgets any error site left on this thread, before a fallible task runs.
pub fn clear_error_site() {
    crate::task::site::clear();
}

/// Turns the error a task returned into a failure, with the site in the
/// task's own code where it arose (recorded on this thread by the rewritten
/// body).
pub fn task_failed<E: Into<Box<dyn std::error::Error + Send + Sync>>>(error: E, info: &TaskInfo) -> TaskError {
    let site = crate::task::site::take(info);
    TaskError::from_error(error.into()).at(site)
}

/// The stand-in for a missing `ELF` const (see the `#[task]` expansion).
pub mod no_elf {
    /// What a task's module sees as `ELF` when it declares none.
    pub const ELF: &str = "\0(no ELF const in scope)";

    /// Whether `name` is the stand-in.
    pub const fn is_missing(name: &str) -> bool {
        let (a, b) = (name.as_bytes(), ELF.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Builds the call a stub returns.
pub fn call<T>(info: &'static TaskInfo, args: Vec<Arg<()>>) -> Call<T> {
    Call::typed(info, args)
}

/// Erases an argument's type (stubs collect arguments of mixed types).
pub fn erase<T>(arg: Arg<T>) -> Arg<()> {
    arg.erase()
}

/// Test hooks: not an API.
pub mod testing_hooks {
    use std::path::Path;

    use crate::storage::{OpenMode, Result};

    /// Creates (or opens) an SQLite store migrated only up to `version`, as an
    /// older build would have left it; returns its schema version.
    pub fn sqlite_at_version(path: &Path, version: u32) -> Result<u32> {
        let store = crate::storage::sqlite::SqliteBackend::open_at_version(
            path,
            Default::default(),
            OpenMode::Create,
            version,
        )?;
        store.schema_version()
    }

    /// The schema version of the SQLite store at `path` (opened, migrated).
    pub fn sqlite_schema_version(path: &Path) -> Result<u32> {
        crate::storage::sqlite::SqliteBackend::open(path, Default::default(), OpenMode::Existing)?.schema_version()
    }
}

/// The `mycelium` command (the whole `main` of its binary). The command line
/// is the binary's, not the library's API: it lives here, private, because it
/// works on the store's internals that the public API does not expose.
pub fn command_main() -> std::process::ExitCode {
    crate::cli::command::main()
}
