//! What the `#[task]` attribute records about a task, and what an elf runs.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::TaskError;
use crate::model::{Backoff, Param, RetryPolicy, Signature, TaskSha, TaskVersion};

/// Everything known about a task at compile time.
#[derive(Debug)]
pub struct TaskInfo {
    /// The elf that serves it.
    pub elf: &'static str,
    /// The function's name.
    pub name: &'static str,
    /// The function's path (`crate::module::name`).
    pub path: &'static str,
    /// The exact source text of the function, doc comment and attributes
    /// included (from the first attribute after `#[task]` to the closing brace).
    pub source: &'static str,
    /// The source file (as `file!()` gives it).
    pub file: &'static str,
    /// The line on which `source` starts.
    pub line: u32,
    /// The doc comment.
    pub doc: &'static str,
    /// Parameter names and types, as written.
    pub params: &'static [(&'static str, &'static str)],
    /// The value's type (`T` of `T` or `Result<T, E>`), as written.
    pub output: &'static str,
    /// Whether it is an `async fn`.
    pub is_async: bool,
    /// Whether it returns a `Result`.
    pub fallible: bool,
    /// Default retry policy (from the attribute).
    pub retry: RetryDefaults,
    /// Default per-attempt time limit in milliseconds (from the attribute).
    pub timeout_ms: Option<u64>,
}

/// The retry policy an attribute declares; `const`-constructible.
#[derive(Clone, Copy, Debug)]
pub struct RetryDefaults {
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay in milliseconds.
    pub delay_ms: u64,
    /// Multiply the delay by this at every retry (1 = fixed).
    pub factor: f32,
    /// Longest delay.
    pub max_delay_ms: u64,
    /// Spread delays at random over [delay/2, delay].
    pub jitter: bool,
}

impl RetryDefaults {
    /// No retries.
    pub const NONE: RetryDefaults =
        RetryDefaults { max_attempts: 1, delay_ms: 0, factor: 1.0, max_delay_ms: 60_000, jitter: false };

    /// The stored form.
    pub fn policy(&self) -> RetryPolicy {
        let backoff = if self.factor == 1.0 {
            Backoff::Fixed { delay_ms: self.delay_ms }
        } else {
            Backoff::Exponential { initial_ms: self.delay_ms, factor: self.factor }
        };
        RetryPolicy {
            max_lost: RetryPolicy::DEFAULT_MAX_LOST,
            max_attempts: self.max_attempts.max(1),
            backoff,
            max_delay_ms: self.max_delay_ms,
            jitter: self.jitter,
        }
    }
}

impl TaskInfo {
    /// The task version: sha256 of the source.
    pub fn sha(&self) -> TaskSha {
        TaskSha::of_source(self.source)
    }

    /// The document the store records.
    pub fn version(&self) -> TaskVersion {
        TaskVersion {
            sha: self.sha(),
            elf: self.elf.to_owned(),
            name: self.name.to_owned(),
            source: self.source.to_owned(),
            file: self.file.to_owned(),
            line: self.line,
            signature: Signature {
                params: self.params.iter().map(|(n, t)| Param { name: (*n).to_owned(), ty: (*t).to_owned() }).collect(),
                output: self.output.to_owned(),
                is_async: self.is_async,
                fallible: self.fallible,
                flow: false,
            },
            doc: self.doc.to_owned(),
            first_seen: 0,
        }
    }
}

/// A boxed task future.
pub type TaskFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// How an elf runs a task: arguments in (a JSON array in parameter order),
/// value out.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// A blocking function, run on a blocking thread.
    Sync(fn(Value) -> Result<Value, TaskError>),
    /// An async function, run on the elf's runtime.
    Async(fn(Value) -> TaskFuture),
}

/// A task an elf serves: its description and its body.
#[derive(Debug)]
pub struct Task {
    /// What it is.
    pub info: &'static TaskInfo,
    /// How to run it.
    pub body: Body,
    /// What it is to the agents: a receiver, a consumer, a scheduled task.
    pub role: crate::agent::Role,
}
