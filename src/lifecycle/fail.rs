//! Failed attempts: the retry decision and backoff, infrastructure losses
//! and poison jobs, failure records, and `upstream_failed` propagation.

use std::collections::HashSet;

use serde_json::json;

use super::Store;
use super::complete::{holds, settled};
use super::outcomes::Failed;
use super::work::Work;
use crate::model::{Failure, FailureId, FailureKind, FailureReport, InstanceId, JobId, JobState, Lease, Outcome};
use crate::storage::Result;
use crate::storage::rows::{JobRow, NewEvent};

impl Store {
    /// Records a failed attempt. The job goes back to `ready` after its
    /// backoff when the report is retryable and attempts are left; otherwise
    /// it fails for good and its consumers become `upstream_failed`.
    /// Infrastructure losses (`elf_lost`, `lease_expired`) are charged to
    /// the job's `max_lost` budget instead of its attempts.
    pub fn fail(&self, lease: &Lease, report: &FailureReport) -> Result<Failed> {
        self.write("record a failure", |w| {
            let row = w.tx.job_rows(&[lease.job])?.pop();
            match row {
                Some(row) if holds(&row, lease) => {
                    let done = fail_row(w, row, report)?;
                    Ok(Failed {
                        outcome: Outcome::Ok,
                        failure: Some(done.failure),
                        retry_at: done.retry_at,
                        readied: w.take_readied(),
                    })
                }
                other => Ok(Failed {
                    outcome: settled(w, other.as_ref(), lease)?,
                    failure: None,
                    retry_at: None,
                    readied: Default::default(),
                }),
            }
        })
    }
}

/// What recording a failed attempt did.
pub(super) struct FailedRow {
    pub(super) failure: FailureId,
    /// When the next attempt may start, if one is scheduled.
    pub(super) retry_at: Option<i64>,
}

/// Records a failed attempt of the claimed job `row` and decides what
/// follows: a retry after backoff, or a final failure that propagates.
pub(super) fn fail_row(w: &mut Work<'_>, mut row: JobRow, report: &FailureReport) -> Result<FailedRow> {
    let now = w.now;
    let infra = report.kind.is_infrastructure();
    let attempt = row.attempt;
    let (will_retry, recorded) = if infra {
        // Not the task's fault: the attempt is given back, the loss counted.
        row.attempt = row.attempt.saturating_sub(1);
        row.lost += 1;
        if row.lost < row.retry.max_lost.max(1) { (true, None) } else { (false, Some(poison(&row, report))) }
    } else {
        (report.retryable && attempt < row.max_attempts && report.kind != FailureKind::UpstreamFailed, None)
    };
    let report = recorded.as_ref().unwrap_or(report);
    let holder = row.holder.clone();
    let failure = insert_failure(w, &row, attempt, row.epoch, holder.as_ref(), row.started_at, will_retry, report)?;
    if report.ran_sha.is_some() {
        row.ran_sha.clone_from(&report.ran_sha);
    }
    row.lease_until = None;
    row.updated_at = now;
    if will_retry {
        let delay =
            if infra { 0 } else { i64::try_from(row.retry.jittered_delay_ms(attempt + 1)).unwrap_or(i64::MAX / 4) };
        let not_before = now.saturating_add(delay);
        row.state = JobState::Ready;
        row.not_before = not_before;
        let data = json!({ "failure": failure.0, "retry": row.attempt + 1, "not_before": not_before }).to_string();
        w.event(NewEvent::job(now, row.run, row.id, JobState::Ready, Some(data)));
        if delay == 0 {
            w.ready(&row.elf);
        }
        w.tx.update_jobs(std::slice::from_ref(&row))?;
        return Ok(FailedRow { failure, retry_at: Some(not_before) });
    }
    row.state = JobState::Failed;
    row.finished_at = Some(now);
    let data = json!({ "failure": failure.0 }).to_string();
    w.event(NewEvent::job(now, row.run, row.id, JobState::Failed, Some(data)));
    w.closed_job(&row, true);
    w.tx.update_jobs(std::slice::from_ref(&row))?;
    propagate_failure(w, row.id, failure)?;
    Ok(FailedRow { failure, retry_at: None })
}

/// The report of a job that lost its elf once too often.
fn poison(row: &JobRow, last: &FailureReport) -> FailureReport {
    let mut report = FailureReport::new(
        FailureKind::Poison,
        format!(
            "the elf running this job was lost {} times (the budget is {}; last: {}): the job is likely killing the \
             elves that run it (a poison job); look at its inputs with `mycelium failure`, fix the task, then \
             `mycelium retry {}`",
            row.lost,
            row.retry.max_lost.max(1),
            last.message,
            row.id
        ),
    );
    report.retryable = false;
    report.ran_sha.clone_from(&last.ran_sha);
    report
}

/// Inserts one failure record.
#[expect(clippy::too_many_arguments, reason = "one failure row's fields")]
fn insert_failure(
    w: &mut Work<'_>,
    row: &JobRow,
    attempt: u32,
    epoch: i64,
    instance: Option<&InstanceId>,
    started_at: Option<i64>,
    will_retry: bool,
    report: &FailureReport,
) -> Result<FailureId> {
    let (host, pid) = match instance {
        Some(i) => w.tx.elf(i)?.map_or((None, None), |e| (Some(e.host), Some(e.pid))),
        None => (None, None),
    };
    let failure = Failure {
        id: FailureId(0),
        job: row.id,
        run: row.run,
        elf: row.elf.clone(),
        task: row.task.clone(),
        attempt,
        epoch,
        instance: instance.cloned(),
        host,
        pid,
        started_at,
        at: w.now,
        signature: report.signature(&row.elf, &row.task),
        will_retry,
        report: report.clone(),
    };
    let ids = w.tx.insert_failures(std::slice::from_ref(&failure))?;
    Ok(ids.into_iter().next().unwrap_or(FailureId(0)))
}

/// Marks every job downstream of `job` (transitively) `upstream_failed`.
pub(super) fn propagate_failure(w: &mut Work<'_>, job: JobId, cause: FailureId) -> Result<()> {
    let mut report = FailureReport::new(
        FailureKind::UpstreamFailed,
        format!("upstream job {job} failed (failure {cause}), so this job could not run"),
    );
    report.retryable = false;
    let data = json!({ "upstream": job.0, "failure": cause.0 }).to_string();
    let now = w.now;
    let mut seen: HashSet<JobId> = HashSet::from([job]);
    let mut frontier = vec![job];
    while !frontier.is_empty() {
        let mut next: Vec<JobId> = w.tx.consumers(&frontier)?.into_iter().map(|d| d.consumer).collect();
        next.retain(|c| seen.insert(*c));
        if next.is_empty() {
            break;
        }
        let mut updated = Vec::new();
        for mut row in w.tx.job_rows(&next)? {
            if !matches!(row.state, JobState::Pending | JobState::Ready) {
                continue;
            }
            insert_failure(w, &row, row.attempt, 0, None, None, false, &report)?;
            row.state = JobState::UpstreamFailed;
            row.finished_at = Some(now);
            row.updated_at = now;
            w.event(NewEvent::job(now, row.run, row.id, JobState::UpstreamFailed, Some(data.clone())));
            w.closed_job(&row, true);
            updated.push(row);
        }
        if !updated.is_empty() {
            w.tx.update_jobs(&updated)?;
        }
        frontier = next;
    }
    Ok(())
}

/// Fails the attempts whose lease ran out, as `lease_expired` (an
/// infrastructure loss); returns the jobs that failed for good.
pub(super) fn expire(w: &mut Work<'_>, rows: Vec<JobRow>) -> Result<Vec<JobId>> {
    let mut failed = Vec::new();
    for row in rows {
        let last_heartbeat = match &row.holder {
            Some(h) => w.tx.elf(h)?.map(|e| e.heartbeat_at),
            None => None,
        };
        let report = FailureReport::new(
            FailureKind::LeaseExpired,
            format!(
                "the lease of elf instance {} ran out at {} (its last heartbeat was at {}); the elf is presumed dead or stalled",
                row.holder.as_ref().map_or("?", |h| h.0.as_str()),
                row.lease_until.unwrap_or(0),
                last_heartbeat.map_or_else(|| "never".to_owned(), |h| h.to_string())
            ),
        );
        let id = row.id;
        if fail_row(w, row, &report)?.retry_at.is_none() {
            failed.push(id);
        }
    }
    Ok(failed)
}
