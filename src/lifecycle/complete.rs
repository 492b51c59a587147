//! Storing results, and the readiness that follows.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Store;
use super::fail::fail_row;
use super::outcomes::Completed;
use super::work::Work;
use crate::model::{Completion, FailureKind, FailureReport, JobId, JobState, Lease, Outcome};
use crate::storage::rows::{JobRow, NewEvent, NewResult};
use crate::storage::{Error, Result};

/// A result, encoded, or why it cannot be stored.
pub(super) type Encoded = std::result::Result<String, FailureReport>;

impl Store {
    /// Stores results; one outcome per completion, in order. A result over
    /// the store's size limit is refused (`Outcome::Refused`) and its attempt
    /// recorded as a failure instead; the rest of the batch is stored.
    pub fn complete(&self, done: &[Completion]) -> Result<Completed> {
        let texts = self.encode_results(done)?;
        self.write("store results", |w| complete(w, done, &texts))
    }

    /// Encodes each result, checking it against the payload limit.
    pub(super) fn encode_results(&self, done: &[Completion]) -> Result<Vec<Encoded>> {
        let limit = self.limits().max_payload;
        done.iter()
            .map(|c| {
                let text = serde_json::to_string(&c.value).map_err(|e| Error::backend("encode a result", e))?;
                if text.len() > limit {
                    let mut report = FailureReport::new(
                        FailureKind::Error,
                        format!(
                            "the task's value is {} bytes, over the store's limit of {limit} bytes (pass large data \
                             by reference, e.g. a file path, or raise the limit with ?max_payload= on the store URL)",
                            text.len()
                        ),
                    );
                    report.retryable = false;
                    report.ran_sha.clone_from(&c.ran_sha);
                    return Ok(Err(report));
                }
                Ok(Ok(text))
            })
            .collect()
    }
}

/// Why a lease's write was refused: the job was cancelled, or the lease is
/// gone. A repeat of a completion that already took effect is `Ok`.
pub(super) fn settled(w: &mut Work<'_>, row: Option<&JobRow>, lease: &Lease) -> Result<Outcome> {
    Ok(match row {
        Some(r) if r.state == JobState::Cancelled => Outcome::Cancelled,
        Some(r) if r.state == JobState::Succeeded && r.epoch == lease.epoch => {
            let won = w.tx.results(&[lease.job])?.pop().map(|r| r.epoch);
            if won == Some(lease.epoch) { Outcome::Ok } else { Outcome::LeaseLost }
        }
        _ => Outcome::LeaseLost,
    })
}

/// Whether `row` is claimed under `lease`.
pub(super) fn holds(row: &JobRow, lease: &Lease) -> bool {
    row.state == JobState::Claimed && row.epoch == lease.epoch
}

/// Stores results for leases that still hold, and makes consumers ready.
pub(super) fn complete(w: &mut Work<'_>, done: &[Completion], texts: &[Encoded]) -> Result<Completed> {
    let now = w.now;
    let ids: Vec<JobId> = done.iter().map(|c| c.lease.job).collect();
    let mut rows: HashMap<JobId, JobRow> = w.tx.job_rows(&ids)?.into_iter().map(|r| (r.id, r)).collect();
    let mut outcomes = Vec::with_capacity(done.len());
    let mut updated: Vec<JobRow> = Vec::with_capacity(done.len());
    let mut results: Vec<NewResult> = Vec::with_capacity(done.len());
    let mut stored: HashSet<JobId> = HashSet::new();
    let mut succeeded: Vec<JobId> = Vec::with_capacity(done.len());
    for (c, text) in done.iter().zip(texts) {
        let Some(row) = rows.get_mut(&c.lease.job).filter(|r| holds(r, &c.lease)) else {
            // Repeats within this batch answer like the first.
            let repeat =
                stored.contains(&c.lease.job) && rows.get(&c.lease.job).is_some_and(|r| r.epoch == c.lease.epoch);
            let outcome = if repeat { Outcome::Ok } else { settled(w, rows.get(&c.lease.job), &c.lease)? };
            outcomes.push(outcome);
            continue;
        };
        let text = match text {
            Ok(t) => t,
            Err(report) => {
                // Refused: the attempt fails instead (written after the batch).
                let row = row.clone();
                outcomes.push(Outcome::Refused);
                if let Some(r) = rows.get_mut(&c.lease.job) {
                    r.state = JobState::Failed; // not claimable by a repeat of this batch
                }
                fail_row(w, row, report)?;
                continue;
            }
        };
        row.state = JobState::Succeeded;
        if c.ran_sha.is_some() {
            row.ran_sha.clone_from(&c.ran_sha);
        }
        row.lease_until = None;
        // A job claimed ahead started when its wait in the elf ended.
        let waited = i64::try_from(c.waited_ms).unwrap_or(i64::MAX);
        row.started_at = row.started_at.map(|s| s.saturating_add(waited).min(now));
        row.finished_at = Some(now);
        row.updated_at = now;
        results.push(NewResult { job: row.id, epoch: c.lease.epoch, value: text.clone(), at: now });
        stored.insert(row.id);
        w.event(NewEvent::job(now, row.run, row.id, JobState::Succeeded, None));
        w.closed_job(row, false);
        succeeded.push(row.id);
        updated.push(row.clone());
        outcomes.push(Outcome::Ok);
    }
    if !updated.is_empty() {
        w.tx.update_jobs(&updated)?;
        w.tx.insert_results(&results)?;
        propagate_success(w, &succeeded)?;
    }
    Ok(Completed { outcomes, readied: w.take_readied() })
}

/// Counts each consumer's producers that just succeeded against its unmet
/// count; consumers that reach zero become ready.
pub(super) fn propagate_success(w: &mut Work<'_>, succeeded: &[JobId]) -> Result<()> {
    let deps = w.tx.consumers(succeeded)?;
    if deps.is_empty() {
        return Ok(());
    }
    // Distinct producers per consumer: one edge per reference site.
    let mut met: BTreeMap<JobId, HashSet<JobId>> = BTreeMap::new();
    for d in deps {
        met.entry(d.consumer).or_default().insert(d.producer);
    }
    let consumers: Vec<JobId> = met.keys().copied().collect();
    let now = w.now;
    let mut updated = Vec::new();
    for mut row in w.tx.job_rows(&consumers)? {
        if row.state != JobState::Pending {
            continue;
        }
        let n = met.get(&row.id).map_or(0, |s| s.len() as u32);
        row.unmet = row.unmet.saturating_sub(n);
        row.updated_at = now;
        if row.unmet == 0 {
            row.state = JobState::Ready;
            w.event(NewEvent::job(now, row.run, row.id, JobState::Ready, None));
            w.ready(&row.elf);
        }
        updated.push(row);
    }
    if !updated.is_empty() {
        w.tx.update_jobs(&updated)?;
    }
    Ok(())
}
