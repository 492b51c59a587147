//! The part of the seam that retention adds: finding finished runs older
//! than a cut-off, and deleting runs with everything recorded under them.
//! Every backend implements these beside [`Read`](super::seam::Read) and
//! [`Tx`](super::seam::Tx), whose supertraits they are.

use super::Result;
use crate::model::{JobId, Millis, RunId, TaskSha};

/// What deleting runs removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// Runs.
    pub runs: u64,
    /// Jobs (flows' histories and signals with them).
    pub jobs: u64,
    /// Results.
    pub results: u64,
    /// Failure records.
    pub failures: u64,
    /// Events.
    pub events: u64,
    /// Task versions no longer named by anything kept (their source and
    /// their names).
    pub versions: u64,
}

impl Deleted {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Deleted) {
        self.runs += other.runs;
        self.jobs += other.jobs;
        self.results += other.results;
        self.failures += other.failures;
        self.events += other.events;
        self.versions += other.versions;
    }
}

/// Reads retention needs.
pub(crate) trait RetentionRead {
    /// Runs that ended (succeeded, failed or cancelled) before `before`,
    /// oldest id first, at most `limit`.
    fn finished_runs(&mut self, before: Millis, limit: u32) -> Result<Vec<RunId>>;

    /// The task versions that no job, flow step, failure record or running
    /// elf instance names, and the largest job id when looked (jobs
    /// submitted after it are checked again by
    /// [`RetentionTx::delete_versions`]). A scan of every job: done outside
    /// any write.
    fn unreferenced_versions(&mut self) -> Result<(Vec<TaskSha>, JobId)>;
}

/// Writes retention needs.
pub(crate) trait RetentionTx {
    /// Deletes at most `max_jobs` jobs of `runs`, taken in order, with
    /// their edges, results, events, flows' histories and signals and
    /// (unless `keep_failures`) failure records; a run none of whose jobs is
    /// left goes too, with its own events and failure records. So the first
    /// `runs` of the answer are gone entirely, the next one perhaps in part.
    /// Elves, tokens and the agents' catalog stay; task versions go by
    /// [`RetentionTx::delete_versions`].
    fn delete_runs(&mut self, runs: &[RunId], max_jobs: u32, keep_failures: bool) -> Result<Deleted>;

    /// Deletes those of `shas` (found unreferenced by
    /// [`RetentionRead::unreferenced_versions`]) that no job submitted after
    /// `after` and no running elf instance names now, with their names;
    /// returns how many went.
    fn delete_versions(&mut self, shas: &[TaskSha], after: JobId) -> Result<u64>;
}
