//! Running one claimed job: resolve its inputs, run the task (catching
//! panics, enforcing the time limit), and describe any failure.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;

use super::frames::{self, frames_of};
use super::panic;
use crate::agent::context;
use crate::model::{Claimed, FailureKind, FailureReport, JobId, TaskSha};
use crate::refs;
use crate::task::{Body, Task, TaskError, TaskInfo};

/// How much of the resolved inputs a failure record keeps.
pub(super) const INPUT_CAP: usize = 64 * 1024;

/// What running a job came to.
#[derive(Debug)]
pub(crate) enum Done {
    /// The task's value.
    Value(Value),
    /// Why it failed.
    Failed(Box<FailureReport>),
    /// A flow's run: what to commit, and the flow kept in memory if it
    /// suspended.
    Flow(Box<crate::flow::Ran>),
}

/// Runs `task` for `claimed`, with `cx` as the context a task may take; its
/// time limit is measured on this machine's time.
pub(crate) async fn run(task: &'static Task, claimed: &Claimed, sha: &TaskSha, cx: crate::agent::Context) -> Done {
    run_within(task, claimed, sha, cx, tokio::time::sleep).await
}

/// [`run`], with the time limit measured by `limit`: the future it gives for
/// the limit resolves when that much time has passed (`tokio::time::sleep`
/// for an elf, the manual clock's [`reached`](crate::lifecycle::ManualClock::reached)
/// for `mycelium::testing`).
pub(crate) async fn run_within<L: Future<Output = ()>>(
    task: &'static Task,
    claimed: &Claimed,
    sha: &TaskSha,
    cx: crate::agent::Context,
    limit: impl FnOnce(Duration) -> L,
) -> Done {
    let inputs: HashMap<JobId, Value> = claimed.inputs.iter().cloned().collect();
    let args = match refs::resolve(&claimed.args, &inputs) {
        Ok(a) => a,
        Err(e) => return failed(FailureKind::BadInput, e.to_string(), false, &claimed.args, sha),
    };
    let time_limit = claimed.timeout_ms.map(Duration::from_millis);
    let outcome = match task.body {
        Body::Sync(f) => {
            let input = args.clone();
            let handle = tokio::task::spawn_blocking(move || {
                panic::catch(|| context::with_sync(cx, || f(input))).map_err(|p| caught(&*p))
            });
            match time_limit {
                // A blocking thread cannot be interrupted: on timeout it is
                // abandoned, and its late result is never written (the job's
                // epoch has moved on by then).
                Some(t) => tokio::select! {
                    biased;
                    joined = handle => joined,
                    () = limit(t) => return timed_out(t, &args, sha),
                },
                None => handle.await,
            }
        }
        Body::Async(f) => {
            let fut = CatchUnwind(Box::pin(context::scope(cx, f(args.clone()))));
            let handle = tokio::spawn(fut);
            let abort = handle.abort_handle();
            match time_limit {
                Some(t) => tokio::select! {
                    biased;
                    joined = handle => joined,
                    () = limit(t) => {
                        abort.abort();
                        return timed_out(t, &args, sha);
                    }
                },
                None => handle.await,
            }
        }
    };
    match outcome {
        Ok(ran) => done_of(task.info, ran, &args, sha),
        Err(join) => {
            failed(FailureKind::Panic, format!("the task's thread ended abnormally: {join}"), true, &args, sha)
        }
    }
}

/// Runs a sync task without a time limit on this thread (no hand-off to a
/// blocking thread): what `mycelium::testing` does. `None` for the others,
/// which need [`run`].
pub(crate) fn run_here(
    task: &'static Task,
    claimed: &Claimed,
    sha: &TaskSha,
    cx: impl FnOnce() -> crate::agent::Context,
) -> Option<Done> {
    let Body::Sync(f) = task.body else { return None };
    if claimed.timeout_ms.is_some() {
        return None;
    }
    Some(run_sync(task.info, f, claimed, sha, cx))
}

/// Runs the sync body `f` of the task `info` on this thread, without a time
/// limit: [`run_here`] once it knows the task is one.
pub(crate) fn run_sync(
    info: &TaskInfo,
    f: fn(Value) -> Result<Value, TaskError>,
    claimed: &Claimed,
    sha: &TaskSha,
    cx: impl FnOnce() -> crate::agent::Context,
) -> Done {
    let inputs: HashMap<JobId, Value> = claimed.inputs.iter().cloned().collect();
    let args = match refs::resolve(&claimed.args, &inputs) {
        Ok(a) => a,
        Err(e) => return failed(FailureKind::BadInput, e.to_string(), false, &claimed.args, sha),
    };
    let input = args.clone();
    let cx = cx();
    let ran = panic::catch(|| context::with_sync(cx, || f(input))).map_err(|p| caught(&*p));
    done_of(info, ran, &args, sha)
}

/// What a body's result (or caught panic) comes to: its value, or a failure
/// report with the cause chain, traceback (the frames of `info`'s crate
/// named in full) and inputs.
pub(crate) fn done_of(
    info: &TaskInfo,
    ran: Result<Result<Value, TaskError>, Caught>,
    args: &Value,
    sha: &TaskSha,
) -> Done {
    match ran {
        Ok(Ok(value)) => Done::Value(value),
        Ok(Err(TaskError::BadInput(m))) => failed(FailureKind::BadInput, m, false, args, sha),
        Ok(Err(TaskError::Failed { error, retryable, mut backtrace, site })) => {
            let Done::Failed(mut report) = failed(FailureKind::Error, error.to_string(), retryable, args, sha) else {
                unreachable!("failed() always fails")
            };
            let mut source = error.source();
            while let Some(cause) = source {
                report.causes.push(cause.to_string());
                source = cause.source();
            }
            report.frames = frames_of(&mut backtrace);
            frames::name_task_frames(&mut report.frames, info);
            if let Some(site) = site {
                frames::add_site(&mut report.frames, &site);
            }
            Done::Failed(report)
        }
        Err(Caught { message, backtrace }) => {
            let Done::Failed(mut report) = failed(FailureKind::Panic, message, true, args, sha) else {
                unreachable!("failed() always fails")
            };
            if let Some(mut bt) = backtrace {
                report.frames = frames_of(&mut bt);
                frames::name_task_frames(&mut report.frames, info);
            }
            Done::Failed(report)
        }
    }
}

/// A panic caught while running a task.
#[derive(Debug)]
pub(crate) struct Caught {
    message: String,
    backtrace: Option<backtrace::Backtrace>,
}

pub(crate) fn caught(payload: &(dyn std::any::Any + Send)) -> Caught {
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
        match panic::catch(|| Pin::new(inner).poll(cx)) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(caught(&*p))),
        }
    }
}

/// The failure of an attempt that ran past its time limit, as every runner
/// of tasks records it.
pub(crate) fn timed_out(limit: Duration, args: &Value, sha: &TaskSha) -> Done {
    failed(
        FailureKind::Timeout,
        format!("the attempt ran past its time limit of {} ms", limit.as_millis()),
        true,
        args,
        sha,
    )
}

/// A failure report carrying the inputs (capped) and the version that ran.
pub(crate) fn failed(kind: FailureKind, message: String, retryable: bool, args: &Value, sha: &TaskSha) -> Done {
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
