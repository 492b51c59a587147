//! Retention: finished runs older than a cut-off are deleted with
//! everything recorded under them, then the task versions nothing names any
//! more, in transactions bounded by a number of jobs that adapts so that
//! each takes about [`TARGET_WRITE`]; then the store gives the space back,
//! a bounded number of pages at a time.

use std::time::{Duration, Instant};

use super::Store;
use crate::model::{Millis, RunId, RunState};
use crate::storage::retention_seam::Deleted;
use crate::storage::{Error, Reclaimed, Result};

/// Finished runs looked up at a time.
const RUNS_PER_LOOK: u32 = 50;

/// How long one of a collection's writes should hold the store's writer:
/// the number of jobs per write halves when a write took longer, and
/// grows by half when one took less than half of it.
pub(crate) const TARGET_WRITE: Duration = Duration::from_millis(20);

/// Jobs deleted by the first write of a collection.
const FIRST_JOBS: u32 = 200;

/// Bounds of the jobs per write.
const MIN_JOBS: u32 = 16;
const MAX_JOBS: u32 = 50_000;

/// Pages given back to the filesystem per step (1 MiB of 4 KiB pages).
const PAGES_PER_STEP: u32 = 256;

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
    /// Jobs deleted per transaction; `None` adapts it so that each write
    /// takes about 20 ms.
    pub jobs_per_write: Option<u32>,
}

/// What [`Store::collect`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Collected {
    /// The runs deleted (or that would be, in a dry run), oldest first.
    pub runs: Vec<RunId>,
    /// What was deleted (jobs counted from the runs in a dry run).
    pub deleted: Deleted,
    /// The space given back to the filesystem.
    pub reclaimed: Reclaimed,
    /// Write transactions taken (deletes and giving space back).
    pub writes: u64,
    /// The longest of them, in milliseconds: the longest any other writer
    /// (an elf, a driver) could have waited behind this collection.
    pub longest_write_ms: f64,
    /// How long the whole collection took, in seconds.
    pub seconds: f64,
}

/// The jobs each write deletes, adapted to how long the writes take.
struct Budget {
    jobs: u32,
    fixed: bool,
}

impl Budget {
    fn new(fixed: Option<u32>) -> Self {
        match fixed {
            Some(n) => Self { jobs: n.max(1), fixed: true },
            None => Self { jobs: FIRST_JOBS, fixed: false },
        }
    }

    fn took(&mut self, d: Duration) {
        if self.fixed {
            return;
        }
        if d > TARGET_WRITE {
            self.jobs = (self.jobs / 2).max(MIN_JOBS);
        } else if d < TARGET_WRITE / 2 {
            // Half again as many, not twice: a doubled write that lands
            // near the target overshoots it on a slow host.
            self.jobs = self.jobs.saturating_add(self.jobs / 2).min(MAX_JOBS);
        }
    }
}

impl Collected {
    fn timed<T>(&mut self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let out = f();
        self.writes += 1;
        self.longest_write_ms = self.longest_write_ms.max(t.elapsed().as_secs_f64() * 1000.0);
        out
    }
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
        if r.jobs_per_write == Some(0) {
            return Err(Error::invalid(
                "retention of 0 jobs per write",
                "no write could delete anything",
                "give a positive number of jobs per write, or none to adapt it",
            ));
        }
        let started = Instant::now();
        let before = self.now().saturating_sub(r.older_than_ms);
        let mut out = Collected {
            runs: Vec::new(),
            deleted: Deleted::default(),
            reclaimed: Reclaimed::NotNeeded,
            writes: 0,
            longest_write_ms: 0.0,
            seconds: 0.0,
        };
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
            out.seconds = started.elapsed().as_secs_f64();
            return Ok(out);
        }
        let mut budget = Budget::new(r.jobs_per_write);
        loop {
            let ids = self.read(|rd| rd.finished_runs(before, RUNS_PER_LOOK))?;
            let mut pending: Vec<RunId> = ids;
            let mut progressed = false;
            while !pending.is_empty() {
                let max = budget.jobs;
                let t = Instant::now();
                let (still, d) = out.timed(|| {
                    self.write("delete finished runs", |w| {
                        // Look again inside the transaction: a retry may
                        // have reopened one since.
                        let mut still = Vec::with_capacity(pending.len());
                        for id in &pending {
                            if let Some(row) = w.tx.run(*id)?
                                && finished(row.run.state)
                                && row.run.finished_at.is_some_and(|at| at < before)
                            {
                                still.push(*id);
                            }
                        }
                        let d = if still.is_empty() {
                            Deleted::default()
                        } else {
                            w.tx.delete_runs(&still, max, r.keep_failures)?
                        };
                        Ok((still, d))
                    })
                })?;
                budget.took(t.elapsed());
                // Copy what the write logged into the store now, outside any
                // write: the log never grows to the size where a commit (an
                // elf's, or the next of these) checkpoints it on the way.
                self.inner.backend.checkpoint()?;
                let whole = usize::try_from(d.runs).unwrap_or(usize::MAX).min(still.len());
                progressed |= d.jobs > 0 || d.runs > 0;
                out.runs.extend_from_slice(&still[..whole]);
                out.deleted.add(d);
                if d.jobs == 0 && d.runs == 0 {
                    break;
                }
                pending = still[whole..].to_vec();
            }
            if !progressed {
                break;
            }
        }
        // Task versions nothing kept names any more.
        let (unreferenced, last_job) = self.read(|rd| rd.unreferenced_versions())?;
        for shas in unreferenced.chunks(500) {
            let n = out
                .timed(|| self.write("delete unreferenced task versions", |w| w.tx.delete_versions(shas, last_job)))?;
            out.deleted.versions += n;
            self.inner.backend.checkpoint()?;
        }
        if !out.runs.is_empty() || out.deleted.versions > 0 {
            out.reclaimed = self.reclaim(&mut out)?;
        }
        out.seconds = started.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Gives the freed space back, [`PAGES_PER_STEP`] pages per write.
    fn reclaim(&self, out: &mut Collected) -> Result<Reclaimed> {
        let mut total = 0u64;
        loop {
            match out.timed(|| self.inner.backend.reclaim(PAGES_PER_STEP))? {
                Reclaimed::Bytes { bytes: 0 } => return Ok(Reclaimed::Bytes { bytes: total }),
                Reclaimed::Bytes { bytes } => total += bytes,
                other => return Ok(other),
            }
            self.inner.backend.checkpoint()?;
        }
    }

    /// Rewrites the store to give back all the space it keeps (SQLite's
    /// `VACUUM`, which also turns on page-by-page reclaiming for stores made
    /// before it existed). Slow on a large store; writers wait meanwhile.
    pub fn vacuum(&self) -> Result<Reclaimed> {
        self.inner.backend.vacuum()
    }
}
