//! What the lifecycle's operations take and answer: named structs, never
//! tuples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Claimed, FailureId, InstanceId, JobId, Millis, Outcome, RunId};

/// Newly ready jobs per elf name, so that a writer can ring the doorbell for
/// exactly as many idle elves as there is new work.
pub type Readied = BTreeMap<String, u32>;

/// Adds `from`'s counts to `into`.
pub(crate) fn merge(into: &mut Readied, from: Readied) {
    for (elf, n) in from {
        *into.entry(elf).or_default() += n;
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

/// What storing results did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// One outcome per completion, in order.
    pub outcomes: Vec<Outcome>,
    /// Jobs that became ready.
    pub readied: Readied,
}

/// What an elf's turn (store results, then claim) did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    /// One outcome per completion, in order.
    pub outcomes: Vec<Outcome>,
    /// Jobs that became ready (before the claim took any).
    pub readied: Readied,
    /// The jobs claimed.
    pub claimed: Vec<Claimed>,
}

/// What giving jobs back did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// One outcome per lease, in order.
    pub outcomes: Vec<Outcome>,
    /// Jobs that became ready.
    pub readied: Readied,
}

/// How an elf instance left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// It stopped cleanly (after releasing what it held).
    Stopped,
    /// It died: there is evidence (its process is gone, or its lease ran out).
    Lost,
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
