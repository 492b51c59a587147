//! Running one claimed job: resolve its inputs, run the task (catching
//! panics, enforcing the time limit), and describe any failure.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;

use super::frames::frames_of;
use super::panic;
use crate::model::{Claimed, FailureKind, FailureReport, JobId, TaskSha};
use crate::refs;
use crate::task::{Body, Task, TaskError};

/// How much of the resolved inputs a failure record keeps.
pub(super) const INPUT_CAP: usize = 64 * 1024;

/// What running a job came to.
#[derive(Debug)]
pub(super) enum Done {
    /// The task's value.
    Value(Value),
    /// Why it failed.
    Failed(Box<FailureReport>),
}

/// Runs `task` for `claimed`.
pub(super) async fn run(task: &'static Task, claimed: &Claimed, sha: &TaskSha) -> Done {
    let inputs: HashMap<JobId, Value> = claimed.inputs.iter().cloned().collect();
    let args = match refs::resolve(&claimed.args, &inputs) {
        Ok(a) => a,
        Err(e) => return failed(FailureKind::BadInput, e.to_string(), false, &claimed.args, sha),
    };
    let limit = claimed.timeout_ms.map(Duration::from_millis);
    let outcome = match task.body {
        Body::Sync(f) => {
            let input = args.clone();
            let handle = tokio::task::spawn_blocking(move || {
                std::panic::catch_unwind(AssertUnwindSafe(|| f(input))).map_err(|p| caught(&*p))
            });
            match limit {
                // A blocking thread cannot be interrupted: on timeout it is
                // abandoned, and its late result is never written (the job's
                // epoch has moved on by then).
                Some(t) => match tokio::time::timeout(t, handle).await {
                    Ok(joined) => joined,
                    Err(_) => return timed_out(t, &args, sha),
                },
                None => handle.await,
            }
        }
        Body::Async(f) => {
            let fut = CatchUnwind(f(args.clone()));
            let handle = tokio::spawn(fut);
            let abort = handle.abort_handle();
            match limit {
                Some(t) => match tokio::time::timeout(t, handle).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        abort.abort();
                        return timed_out(t, &args, sha);
                    }
                },
                None => handle.await,
            }
        }
    };
    match outcome {
        Ok(Ok(Ok(value))) => Done::Value(value),
        Ok(Ok(Err(TaskError::BadInput(m)))) => failed(FailureKind::BadInput, m, false, &args, sha),
        Ok(Ok(Err(TaskError::Failed { error, retryable, mut backtrace }))) => {
            let Done::Failed(mut report) = failed(FailureKind::Error, error.to_string(), retryable, &args, sha) else {
                unreachable!("failed() always fails")
            };
            let mut source = error.source();
            while let Some(cause) = source {
                report.causes.push(cause.to_string());
                source = cause.source();
            }
            report.frames = frames_of(&mut backtrace);
            Done::Failed(report)
        }
        Ok(Err(Caught { message, backtrace })) => {
            let Done::Failed(mut report) = failed(FailureKind::Panic, message, true, &args, sha) else {
                unreachable!("failed() always fails")
            };
            if let Some(mut bt) = backtrace {
                report.frames = frames_of(&mut bt);
            }
            Done::Failed(report)
        }
        Err(join) => {
            failed(FailureKind::Panic, format!("the task's thread ended abnormally: {join}"), true, &args, sha)
        }
    }
}

/// A panic caught while running a task.
#[derive(Debug)]
pub(super) struct Caught {
    message: String,
    backtrace: Option<backtrace::Backtrace>,
}

fn caught(payload: &(dyn std::any::Any + Send)) -> Caught {
    match panic::take_last() {
        Some((message, bt)) => Caught { message, backtrace: Some(bt) },
        None => Caught { message: panic::message_of(payload), backtrace: None },
    }
}

/// Polls a future, turning a panic during a poll into an error (taken on the
/// thread that panicked, where the hook left its backtrace).
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Caught>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(caught(&*p))),
        }
    }
}

fn timed_out(limit: Duration, args: &Value, sha: &TaskSha) -> Done {
    failed(
        FailureKind::Timeout,
        format!("the attempt ran past its time limit of {} ms", limit.as_millis()),
        true,
        args,
        sha,
    )
}

/// A failure report carrying the inputs (capped) and the version that ran.
pub(super) fn failed(kind: FailureKind, message: String, retryable: bool, args: &Value, sha: &TaskSha) -> Done {
    let mut report = FailureReport::new(kind, message);
    report.retryable = retryable;
    report.ran_sha = Some(sha.clone());
    let text = serde_json::to_string(args).unwrap_or_default();
    report.inputs_size = text.len() as u64;
    if text.len() > INPUT_CAP {
        let mut cut = INPUT_CAP;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        report.inputs = Value::String(text[..cut].to_owned());
        report.inputs_truncated = true;
    } else {
        report.inputs = args.clone();
    }
    Done::Failed(Box::new(report))
}
