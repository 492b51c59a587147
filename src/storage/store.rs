//! The storage trait: the contract every backend of the mycelium keeps.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Result;
use crate::model::{
    Claimed, Completion, ElfInstance, Event, Failure, FailureId, FailureKind, FailureReport, InstanceId, Job, JobId,
    JobState, Lease, Millis, Outcome, Run, RunId, RunState, Submission, Submitted, TaskSha, TaskVersion,
};

/// Newly ready jobs per elf name, so that a writer can ring the doorbell for
/// exactly as many idle elves as there is new work.
pub type Readied = BTreeMap<String, u32>;

/// The mycelium: the one store every process shares.
///
/// # Contract
///
/// * **Durability.** A method that returns `Ok` has committed: a crash of any
///   process afterwards loses nothing it wrote. A method that returns `Err`
///   has written nothing.
/// * **Atomicity and events.** Each call is one transaction. Every job state
///   change appends exactly one [`Event`] in the same transaction, so the job
///   state is a projection of the log.
/// * **Ordering.** Event `seq` numbers increase in commit order; a reader
///   tailing with [`Store::events`] by cursor sees every event once, with no
///   gaps (strictly on SQLite, single-server and OneShard ArangoDB).
///   Ready jobs are claimed by priority (higher first), then by id (FIFO).
/// * **Leases and fencing.** A claim sets a lease and bumps the job's epoch.
///   Every write on a job's behalf carries a [`Lease`]; a write whose epoch
///   is not the job's current one while claimed is refused with
///   [`Outcome::LeaseLost`] (or [`Outcome::Cancelled`]) and writes nothing.
///   At most one live lease exists per job.
/// * **Idempotence.** Recording the same task version twice, completing a job
///   twice with the same lease, and resubmitting with the same idempotency
///   key are no-ops that answer like the first call.
/// * **Readiness.** A job becomes `ready` in the same transaction in which its
///   last producer succeeds, and its consumers become `upstream_failed` in
///   the transaction in which it fails for good; a run ends in the
///   transaction that makes its last job final. Nothing waits for another
///   process to make progress.
/// * **Bad input** (malformed arguments, unknown jobs, cycles, oversized
///   payloads) is rejected with an error naming it; nothing is written.
pub trait Store: Send + Sync + fmt::Debug {
    /// The store's URL, without credentials.
    fn url(&self) -> String;

    /// The configured limits.
    fn limits(&self) -> Limits;

    /// Records task versions (idempotent on the sha). A version whose source
    /// does not hash to its sha is rejected.
    fn record_tasks(&self, versions: &[TaskVersion]) -> Result<()>;

    /// One task version.
    fn task_version(&self, sha: &TaskSha) -> Result<Option<TaskVersion>>;

    /// Every version recorded for `elf`/`task`, oldest first.
    fn task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>>;

    /// Registers (or re-registers) an elf instance.
    fn register_elf(&self, elf: &ElfInstance) -> Result<()>;

    /// Renews the instance's own lease and the leases it holds, by `ttl_ms`.
    /// Returns one outcome per lease: `Cancelled` and `LeaseLost` tell the
    /// elf to stop the job and not report it.
    fn heartbeat(&self, instance: &InstanceId, held: &[Lease], ttl_ms: i64) -> Result<Vec<Outcome>>;

    /// Marks an instance stopped (`lost = false`, after a clean shutdown) or
    /// dead (`lost = true`): the jobs it still holds go back to `ready` (or
    /// fail, when out of attempts) with an `elf_lost` failure each.
    fn elf_gone(&self, instance: &InstanceId, lost: bool) -> Result<Readied>;

    /// Known elf instances, most recently started first.
    fn elves(&self) -> Result<Vec<ElfInstance>>;

    /// Creates a run and its jobs and edges in one transaction.
    fn submit(&self, submission: &Submission) -> Result<(Submitted, Readied)>;

    /// One run.
    fn run(&self, id: RunId) -> Result<Option<Run>>;

    /// Runs, most recent first.
    fn runs(&self, query: &RunQuery) -> Result<Vec<Run>>;

    /// One job.
    fn job(&self, id: JobId) -> Result<Option<Job>>;

    /// Jobs matching `query`, by id.
    fn jobs(&self, query: &JobQuery) -> Result<Vec<Job>>;

    /// The dependency edges whose consumer is in `run`.
    fn deps(&self, run: RunId) -> Result<Vec<Dep>>;

    /// Cancels every job of `run` that is not final, and the run. Holders
    /// learn it at their next heartbeat. Returns how many jobs it cancelled.
    fn cancel_run(&self, run: RunId, reason: &str) -> Result<u64>;

    /// Claims up to `request.max` ready jobs atomically, with a lease each.
    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>>;

    /// Stores results; one outcome per completion, in order.
    fn complete(&self, done: &[Completion]) -> Result<(Vec<Outcome>, Readied)>;

    /// Completes `done`, then claims, in as few transactions as the backend
    /// can (one on SQLite): the hot path of an elf that keeps busy.
    fn complete_and_claim(
        &self,
        done: &[Completion],
        request: &ClaimRequest<'_>,
    ) -> Result<(Vec<Outcome>, Readied, Vec<Claimed>)> {
        let (outcomes, readied) = if done.is_empty() { Default::default() } else { self.complete(done)? };
        let claimed = if request.max == 0 { Vec::new() } else { self.claim(request)? };
        Ok((outcomes, readied, claimed))
    }

    /// Records a failed attempt. The job goes back to `ready` after its
    /// backoff when the report is retryable and attempts are left; otherwise
    /// it fails for good and its consumers become `upstream_failed`.
    fn fail(&self, lease: &Lease, report: &FailureReport) -> Result<Failed>;

    /// Gives jobs back without running them (a clean shutdown): they are
    /// `ready` again at once and the attempt is not counted.
    fn release(&self, leases: &[Lease]) -> Result<(Vec<Outcome>, Readied)>;

    /// Expires leases that ran out (back to `ready`, or failed when out of
    /// attempts, with a `lease_expired` failure) and marks elves that stopped
    /// heartbeating as lost.
    fn reap(&self) -> Result<Reaped>;

    /// The result of a job, if it succeeded.
    fn result(&self, job: JobId) -> Result<Option<Value>>;

    /// The results of those of `jobs` that succeeded.
    fn results(&self, jobs: &[JobId]) -> Result<Vec<(JobId, Value)>>;

    /// One failure.
    fn failure(&self, id: FailureId) -> Result<Option<Failure>>;

    /// Failures matching `query`, most recent first.
    fn failures(&self, query: &FailureQuery) -> Result<Vec<Failure>>;

    /// Events after `query.after`, in log order.
    fn events(&self, query: &EventQuery) -> Result<Vec<Event>>;

    /// Moves committed data from the write-ahead log into the main store, when
    /// the backend has one; a no-op elsewhere.
    fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Takes or renews the lease on `role` for `holder` (coordinator
    /// leadership). Returns whether `holder` holds it now.
    fn lead(&self, role: &str, holder: &str, ttl_ms: i64) -> Result<bool>;

    /// Re-queues `jobs` that failed, could not run (`upstream_failed`) or were
    /// cancelled, as new attempts, together with every job downstream of them
    /// that could not run because of them; reopens their runs. Jobs in other
    /// states are left alone. Each retried job gets its retry policy's
    /// attempts again. Returns the jobs re-queued.
    fn retry(&self, jobs: &[JobId]) -> Result<Retried>;

    /// A number that changes whenever any process commits: a cheap check for
    /// pollers. Backends without one return the latest event `seq`.
    fn change_counter(&self) -> Result<i64>;
}

/// Size limits a store enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest arguments or result of one job, in bytes of JSON.
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload: 16 * 1024 * 1024 }
    }
}

/// What an elf asks for when it claims.
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// The claiming instance.
    pub instance: &'a InstanceId,
    /// The elf's name.
    pub elf: &'a str,
    /// The tasks it serves (by name); jobs of other tasks are left alone.
    pub tasks: &'a [String],
    /// At most this many jobs (its free slots).
    pub max: u32,
    /// Lease length in milliseconds.
    pub ttl_ms: i64,
}

/// What a failed attempt led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    /// Whether the failure was recorded (`Ok`) or refused (stale lease).
    pub outcome: Outcome,
    /// The failure record, when recorded.
    pub failure: Option<FailureId>,
    /// When the next attempt may start, if one is scheduled.
    pub retry_at: Option<Millis>,
    /// Jobs that became ready (the retried job, once due, is not counted).
    pub readied: Readied,
}

/// What a reap did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Jobs whose lease had expired.
    pub expired: Vec<JobId>,
    /// Of those, jobs that failed for good.
    pub failed: Vec<JobId>,
    /// Elf instances found dead.
    pub lost_elves: Vec<InstanceId>,
    /// Jobs that became ready.
    pub readied: Readied,
}

/// What a retry did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retried {
    /// Jobs re-queued (the ones asked for and those downstream of them).
    pub jobs: Vec<JobId>,
    /// Of those, ready at once.
    pub readied: Readied,
    /// Runs reopened.
    pub reopened: Vec<RunId>,
}

/// A dependency edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep {
    /// The job whose result is consumed.
    pub producer: JobId,
    /// The job that consumes it.
    pub consumer: JobId,
    /// Where in the consumer's arguments the value goes (a JSON pointer).
    pub path: String,
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobQuery {
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only in these states (any when empty).
    pub states: Vec<JobState>,
    /// Only of this elf.
    pub elf: Option<String>,
    /// Only of this task.
    pub task: Option<String>,
    /// Only with an id above this (for paging).
    pub after: Option<JobId>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    /// Only in this state.
    pub state: Option<RunState>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which failures to list.
#[derive(Clone, Debug, Default)]
pub struct FailureQuery {
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only of this job.
    pub job: Option<JobId>,
    /// Only of this elf.
    pub elf: Option<String>,
    /// Only of this task.
    pub task: Option<String>,
    /// Only of this kind.
    pub kind: Option<FailureKind>,
    /// Only at or after this time.
    pub since: Option<Millis>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only events with a `seq` above this (the cursor).
    pub after: i64,
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only of this job.
    pub job: Option<JobId>,
    /// At most this many.
    pub limit: u32,
}
