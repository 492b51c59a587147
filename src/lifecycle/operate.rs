//! What operators do to runs: cancel them, retry what failed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::json;

use super::Store;
use super::outcomes::Retried;
use super::work::Work;
use crate::model::{EventKind, JobId, JobState, RunId, RunState};
use crate::storage::rows::NewEvent;
use crate::storage::{Error, Result};

impl Store {
    /// Cancels every job of `run` that is not final, and the run. Holders
    /// learn it at their next heartbeat. Returns how many jobs it cancelled.
    pub fn cancel_run(&self, run: RunId, reason: &str) -> Result<u64> {
        self.write("cancel a run", |w| {
            let mut row = w.tx.run(run)?.ok_or(Error::UnknownRun(run))?;
            if row.run.state != RunState::Running {
                return Ok(0);
            }
            let now = w.now;
            let data = json!({ "reason": reason }).to_string();
            let mut rows = w.tx.open_jobs(run)?;
            for r in &mut rows {
                r.state = JobState::Cancelled;
                r.lease_until = None;
                r.finished_at = Some(now);
                r.updated_at = now;
                w.event(NewEvent::job(now, run, r.id, JobState::Cancelled, Some(data.clone())));
            }
            if !rows.is_empty() {
                w.tx.update_jobs(&rows)?;
            }
            let n = rows.len() as u64;
            row.run.open = row.run.open.saturating_sub(n);
            row.run.failed += n;
            // A cancelled run takes no more jobs: an open one is sealed too.
            row.run.sealed = true;
            w.end_run(&mut row.run, RunState::Cancelled, Some(reason));
            w.tx.update_run(&row.run)?;
            Ok(n)
        })
    }

    /// Re-queues `jobs` that failed, could not run (`upstream_failed`) or were
    /// cancelled, as new attempts, together with every job downstream of them
    /// that could not run because of them; reopens their runs. Jobs in other
    /// states are left alone. Each retried job gets its retry policy's
    /// attempts (and infrastructure losses) again.
    pub fn retry(&self, jobs: &[JobId]) -> Result<Retried> {
        self.write("retry jobs", |w| retry(w, jobs))
    }
}

fn retryable(state: JobState) -> bool {
    matches!(state, JobState::Failed | JobState::UpstreamFailed | JobState::Cancelled)
}

fn retry(w: &mut Work<'_>, jobs: &[JobId]) -> Result<Retried> {
    let now = w.now;
    let rows = w.tx.job_rows(jobs)?;
    if let Some(missing) = jobs.iter().find(|id| !rows.iter().any(|r| r.id == **id)) {
        return Err(Error::UnknownJob(*missing));
    }
    // The jobs asked for, then everything downstream that could not run
    // because of them.
    let mut todo: BTreeSet<JobId> = rows.iter().filter(|r| retryable(r.state)).map(|r| r.id).collect();
    let mut frontier: Vec<JobId> = todo.iter().copied().collect();
    while !frontier.is_empty() {
        let consumers: Vec<JobId> = w.tx.consumers(&frontier)?.into_iter().map(|d| d.consumer).collect();
        frontier =
            w.tx.job_rows(&consumers)?
                .into_iter()
                .filter(|r| matches!(r.state, JobState::UpstreamFailed | JobState::Cancelled) && todo.insert(r.id))
                .map(|r| r.id)
                .collect();
    }
    let mut out = Retried::default();
    if todo.is_empty() {
        return Ok(out);
    }
    let ids: Vec<JobId> = todo.iter().copied().collect();
    // Producers not succeeded, counting those being retried now.
    let deps = w.tx.producers(&ids)?;
    let producer_ids: Vec<JobId> = deps.iter().map(|d| d.producer).collect();
    let succeeded: HashSet<JobId> =
        w.tx.job_rows(&producer_ids)?.into_iter().filter(|r| r.state == JobState::Succeeded).map(|r| r.id).collect();
    let mut unmet: BTreeMap<JobId, HashSet<JobId>> = BTreeMap::new();
    for d in deps {
        if !succeeded.contains(&d.producer) {
            unmet.entry(d.consumer).or_default().insert(d.producer);
        }
    }
    let mut per_run: BTreeMap<RunId, u64> = BTreeMap::new();
    let mut rows = w.tx.job_rows(&ids)?;
    for r in &mut rows {
        let n = unmet.get(&r.id).map_or(0, |s| s.len() as u32);
        let state = if n == 0 { JobState::Ready } else { JobState::Pending };
        r.state = state;
        r.unmet = n;
        r.max_attempts = r.attempt + r.retry.max_attempts.max(1);
        r.lost = 0;
        r.not_before = 0;
        r.lease_until = None;
        r.finished_at = None;
        r.updated_at = now;
        w.event(NewEvent::job(now, r.run, r.id, state, Some(r#"{"retried":true}"#.into())));
        if state == JobState::Ready {
            w.ready(&r.elf);
        }
        *per_run.entry(r.run).or_default() += 1;
        out.jobs.push(r.id);
    }
    w.tx.update_jobs(&rows)?;
    for (run, n) in per_run {
        let Some(mut row) = w.tx.run(run)? else { continue };
        let was = row.run.state;
        row.run.open += n;
        row.run.failed = row.run.failed.saturating_sub(n);
        row.run.state = RunState::Running;
        row.run.finished_at = None;
        w.tx.update_run(&row.run)?;
        if was != RunState::Running {
            let data = json!({ "was": was.as_str() }).to_string();
            w.event(NewEvent::run(now, EventKind::RunReopened, run, data));
            out.reopened.push(run);
        }
    }
    out.readied = w.take_readied();
    Ok(out)
}
