//! The rows the seam moves: what the lifecycle reads and writes through a
//! [`Tx`](super::Tx). Documents the public API shows ([`Job`], [`Run`], ...)
//! are built from them by the backends' query reads.

use serde_json::Value;

use crate::model::{EventKind, InstanceId, JobId, JobState, Millis, RetryPolicy, Run, RunId, TaskSha};

/// The part of a job the lifecycle reads and changes: everything but its
/// arguments and the fields fixed at submission that no rule looks at.
///
/// [`Tx::update_jobs`](super::Tx::update_jobs) writes back exactly the
/// mutable fields (`state` .. `finished_at`); `id`, `run`, `elf`, `task`,
/// `priority`, `ndeps`, `retry`, `timeout_ms` and `parent` never change
/// after submission, except `retry`'s attempts through `max_attempts`.
/// `turn` and `rank_ms` are set at insertion and changed only by
/// [`Tx::set_turns`](super::Tx::set_turns).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JobRow {
    /// The job.
    pub(crate) id: JobId,
    /// Its run.
    pub(crate) run: RunId,
    /// The elf serving it.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// Higher first among ready jobs of the same elf.
    pub(crate) priority: i32,
    /// How many dependency edges feed it (references, not producers).
    pub(crate) ndeps: u32,
    /// The retry policy, as submitted.
    pub(crate) retry: RetryPolicy,
    /// Per-attempt time limit.
    pub(crate) timeout_ms: Option<u64>,
    /// Where it is.
    pub(crate) state: JobState,
    /// Producers that have not succeeded yet.
    pub(crate) unmet: u32,
    /// Attempts charged to the task (infrastructure losses excluded).
    pub(crate) attempt: u32,
    /// Attempts the task may use.
    pub(crate) max_attempts: u32,
    /// Attempts lost to infrastructure (a dead or silent elf), charged to
    /// their own budget, [`RetryPolicy::max_lost`].
    pub(crate) lost: u32,
    /// The version that ran last.
    pub(crate) ran_sha: Option<TaskSha>,
    /// The instance holding (or that last held) the lease.
    pub(crate) holder: Option<InstanceId>,
    /// Lease expiry while claimed.
    pub(crate) lease_until: Option<Millis>,
    /// The fencing token, bumped at every claim.
    pub(crate) epoch: i64,
    /// Not claimable before this time.
    pub(crate) not_before: Millis,
    /// Last changed.
    pub(crate) updated_at: Millis,
    /// When the last attempt started.
    pub(crate) started_at: Option<Millis>,
    /// When it reached a final state.
    pub(crate) finished_at: Option<Millis>,
    /// The flow whose command created it (fixed at creation).
    pub(crate) parent: Option<JobId>,
    /// Its place in the claim order after `priority`: fair share between
    /// runs and critical path within its run (`crate::lifecycle::sched`).
    pub(crate) turn: i64,
    /// The rank its turn was computed from, in ms (the longest remaining
    /// path to the end of its run), for display.
    pub(crate) rank_ms: u64,
}

/// A job to insert: its row plus what is fixed at submission.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NewJob {
    /// The lifecycle fields.
    pub(crate) row: JobRow,
    /// Its key within the run.
    pub(crate) key: Option<String>,
    /// The arguments as JSON text, references bound to job ids.
    pub(crate) args: String,
    /// The version the driver expected.
    pub(crate) expected_sha: Option<TaskSha>,
    /// Created.
    pub(crate) created_at: Millis,
}

/// A run as the lifecycle keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunRow {
    /// The run document (counters included).
    pub(crate) run: Run,
    /// The submission's idempotency key.
    pub(crate) idempotency_key: Option<String>,
    /// Its virtual start: the store's virtual time when it was created,
    /// plus one; its jobs' turns start there.
    pub(crate) vstart: i64,
    /// Its share of the elves relative to other runs (1 by default).
    pub(crate) weight: u32,
}

/// A job's stored result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResultRow {
    /// The job.
    pub(crate) job: JobId,
    /// The epoch of the attempt that won.
    pub(crate) epoch: i64,
    /// The value.
    pub(crate) value: Value,
    /// When it was stored.
    pub(crate) at: Millis,
}

/// A result to insert, already encoded (and checked against the limits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewResult {
    /// The job.
    pub(crate) job: JobId,
    /// The epoch of the attempt that won.
    pub(crate) epoch: i64,
    /// The value as JSON text.
    pub(crate) value: String,
    /// When.
    pub(crate) at: Millis,
}

/// An event to append; the backend gives it its `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewEvent {
    /// When.
    pub(crate) at: Millis,
    /// What.
    pub(crate) kind: EventKind,
    /// The run concerned.
    pub(crate) run: Option<RunId>,
    /// The job concerned.
    pub(crate) job: Option<JobId>,
    /// For `job_state`: the state entered.
    pub(crate) state: Option<JobState>,
    /// Details, as JSON text (an object), if any.
    pub(crate) data: Option<String>,
}

impl NewEvent {
    /// A job's state change.
    pub(crate) fn job(at: Millis, run: RunId, job: JobId, state: JobState, data: Option<String>) -> Self {
        Self { at, kind: EventKind::JobState, run: Some(run), job: Some(job), state: Some(state), data }
    }

    /// An event of a run (created, finished, reopened).
    pub(crate) fn run(at: Millis, kind: EventKind, run: RunId, data: String) -> Self {
        Self { at, kind, run: Some(run), job: None, state: None, data: Some(data) }
    }

    /// An event of neither a run nor a job (elves, task versions).
    pub(crate) fn other(at: Millis, kind: EventKind, data: String) -> Self {
        Self { at, kind, run: None, job: None, state: None, data: Some(data) }
    }
}

/// Who holds a leader role, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaderRow {
    /// The role (`coordinator`).
    pub(crate) role: String,
    /// The holder's identity.
    pub(crate) holder: String,
    /// Its lease's expiry.
    pub(crate) until: Millis,
}

/// Which ready jobs a claim may take, in claim order (priority, then turn,
/// then id).
#[derive(Clone, Debug)]
pub(crate) struct ClaimScan<'a> {
    /// Jobs of this elf only.
    pub(crate) elf: &'a str,
    /// Of these tasks only.
    pub(crate) tasks: &'a [String],
    /// Claimable at this time (`not_before <= now`).
    pub(crate) now: Millis,
    /// At most this many.
    pub(crate) max: u32,
}

/// What a claim writes into each job it takes: the one definition of the
/// transition from `ready` to `claimed`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClaimSet<'a> {
    /// The elf instance that takes the jobs.
    pub(crate) holder: &'a InstanceId,
    /// Their lease runs out then.
    pub(crate) lease_until: Millis,
    /// The time of the claim.
    pub(crate) now: Millis,
}

impl ClaimSet<'_> {
    /// Makes the ready `row` claimed: held by the holder until the lease
    /// ends, one epoch and one attempt further, started now.
    pub(crate) fn apply(&self, row: &mut JobRow) {
        row.state = JobState::Claimed;
        row.holder = Some(self.holder.clone());
        row.epoch += 1;
        row.attempt += 1;
        row.lease_until = Some(self.lease_until);
        row.started_at = Some(self.now);
        row.updated_at = self.now;
    }
}

/// A job as a claim wrote it: only what the lifecycle hands the elf, logs
/// and orders by, so that a backend reads (and decodes) no more of the row
/// than that. [`Tx::claim_ready`](super::Tx::claim_ready) returns these.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClaimedRow {
    /// The job.
    pub(crate) id: JobId,
    /// Its run.
    pub(crate) run: RunId,
    /// The task.
    pub(crate) task: String,
    /// Its arguments.
    pub(crate) args: Value,
    /// Its priority (the claim order's first key).
    pub(crate) priority: i32,
    /// Its turn (the claim order's second key).
    pub(crate) turn: i64,
    /// How many dependency edges feed it.
    pub(crate) ndeps: u32,
    /// The epoch the claim gave it.
    pub(crate) epoch: i64,
    /// The attempt the claim started.
    pub(crate) attempt: u32,
    /// Attempts the task may use.
    pub(crate) max_attempts: u32,
    /// Per-attempt time limit.
    pub(crate) timeout_ms: Option<u64>,
}

impl ClaimedRow {
    /// The claimed part of `row` (already [`ClaimSet::apply`]'d) and its
    /// arguments.
    pub(crate) fn of(row: JobRow, args: Value) -> Self {
        Self {
            id: row.id,
            run: row.run,
            task: row.task,
            args,
            priority: row.priority,
            turn: row.turn,
            ndeps: row.ndeps,
            epoch: row.epoch,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            timeout_ms: row.timeout_ms,
        }
    }
}

/// The id sequences the lifecycle draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Sequence {
    /// Job ids.
    Jobs,
    /// Run ids.
    Runs,
}

/// One entry of the agents' catalog: a declaration (a signal, a
/// subscription, a queue, a schedule) as a JSON document, by kind and key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CatalogRow {
    /// What it declares (`signal`, `subscription`, `queue`, `schedule`).
    pub(crate) kind: String,
    /// Its key, unique within its kind.
    pub(crate) key: String,
    /// The document.
    pub(crate) value: Value,
}

/// A write to the catalog: a document to put, or `None` to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CatalogWrite {
    /// The kind.
    pub(crate) kind: String,
    /// The key.
    pub(crate) key: String,
    /// The document as JSON text, or `None` to delete the entry.
    pub(crate) value: Option<String>,
}

/// How many jobs match a query, and the oldest one's creation time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct JobStats {
    /// Matching jobs.
    pub(crate) count: u64,
    /// When the oldest of them was created.
    pub(crate) oldest: Option<Millis>,
}
