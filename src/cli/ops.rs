//! Operations that change the mycelium: `mycelium cancel` and `mycelium retry`.

use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::json;

use super::lookup;
use super::render::write_json;
use super::{Context, Result};
use crate::model::{JobId, JobState};
use crate::storage::{JobQuery, Store};

/// Arguments of `mycelium cancel`.
#[derive(Debug, ClapArgs)]
pub(crate) struct CancelArgs {
    /// The run (`12` or `r12`), or one job (`j34`: it, what consumes it and,
    /// for a flow, what it started that is still open).
    pub(crate) run: String,
    /// Why, recorded in the event log.
    #[arg(long, default_value = "cancelled with `mycelium cancel`")]
    pub(crate) reason: String,
}

/// Cancels every job of a run that is not final, and the run; or one job
/// and what depends on it.
pub(crate) fn cancel(store: &Store, args: CancelArgs, out: &mut dyn Write, json: bool) -> Result<()> {
    if args.run.trim().starts_with('j') {
        let job = lookup::job(store, &args.run)?;
        let cancelled = store.cancel_job(job.id, &args.reason).with_context(|| format!("cancel job {}", job.id))?;
        if json {
            return write_json(out, &json!({ "job": job.id, "cancelled": cancelled }));
        }
        if cancelled.is_empty() {
            writeln!(
                out,
                "job {} had already ended ({}) and nothing it started is open: nothing to cancel",
                job.id, job.state
            )?;
        } else {
            let ids: Vec<String> = cancelled.iter().map(ToString::to_string).collect();
            writeln!(out, "cancelled {} job(s): {}", ids.len(), ids.join(", "))?;
        }
        return Ok(());
    }
    let run = lookup::run(store, &args.run)?;
    let cancelled = store.cancel_run(run.id, &args.reason).with_context(|| format!("cancel run {}", run.id))?;
    if json {
        return write_json(out, &json!({ "run": run.id, "cancelled": cancelled }));
    }
    if cancelled == 0 && run.state.is_final() {
        writeln!(out, "run {} had already ended ({}): nothing to cancel", run.id, run.state)?;
    } else {
        let s = if cancelled == 1 { "" } else { "s" };
        writeln!(out, "cancelled run {}: {cancelled} job{s} cancelled", run.id)?;
    }
    Ok(())
}

/// Arguments of `mycelium retry`.
#[derive(Debug, ClapArgs)]
pub(crate) struct RetryArgs {
    /// A failed job (`j34`) or a run (`r12`: every failed, upstream-failed or
    /// cancelled job of it). A bare number is a job.
    pub(crate) target: String,
}

/// Re-queues failed jobs (and what could not run because of them) as new
/// attempts, reopening their run.
pub(crate) fn retry(store: &Store, args: RetryArgs, out: &mut dyn Write, json: bool) -> Result<()> {
    let jobs: Vec<JobId> = if args.target.starts_with('r') {
        let run = lookup::run(store, &args.target)?;
        let states = vec![JobState::Failed, JobState::UpstreamFailed, JobState::Cancelled];
        store.jobs(&JobQuery { run: Some(run.id), states, ..Default::default() })?.into_iter().map(|j| j.id).collect()
    } else {
        vec![lookup::job(store, &args.target)?.id]
    };
    let retried = store.retry(&jobs).with_context(|| format!("retry {}", args.target))?;
    if json {
        return write_json(out, &json!({ "jobs": retried.jobs, "reopened": retried.reopened }));
    }
    if retried.jobs.is_empty() {
        writeln!(out, "nothing to retry: {} has no failed, upstream-failed or cancelled job", args.target)?;
        return Ok(());
    }
    let ids: Vec<String> = retried.jobs.iter().map(|j| j.to_string()).collect();
    writeln!(out, "re-queued {} job(s) as new attempts: {}", ids.len(), ids.join(", "))?;
    for run in &retried.reopened {
        writeln!(out, "reopened run {run}")?;
    }
    Ok(())
}
