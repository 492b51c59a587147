//! Items the `#[task]` expansion calls. Not a public API: their shapes may
//! change with any release.

use serde::Serialize;
use serde::de::DeserializeOwned;
pub use serde_json::Value;

pub use crate::task::{Arg, Body, Call, IntoArg, RetryDefaults, Task, TaskError, TaskFuture, TaskInfo};

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

/// Builds the call a stub returns.
pub fn call<T>(info: &'static TaskInfo, args: Vec<Arg<()>>) -> Call<T> {
    Call::typed(info, args)
}

/// Erases an argument's type (stubs collect arguments of mixed types).
pub fn erase<T>(arg: Arg<T>) -> Arg<()> {
    arg.erase()
}
