//! Jobs: one task call each, and the claim protocol's documents.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{InstanceId, JobId, Millis, RetryPolicy, RunId, RunSpec, TaskSha};

/// Where a job is in its life.
///
/// `pending` (unmet dependencies) -> `ready` -> `claimed` -> `succeeded`, or
/// back to `ready` (a retry, a released or expired lease), or `failed`. A
/// flow that suspends goes from `claimed` to `waiting`, and back to `ready`
/// when what it awaits happens.
/// Consumers of a failed job become `upstream_failed`; any job not yet final
/// can be `cancelled`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for producers to succeed.
    Pending,
    /// Every producer succeeded; an elf may claim it (once `not_before` passed).
    Ready,
    /// An elf holds a lease on it.
    Claimed,
    /// A flow suspended until what it awaits (a child job, a timer, a
    /// signal) happens: it holds no lease, no slot and no process.
    Waiting,
    /// Its result is stored.
    Succeeded,
    /// Its last attempt failed and no attempt is left.
    Failed,
    /// A producer failed, so it can never run.
    UpstreamFailed,
    /// Cancelled before it finished.
    Cancelled,
}

super::names::named!(JobState, "job state");

impl JobState {
    /// Whether nothing more happens to the job (short of a manual retry).
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::UpstreamFailed | JobState::Cancelled)
    }
}

/// One job to create, as a driver submits it.
///
/// `args` is any JSON value; an upstream output appears in it, anywhere
/// (inside lists and maps too), as a reference object
/// `{"$output": <producer>, "path": "/json/pointer"}` where `<producer>` is
/// either the integer id of an existing job or the `key` of a job of the same
/// submission, and `path` (optional) selects part of the producer's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobSpec {
    /// The job's name within its run, unique there; references by other jobs
    /// of the submission use it. Defaults to its index in the submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The elf that serves the task.
    pub elf: String,
    /// The task's name.
    pub task: String,
    /// The arguments, a JSON array in parameter order (or any JSON value for
    /// dynamic tasks), holding output references where upstream values go.
    pub args: Value,
    /// The task version the driver was compiled against, if known. Recorded
    /// for comparison; the elf's own version is the one that runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_sha: Option<TaskSha>,
    /// Higher runs first among ready jobs of the same elf.
    #[serde(default)]
    pub priority: i32,
    /// Attempts and backoff.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// How long one attempt may run, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl JobSpec {
    /// A job calling `elf`/`task` with `args`, with default options.
    pub fn new(elf: impl Into<String>, task: impl Into<String>, args: Value) -> Self {
        Self {
            key: None,
            elf: elf.into(),
            task: task.into(),
            args,
            expected_sha: None,
            priority: 0,
            retry: RetryPolicy::default(),
            timeout_ms: None,
        }
    }

    /// The same job with a key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// A whole orchestration (or more jobs for an existing run), written in one
/// transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Submission {
    /// The run to create.
    pub run: RunSpec,
    /// The jobs, in any order that lets references resolve (a reference to a
    /// key may point forward; cycles are rejected).
    pub jobs: Vec<JobSpec>,
}

/// What a submission created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Submitted {
    /// The run.
    pub run: RunId,
    /// The job ids, in the order of `Submission::jobs`.
    pub jobs: Vec<JobId>,
    /// Whether the submission's idempotency key matched an earlier one, in
    /// which case nothing was written and the earlier ids are returned.
    pub existing: bool,
    /// How many of the jobs were ready at once.
    pub ready: u32,
    /// Of those, how many per elf (to wake as many idle elves).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub readied: std::collections::BTreeMap<String, u32>,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Its run.
    pub run: RunId,
    /// Its key within the run, when the driver gave one.
    pub key: Option<String>,
    /// The elf that serves it.
    pub elf: String,
    /// The task.
    pub task: String,
    /// Arguments with output references (ids of producers).
    pub args: Value,
    /// Where it is.
    pub state: JobState,
    /// Producers that have not succeeded yet.
    pub unmet: u32,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed (the policy's, raised by manual retries).
    pub max_attempts: u32,
    /// Attempts lost to infrastructure (a dead or silent elf): not charged
    /// to `attempt`, bounded by the retry policy's `max_lost`.
    #[serde(default)]
    pub lost: u32,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Per-attempt time limit in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The flow job whose command created it, for a flow's child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<JobId>,
    /// The version the driver expected, if any.
    pub expected_sha: Option<TaskSha>,
    /// The version that ran (last attempt).
    pub ran_sha: Option<TaskSha>,
    /// The elf instance holding the lease (while claimed) or that last held it.
    pub holder: Option<InstanceId>,
    /// Lease expiry while claimed.
    pub lease_until: Option<Millis>,
    /// The fencing token: bumped at every claim.
    pub epoch: i64,
    /// Not claimable before this time (retry backoff).
    pub not_before: Millis,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
    /// When the last attempt started.
    pub started_at: Option<Millis>,
    /// When it reached a final state.
    pub finished_at: Option<Millis>,
    /// Its place in the claim order after `priority` (lower first): fair
    /// share between runs and critical path within its run (the README's
    /// "Scheduling").
    #[serde(default)]
    pub turn: i64,
    /// The rank its turn was computed from, in ms: the longest path from it
    /// to the end of its run, weighted by measured durations, as last
    /// computed (at submission, or by a reorder).
    #[serde(default)]
    pub rank_ms: u64,
}

/// The right to write a job's outcome: the job and the fencing epoch of the
/// claim that granted it. A write with a stale epoch is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// The epoch its claim set.
    pub epoch: i64,
}

impl fmt::Display for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {} epoch {}", self.job, self.epoch)
    }
}

/// What happened to a write carried by a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The write took effect (or had already, with this same epoch).
    Ok,
    /// The lease is gone (expired and reclaimed, released): nothing written.
    LeaseLost,
    /// The job was cancelled: nothing written; stop working on it.
    Cancelled,
    /// The write was invalid (a result over the store's size limit): the
    /// attempt was recorded as a failure instead.
    Refused,
}

/// A job handed to an elf by a claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Claimed {
    /// The lease to write back with.
    pub lease: Lease,
    /// The job's run.
    pub run: RunId,
    /// The task.
    pub task: String,
    /// Arguments, with output references still in place.
    pub args: Value,
    /// The results of this job's producers, for resolving the references.
    pub inputs: Vec<(JobId, Value)>,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Per-attempt time limit.
    pub timeout_ms: Option<u64>,
    /// When the lease runs out unless renewed.
    pub lease_until: Millis,
}

/// A result to store for a claimed job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Completion {
    /// The lease that ran it.
    pub lease: Lease,
    /// The task version that ran.
    pub ran_sha: Option<TaskSha>,
    /// The task's value.
    pub value: Value,
    /// How long the job waited in the elf between its claim and its start
    /// (an elf claims a slot's next job shortly before the slot frees): its
    /// recorded start moves on by as much, so that measured durations are
    /// those of the runs. Relative, so clock skew between machines does not
    /// enter it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waited_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
