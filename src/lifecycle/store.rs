//! [`Store`]: the handle every process holds, the lifecycle's entry point.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::clock::{Clock, SystemClock};
use super::watch::Watcher;
use super::work::Work;
use crate::model::{
    ElfInstance, ElfState, Event, Failure, FailureId, Job, JobId, Millis, Run, RunId, TaskSha, TaskVersion,
};
use crate::storage::registry::{OpenMode, open_backend};
use crate::storage::seam::{Backend, Description, Read};
use crate::storage::{Dep, Error, EventQuery, FailureQuery, JobQuery, Limits, Result, RunQuery};

/// The mycelium, as one process sees it: a cheap-to-clone handle over a
/// backend, with the whole job lifecycle written once above it.
///
/// # Contract
///
/// * **Durability.** A method that returns `Ok` has committed: a crash of any
///   process afterwards loses nothing it wrote. A method that returns `Err`
///   has written nothing.
/// * **Atomicity and events.** Each write method is one transaction. Every
///   job state change appends exactly one [`Event`] in the same transaction,
///   so the job state is a projection of the log.
/// * **Ordering.** Event `seq` numbers increase in commit order; a reader
///   tailing with [`Store::events`] by cursor sees every event once, with no
///   gaps. Ready jobs are claimed by priority (higher first), then by id.
/// * **Leases and fencing.** A claim sets a lease and bumps the job's epoch.
///   Every write on a job's behalf carries a [`Lease`](crate::model::Lease);
///   a write whose epoch is not the job's current one while claimed is
///   refused with [`Outcome::LeaseLost`](crate::model::Outcome) (or
///   `Cancelled`) and writes nothing. At most one live lease exists per job.
/// * **Idempotence.** Recording the same task version twice, completing a job
///   twice with the same lease, and resubmitting with the same idempotency
///   key are no-ops that answer like the first call.
/// * **Readiness.** A job becomes `ready` in the same transaction in which its
///   last producer succeeds, and its consumers become `upstream_failed` in
///   the transaction in which it fails for good; a sealed run ends in the
///   transaction that makes its last job final (an open run, in the one
///   that seals it when its jobs are all final). Nothing waits for another
///   process to make progress.
/// * **Infrastructure is not the task's fault.** An attempt lost with its
///   elf (`elf_lost`, `lease_expired`) is not charged to the task's
///   `max_attempts`; it has its own budget (`max_lost`), past which the job
///   fails as `poison`.
/// * **Bad input** (malformed arguments, unknown jobs, cycles, oversized
///   payloads) is rejected with an error naming it; nothing is written.
#[derive(Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) backend: Box<dyn Backend>,
    pub(super) clock: Arc<dyn Clock>,
    writes: AtomicU64,
    pub(super) watcher: Watcher,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url()).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store `url` names, creating it when it does not exist yet
    /// (`sqlite://path`, `memory:`, `arangodb://...`).
    pub fn open(url: &str) -> Result<Store> {
        Ok(Self::from_backend(open_backend(url, OpenMode::Create)?))
    }

    /// Opens the store `url` names, refusing one that does not exist (for
    /// commands that only look: a mistyped path must not create a store).
    pub fn open_existing(url: &str) -> Result<Store> {
        Ok(Self::from_backend(open_backend(url, OpenMode::Existing)?))
    }

    /// A fresh in-memory store (for tests and `mycelium::testing`).
    pub fn memory() -> Store {
        Self::from_backend(Box::new(crate::storage::memory::MemoryBackend::new(Limits::default())))
    }

    /// A handle over `backend`, on the backend's clock when it has one
    /// (a server's), else this machine's.
    pub(crate) fn from_backend(backend: Box<dyn Backend>) -> Store {
        let clock = backend.clock().unwrap_or_else(|| Arc::new(SystemClock));
        Self::with_clock(backend, clock)
    }

    /// A handle over `backend` measuring time on `clock`.
    pub(crate) fn with_clock(backend: Box<dyn Backend>, clock: Arc<dyn Clock>) -> Store {
        Store { inner: Arc::new(Inner { backend, clock, writes: AtomicU64::new(0), watcher: Watcher::default() }) }
    }

    /// A fresh in-memory store whose time is `clock`'s.
    pub fn memory_with_clock(clock: Arc<dyn Clock>) -> Store {
        Self::with_clock(Box::new(crate::storage::memory::MemoryBackend::new(Limits::default())), clock)
    }

    /// What the backend is: URL, locality, doorbell, poll interval, limits.
    pub fn describe(&self) -> &Description {
        self.inner.backend.describe()
    }

    /// The store's URL, without credentials.
    pub fn url(&self) -> String {
        self.describe().url.clone()
    }

    /// The configured limits.
    pub fn limits(&self) -> Limits {
        self.describe().limits
    }

    /// The time on the store's clock.
    pub fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    /// Write transactions this handle has committed (to check that hot paths
    /// are batched).
    pub fn transactions(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// Runs `f` in one write transaction, finishing its bookkeeping (run
    /// counters, events) before the commit.
    pub(crate) fn write<T>(&self, what: &'static str, mut f: impl FnMut(&mut Work<'_>) -> Result<T>) -> Result<T> {
        let now = self.now();
        let mut out = None;
        self.inner.backend.write(what, &mut |tx| {
            let mut w = Work::new(tx, now);
            let v = f(&mut w)?;
            w.finish()?;
            out = Some(v);
            Ok(())
        })?;
        self.inner.writes.fetch_add(1, Ordering::Relaxed);
        out.ok_or_else(|| Error::backend(what, std::io::Error::other("the transaction body never ran")))
    }

    /// Runs `f` against one consistent snapshot.
    pub(crate) fn read<T>(&self, mut f: impl FnMut(&mut dyn Read) -> Result<T>) -> Result<T> {
        let mut out = None;
        self.inner.backend.read(&mut |r| {
            out = Some(f(r)?);
            Ok(())
        })?;
        out.ok_or_else(|| Error::backend("read", std::io::Error::other("the read never ran")))
    }

    /// A number that changes whenever any process commits.
    pub fn change_counter(&self) -> Result<i64> {
        self.inner.backend.change_counter()
    }

    /// A number that changes whenever another handle or process commits;
    /// this handle's own commits leave it unchanged where the backend can
    /// tell them apart (SQLite), and move it elsewhere.
    pub fn others_change_counter(&self) -> Result<i64> {
        self.inner.backend.others_change_counter()
    }

    /// Moves committed data from the write-ahead log into the main store,
    /// when the backend has one; a no-op elsewhere.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.backend.checkpoint()
    }

    /// One task version.
    pub fn task_version(&self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        self.read(|r| r.task_version(sha))
    }

    /// Every version recorded for `elf`/`task`, oldest first.
    pub fn task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        self.read(|r| r.task_versions(elf, task))
    }

    /// Known elf instances, most recently started first.
    pub fn elves(&self) -> Result<Vec<ElfInstance>> {
        self.read(|r| r.elves(None))
    }

    /// Elf instances in `state`, most recently started first.
    pub fn elves_in(&self, state: ElfState) -> Result<Vec<ElfInstance>> {
        self.read(|r| r.elves(Some(state)))
    }

    /// One run.
    pub fn run(&self, id: RunId) -> Result<Option<Run>> {
        self.read(|r| Ok(r.run(id)?.map(|row| row.run)))
    }

    /// Runs, most recent first.
    pub fn runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        self.read(|r| r.runs(query))
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.read(|r| Ok(r.jobs(&[id])?.pop()))
    }

    /// Jobs matching `query`, by id.
    pub fn jobs(&self, query: &JobQuery) -> Result<Vec<Job>> {
        self.read(|r| r.query_jobs(query))
    }

    /// The ids of a run's jobs, in order.
    pub fn job_ids(&self, run: RunId) -> Result<Vec<JobId>> {
        self.read(|r| r.job_ids(run))
    }

    /// The dependency edges whose consumer is in `run`.
    pub fn deps(&self, run: RunId) -> Result<Vec<Dep>> {
        self.read(|r| r.run_deps(run))
    }

    /// The result of a job, if it succeeded.
    pub fn result(&self, job: JobId) -> Result<Option<Value>> {
        self.read(|r| Ok(r.results(&[job])?.pop().map(|row| row.value)))
    }

    /// The results of those of `jobs` that succeeded, by job.
    pub fn results(&self, jobs: &[JobId]) -> Result<Vec<(JobId, Value)>> {
        self.read(|r| Ok(r.results(jobs)?.into_iter().map(|row| (row.job, row.value)).collect()))
    }

    /// One failure.
    pub fn failure(&self, id: FailureId) -> Result<Option<Failure>> {
        self.read(|r| r.failure(id))
    }

    /// Failures matching `query`, most recent first.
    pub fn failures(&self, query: &FailureQuery) -> Result<Vec<Failure>> {
        self.read(|r| r.failures(query))
    }

    /// Events after `query.after`, in log order.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        self.read(|r| r.events(query))
    }
}
