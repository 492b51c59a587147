//! Retention: finished runs older than a cut-off are deleted with
//! everything recorded under them, a batch of runs per transaction, and the
//! store gives the space back.

use super::Store;
use crate::model::{Millis, RunId, RunState};
use crate::storage::retention_seam::Deleted;
use crate::storage::{Error, Reclaimed, Result};

/// Runs deleted per transaction (each with all its jobs): small enough that
/// writers never wait long behind a collection.
const RUNS_PER_WRITE: u32 = 50;

/// What [`Store::collect`] keeps and deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Runs that ended at least this long ago are deleted, in milliseconds.
    pub older_than_ms: Millis,
    /// Keep the failure records of deleted runs (their traceback, inputs and
    /// signature stay for `mycelium failures --group`).
    pub keep_failures: bool,
    /// Only count what would be deleted.
    pub dry_run: bool,
}

/// What [`Store::collect`] did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    /// The runs deleted (or that would be, in a dry run), oldest first.
    pub runs: Vec<RunId>,
    /// What was deleted (jobs counted from the runs in a dry run).
    pub deleted: Deleted,
    /// The space given back to the filesystem.
    pub reclaimed: Reclaimed,
}

fn finished(state: RunState) -> bool {
    matches!(state, RunState::Succeeded | RunState::Failed | RunState::Cancelled)
}

impl Store {
    /// Deletes the runs that ended at least `r.older_than_ms` ago, with
    /// their jobs, edges, results, events, flows' histories and signals, and
    /// (unless kept) failure records; then gives the space back where the
    /// backend keeps it. Runs still open are never touched, nor is a run
    /// reopened (by a retry) between the look and the delete.
    pub fn collect(&self, r: &Retention) -> Result<Collected> {
        if r.older_than_ms < 0 {
            return Err(Error::invalid(
                format!("retention of {} ms", r.older_than_ms),
                "it is negative",
                "give an age of zero or more (such as 7d)",
            ));
        }
        let before = self.now().saturating_sub(r.older_than_ms);
        let mut out = Collected { runs: Vec::new(), deleted: Deleted::default(), reclaimed: Reclaimed::NotNeeded };
        if r.dry_run {
            // One snapshot: the runs and their sizes.
            let rows = self.read(|rd| {
                let ids = rd.finished_runs(before, u32::MAX)?;
                let mut rows = Vec::with_capacity(ids.len());
                for id in ids {
                    rows.extend(rd.run(id)?);
                }
                Ok(rows)
            })?;
            out.deleted.runs = rows.len() as u64;
            out.deleted.jobs = rows.iter().map(|row| row.run.total).sum();
            out.runs = rows.into_iter().map(|row| row.run.id).collect();
            return Ok(out);
        }
        loop {
            let ids = self.read(|rd| rd.finished_runs(before, RUNS_PER_WRITE))?;
            if ids.is_empty() {
                break;
            }
            let (gone, d) = self.write("delete finished runs", |w| {
                // Look again inside the transaction: a retry may have
                // reopened one since.
                let mut still = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(row) = w.tx.run(*id)?
                        && finished(row.run.state)
                        && row.run.finished_at.is_some_and(|at| at < before)
                    {
                        still.push(*id);
                    }
                }
                let d = w.tx.delete_runs(&still, r.keep_failures)?;
                Ok((still, d))
            })?;
            if gone.is_empty() {
                break;
            }
            out.runs.extend(gone);
            out.deleted.add(d);
        }
        if !out.runs.is_empty() {
            out.reclaimed = self.inner.backend.reclaim()?;
        }
        Ok(out)
    }

    /// Rewrites the store to give back all the space it keeps (SQLite's
    /// `VACUUM`, which also turns on page-by-page reclaiming for stores made
    /// before it existed). Slow on a large store; writers wait meanwhile.
    pub fn vacuum(&self) -> Result<Reclaimed> {
        self.inner.backend.vacuum()
    }
}
