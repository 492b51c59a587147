//! The part of the seam that retention adds: finding finished runs older
//! than a cut-off, and deleting runs with everything recorded under them.
//! Every backend implements these beside [`Read`](super::seam::Read) and
//! [`Tx`](super::seam::Tx), whose supertraits they are.

use super::Result;
use crate::model::{Millis, RunId};

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
}

impl Deleted {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Deleted) {
        self.runs += other.runs;
        self.jobs += other.jobs;
        self.results += other.results;
        self.failures += other.failures;
        self.events += other.events;
    }
}

/// Reads retention needs.
pub(crate) trait RetentionRead {
    /// Runs that ended (succeeded, failed or cancelled) before `before`,
    /// oldest id first, at most `limit`.
    fn finished_runs(&mut self, before: Millis, limit: u32) -> Result<Vec<RunId>>;
}

/// Writes retention needs.
pub(crate) trait RetentionTx {
    /// Deletes `runs` with their jobs, edges, results, events, flows'
    /// histories and signals, and (unless `keep_failures`) failure records.
    /// Task versions, elves, tokens and the agents' catalog stay.
    fn delete_runs(&mut self, runs: &[RunId], keep_failures: bool) -> Result<Deleted>;
}
