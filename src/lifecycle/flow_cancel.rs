//! Cancelling one job and what depends on it: its consumers (which can no
//! longer run) and, for a flow, everything it started that is still open.

use std::collections::HashSet;

use serde_json::json;

use super::Store;
use super::work::Work;
use crate::model::{JobId, JobState};
use crate::storage::rows::NewEvent;
use crate::storage::{Error, Result};

impl Store {
    /// Cancels `job` if it has not ended, every job that consumes it
    /// (transitively), and every job it or they started (a flow's
    /// children, transitively) that has not ended. Holders learn it at
    /// their next heartbeat. Returns the jobs cancelled, by id.
    pub fn cancel_job(&self, job: JobId, reason: &str) -> Result<Vec<JobId>> {
        self.write("cancel a job", |w| {
            if w.tx.job_rows(&[job])?.is_empty() {
                return Err(Error::UnknownJob(job));
            }
            cancel_jobs(w, &[job], reason)
        })
    }
}

/// Cancels the open jobs among `roots`, their consumers and their children,
/// transitively; returns them by id.
pub(super) fn cancel_jobs(w: &mut Work<'_>, roots: &[JobId], reason: &str) -> Result<Vec<JobId>> {
    let now = w.now;
    let data = json!({ "reason": reason }).to_string();
    let mut seen: HashSet<JobId> = roots.iter().copied().collect();
    let mut frontier: Vec<JobId> = roots.to_vec();
    let mut cancelled = Vec::new();
    while !frontier.is_empty() {
        let mut rows = w.tx.job_rows(&frontier)?;
        let mut updated = Vec::new();
        let mut next: Vec<JobId> = Vec::new();
        for row in &mut rows {
            if row.state.is_final() {
                continue;
            }
            row.state = JobState::Cancelled;
            row.lease_until = None;
            row.finished_at = Some(now);
            row.updated_at = now;
            w.event(NewEvent::job(now, row.run, row.id, JobState::Cancelled, Some(data.clone())));
            w.closed_job(row, true);
            cancelled.push(row.id);
            // What consumed it can never run.
            next.extend(w.tx.consumers(&[row.id])?.into_iter().map(|d| d.consumer));
            updated.push(row.clone());
        }
        if !updated.is_empty() {
            w.tx.update_jobs(&updated)?;
        }
        // What it started (whether or not it had ended itself).
        next.extend(w.tx.children(&frontier)?.into_iter().map(|c| c.id));
        next.retain(|id| seen.insert(*id));
        frontier = next;
    }
    cancelled.sort_unstable();
    Ok(cancelled)
}
