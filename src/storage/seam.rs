//! The narrow seam every backend implements: transactions over typed rows,
//! and the few scans that must run where the data is.
//!
//! The job lifecycle (`crate::lifecycle`) is written once, above this seam.
//! A backend only stores: it never decides a state, counts an attempt or
//! propagates a failure. What it promises is stated here and tested once per
//! backend by the conformance suite.
//!
//! # Contract
//!
//! * **Transactions.** [`Backend::write`] runs its body in one serializable
//!   transaction: either every write of the body is committed, durably,
//!   before `write` returns `Ok`, or none is (the body returned `Err`, or the
//!   backend failed). A backend may run the body more than once (to retry a
//!   conflict); a body therefore has no effect outside the transaction.
//!   Writes of a body are visible to its own later reads.
//! * **Reads.** [`Backend::read`] sees one consistent, committed snapshot.
//! * **Ordering.** Events get increasing `seq` numbers in commit order; a
//!   reader tailing by cursor sees every event once, with no gaps.
//! * **Claim order.** [`Read::claimable`] returns ready jobs by priority
//!   (higher first), then turn (lower first), then id; and does so from an
//!   index, without sorting the ready jobs.
//! * **Virtual time.** [`Read::vtime`] is the largest value ever given to
//!   [`Tx::advance_vtime`] (0 for a new store): it never decreases.
//! * **No rules.** Rows are written as given: the lifecycle has validated
//!   them. Unique keys (a run's idempotency key, a job's key within its run)
//!   are nonetheless enforced: a duplicate is an error, not a silent merge.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::flow_seam::{FlowRead, FlowTx};
use super::retention_seam::{RetentionRead, RetentionTx};
use super::rows::{
    CatalogRow, CatalogWrite, ClaimScan, ClaimSet, ClaimedRow, JobRow, JobStats, LeaderRow, NewEvent, NewJob,
    NewResult, ResultRow, RunRow, Sequence,
};
use super::{Dep, EventQuery, FailureQuery, JobQuery, Limits, Result, RunQuery, Token};
use crate::lifecycle::Clock;
use crate::model::{
    ElfInstance, ElfState, Event, Failure, FailureId, InstanceId, Job, JobId, Millis, Run, RunId, TaskSha, TaskVersion,
};

/// Where a backend keeps its data, as far as its users need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locality {
    /// In this process's memory: gone when the process ends.
    InProcess,
    /// On this machine, shared by its processes.
    Local,
    /// On a server, shared across machines.
    Remote,
}

/// What a backend is and how its users should treat it: everything that
/// today's callers used to learn by parsing the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The URL it was opened with, without credentials.
    pub url: String,
    /// Its URL scheme.
    pub scheme: &'static str,
    /// Where its data lives.
    pub locality: Locality,
    /// The unix socket of the coordinator's doorbell beside the store, when
    /// the store is local.
    pub doorbell: Option<PathBuf>,
    /// How often an idle elf looks for work when nothing woke it: the
    /// shortest and the longest wait (a random wait in between, so that many
    /// elves do not poll in step).
    pub poll: (Duration, Duration),
    /// The default lease of a claimed job.
    pub lease: Duration,
    /// Payload limits.
    pub limits: Limits,
}

/// A backend of the mycelium: stores rows and runs transactions over them.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// What the backend is.
    fn describe(&self) -> &Description;

    /// Runs `body` against one consistent snapshot.
    fn read(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> Result<()>;

    /// Runs `body` in one write transaction (see the module's contract);
    /// `what` names the operation in errors ("claim jobs").
    fn write(&self, what: &'static str, body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;

    /// A number that changes whenever any process commits: a cheap check for
    /// pollers.
    fn change_counter(&self) -> Result<i64>;

    /// A number that changes whenever another handle or process commits,
    /// where the backend can leave this handle's own commits out: what an
    /// elf looks at before claiming again after a claim of its own found too
    /// little (its own commit says nothing new about the work). Without a
    /// cheaper way, the [`change_counter`](Backend::change_counter), which
    /// moves on every commit.
    fn others_change_counter(&self) -> Result<i64> {
        self.change_counter()
    }

    /// Moves committed data from a write-ahead log into the main store, when
    /// the backend has one.
    fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Gives the space of deleted data back to the filesystem, at most
    /// `max_pages` pages of it per call (one short write), when the backend
    /// keeps it otherwise; what it gave back, in bytes, when known: 0 once
    /// nothing is left to give back.
    fn reclaim(&self, max_pages: u32) -> Result<Reclaimed> {
        let _ = max_pages;
        Ok(Reclaimed::NotNeeded)
    }

    /// Rewrites the store to give back all the space it keeps, when the
    /// backend can (a full `VACUUM`); slow, and writers wait meanwhile.
    fn vacuum(&self) -> Result<Reclaimed> {
        Ok(Reclaimed::NotNeeded)
    }

    /// The clock leases and timers are measured on, when the backend has its
    /// own (a server shared by machines whose clocks may disagree); `None`
    /// for this machine's clock.
    fn clock(&self) -> Option<Arc<dyn Clock>> {
        None
    }
}

/// What giving back the space of deleted data did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reclaimed")]
pub enum Reclaimed {
    /// The backend frees space by itself (a server, memory).
    NotNeeded,
    /// This many bytes went back to the filesystem.
    Bytes {
        /// How many.
        bytes: u64,
    },
    /// The store cannot give space back in place: it keeps it for new data
    /// until a full rewrite (`mycelium gc --vacuum`).
    NeedsVacuum,
}

/// Reads, inside or outside a write transaction (flows' reads are in
/// [`FlowRead`]).
pub(crate) trait Read: FlowRead + RetentionRead {
    /// One run.
    fn run(&mut self, id: RunId) -> Result<Option<RunRow>>;
    /// The run created with this idempotency key.
    fn run_by_key(&mut self, key: &str) -> Result<Option<RunId>>;
    /// Runs, most recent first.
    fn runs(&mut self, query: &RunQuery) -> Result<Vec<Run>>;

    /// The rows of those of `ids` that exist, by id.
    fn job_rows(&mut self, ids: &[JobId]) -> Result<Vec<JobRow>>;
    /// The documents of those of `ids` that exist, by id.
    fn jobs(&mut self, ids: &[JobId]) -> Result<Vec<Job>>;
    /// Jobs matching `query`, by id.
    fn query_jobs(&mut self, query: &JobQuery) -> Result<Vec<Job>>;
    /// The ids of a run's jobs, in order.
    fn job_ids(&mut self, run: RunId) -> Result<Vec<JobId>>;
    /// A run's jobs that are not final (pending, ready, claimed).
    fn open_jobs(&mut self, run: RunId) -> Result<Vec<JobRow>>;

    /// Ready jobs the scan allows, in claim order, with their arguments.
    fn claimable(&mut self, scan: &ClaimScan<'_>) -> Result<Vec<(JobRow, Value)>>;
    /// Claimed jobs whose lease ran out before `now`, earliest first.
    fn expired(&mut self, now: Millis, limit: u32) -> Result<Vec<JobRow>>;
    /// Claimed jobs held by `instance`.
    fn held_by(&mut self, instance: &InstanceId) -> Result<Vec<JobRow>>;

    /// The edges fed by any of `producers`.
    fn consumers(&mut self, producers: &[JobId]) -> Result<Vec<Dep>>;
    /// The edges feeding any of `consumers`.
    fn producers(&mut self, consumers: &[JobId]) -> Result<Vec<Dep>>;
    /// The edges whose consumer is in `run`.
    fn run_deps(&mut self, run: RunId) -> Result<Vec<Dep>>;

    /// The stored results of those of `jobs` that have one, by job.
    fn results(&mut self, jobs: &[JobId]) -> Result<Vec<ResultRow>>;

    /// One failure.
    fn failure(&mut self, id: FailureId) -> Result<Option<Failure>>;
    /// Failures matching `query`, most recent first.
    fn failures(&mut self, query: &FailureQuery) -> Result<Vec<Failure>>;

    /// Events matching `query`, in log order.
    fn events(&mut self, query: &EventQuery) -> Result<Vec<Event>>;

    /// One task version.
    fn task_version(&mut self, sha: &TaskSha) -> Result<Option<TaskVersion>>;
    /// Every version recorded for `elf`/`task`, oldest first.
    fn task_versions(&mut self, elf: &str, task: &str) -> Result<Vec<TaskVersion>>;

    /// One elf instance.
    fn elf(&mut self, instance: &InstanceId) -> Result<Option<ElfInstance>>;
    /// Elf instances (in `state`, when given), most recently started first.
    fn elves(&mut self, state: Option<ElfState>) -> Result<Vec<ElfInstance>>;

    /// Who holds `role`.
    fn leader(&mut self, role: &str) -> Result<Option<LeaderRow>>;

    /// Every API token (revoked ones too), oldest first.
    fn tokens(&mut self) -> Result<Vec<Token>>;

    /// The catalog entries of `kind` whose key starts with `prefix`, by key:
    /// the agents' declarations (signals, subscriptions, queues, schedules).
    fn catalog(&mut self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>>;

    /// How many jobs match `query` (its run, states, elf and task; `after`
    /// and `limit` do not apply), and when the oldest of them was created.
    fn job_stats(&mut self, query: &JobQuery) -> Result<JobStats>;

    /// The store's virtual time: the largest turn claimed so far.
    fn vtime(&mut self) -> Result<i64>;

    /// How long the last successful attempts of `elf`/`task` took
    /// (`finished_at - started_at`, in ms), most recent first: at most
    /// `limit` of them, found among the newest [`RECENT_JOBS`] jobs of the
    /// store (a bounded scan, whatever the store's size).
    fn recent_durations(&mut self, elf: &str, task: &str, limit: u32) -> Result<Vec<u64>>;
}

/// How many of the newest jobs [`Read::recent_durations`] looks through.
pub(crate) const RECENT_JOBS: i64 = 20_000;

/// Writes, inside a write transaction (flows' writes are in [`FlowTx`]).
pub(crate) trait Tx: Read + FlowTx + RetentionTx {
    /// Reserves `n` consecutive ids of `sequence`; returns the first.
    fn reserve(&mut self, sequence: Sequence, n: u64) -> Result<i64>;

    /// Inserts a run (its id reserved first).
    fn insert_run(&mut self, run: &RunRow) -> Result<()>;
    /// Writes a run's state, end time and counters.
    fn update_run(&mut self, run: &Run) -> Result<()>;

    /// Inserts jobs (their ids reserved first).
    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()>;
    /// Writes the mutable fields of existing jobs.
    fn update_jobs(&mut self, jobs: &[JobRow]) -> Result<()>;
    /// Sets the `(turn, rank_ms)` of existing jobs (a missing job is
    /// skipped); writes no other field and no event.
    fn set_turns(&mut self, turns: &[(JobId, i64, u64)]) -> Result<()>;
    /// Raises the store's virtual time to `turn` (keeps it when it is
    /// larger already).
    fn advance_vtime(&mut self, turn: i64) -> Result<()>;

    /// Writes the fields a claim changes (`state`, `holder`, `epoch`,
    /// `attempt`, `lease_until`, `started_at`, `updated_at`) of jobs that
    /// [`Read::claimable`] read in this transaction; their other fields are
    /// unchanged. The claim is the hottest write there is, so a backend may
    /// do it in one set-based statement; by default it is
    /// [`Tx::update_jobs`].
    fn mark_claimed(&mut self, jobs: &[JobRow]) -> Result<()> {
        self.update_jobs(jobs)
    }

    /// Claims the jobs [`Read::claimable`] finds for `scan`: each made
    /// claimed as [`ClaimSet::apply`] says, written, and returned (the part
    /// a claim hands on, [`ClaimedRow`]) in claim order. By default a read,
    /// then [`Tx::mark_claimed`]; a backend may do both in one statement
    /// where the data is (SQLite: one `UPDATE ... RETURNING` of only those
    /// columns), which must write exactly what `apply` would.
    fn claim_ready(&mut self, scan: &ClaimScan<'_>, set: &ClaimSet<'_>) -> Result<Vec<ClaimedRow>> {
        let mut rows = self.claimable(scan)?;
        for (row, _) in &mut rows {
            set.apply(row);
        }
        let written: Vec<JobRow> = rows.iter().map(|(r, _)| r.clone()).collect();
        self.mark_claimed(&written)?;
        Ok(rows.into_iter().map(|(row, args)| ClaimedRow::of(row, args)).collect())
    }

    /// Inserts dependency edges.
    fn insert_deps(&mut self, deps: &[Dep]) -> Result<()>;

    /// Inserts results (at most one per job).
    fn insert_results(&mut self, results: &[NewResult]) -> Result<()>;

    /// Inserts failures (their `id` is ignored); returns the ids given.
    fn insert_failures(&mut self, failures: &[Failure]) -> Result<Vec<FailureId>>;

    /// Appends events to the log.
    fn append(&mut self, events: &[NewEvent]) -> Result<()>;

    /// Records task versions (and which elf and task serve them), keeping
    /// what is already there; returns, per version, whether anything was new.
    fn put_task_versions(&mut self, versions: &[TaskVersion], now: Millis) -> Result<Vec<bool>>;

    /// Inserts or replaces an elf instance.
    fn put_elf(&mut self, elf: &ElfInstance) -> Result<()>;

    /// Sets who holds a role.
    fn put_leader(&mut self, row: &LeaderRow) -> Result<()>;

    /// Inserts an API token (its hash; never its secret).
    fn insert_token(&mut self, token: &Token) -> Result<()>;

    /// Marks the active token named `name` revoked at `at`; whether one was.
    fn revoke_token(&mut self, name: &str, at: Millis) -> Result<bool>;

    /// Writes catalog entries in order: a value inserts or replaces the
    /// entry, `None` deletes it (a missing entry is no error).
    fn put_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()>;
}
