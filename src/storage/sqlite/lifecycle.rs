//! The job lifecycle in write transactions: claim, complete, fail, release,
//! heartbeat, reap, cancel, and the propagation that follows each.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::json;

use super::SqliteStore;
use crate::model::{
    Claimed, Completion, FailureId, FailureKind, FailureReport, InstanceId, JobId, JobState, Lease, Millis, Outcome,
    RetryPolicy, RunId, RunState, now_ms,
};
use crate::storage::validate;
use crate::storage::{ClaimRequest, Error, Failed, Readied, Reaped, Result};

/// Jobs made final per run: (closed, of which failed).
pub(super) type Closed = BTreeMap<RunId, (u64, u64)>;

/// A job state change to log.
pub(super) struct JobEvent<'a> {
    pub(super) at: Millis,
    pub(super) run: RunId,
    pub(super) job: JobId,
    pub(super) state: JobState,
    pub(super) data: Option<&'a str>,
}

/// Appends the event of a job state change.
pub(super) fn job_event(tx: &Transaction<'_>, e: &JobEvent<'_>) -> Result<()> {
    tx.prepare_cached("INSERT INTO events(at, kind, run, job, state, data) VALUES (?1, 'job_state', ?2, ?3, ?4, ?5)")?
        .execute(params![e.at, e.run.0, e.job.0, e.state.as_str(), e.data])?;
    Ok(())
}

/// Counts jobs made final against their runs, and ends every run whose last
/// open job this was.
pub(super) fn close_jobs(tx: &Transaction<'_>, now: Millis, closed: &Closed) -> Result<()> {
    let mut update = tx.prepare_cached(
        "UPDATE runs SET open = open - ?2, failed = failed + ?3 WHERE id = ?1 RETURNING open, failed, state",
    )?;
    for (run, (n, failed)) in closed {
        let (open, failed_total, state): (i64, i64, String) =
            update.query_row(params![run.0, *n as i64, *failed as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if open <= 0 && state == RunState::Running.as_str() {
            let end = if failed_total > 0 { RunState::Failed } else { RunState::Succeeded };
            finish_run(tx, now, *run, end, None)?;
        }
    }
    Ok(())
}

fn finish_run(tx: &Transaction<'_>, now: Millis, run: RunId, state: RunState, reason: Option<&str>) -> Result<()> {
    tx.prepare_cached("UPDATE runs SET state = ?2, finished_at = ?3 WHERE id = ?1")?.execute(params![
        run.0,
        state.as_str(),
        now
    ])?;
    let data = json!({ "state": state.as_str(), "reason": reason }).to_string();
    tx.prepare_cached("INSERT INTO events(at, kind, run, data) VALUES (?1, 'run_finished', ?2, ?3)")?
        .execute(params![now, run.0, data])?;
    Ok(())
}

/// Why a lease's write was refused: the job was cancelled, or the lease is
/// gone. A repeat of a completion that already took effect is `Ok`.
fn settled(tx: &Transaction<'_>, lease: &Lease) -> Result<Outcome> {
    let row: Option<(String, i64)> = tx
        .prepare_cached("SELECT state, epoch FROM jobs WHERE id = ?1")?
        .query_row([lease.job.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((state, _)) if state == JobState::Cancelled.as_str() => Outcome::Cancelled,
        Some((state, epoch)) if state == JobState::Succeeded.as_str() && epoch == lease.epoch => {
            let won: Option<i64> = tx
                .prepare_cached("SELECT epoch FROM results WHERE job = ?1")?
                .query_row([lease.job.0], |r| r.get(0))
                .optional()?;
            if won == Some(lease.epoch) { Outcome::Ok } else { Outcome::LeaseLost }
        }
        _ => Outcome::LeaseLost,
    })
}

/// Decrements the unmet count of `job`'s consumers; those that reach zero
/// become ready.
fn propagate_success(tx: &Transaction<'_>, now: Millis, job: JobId, readied: &mut Readied) -> Result<()> {
    // Most jobs feed nobody: a cheap index probe spares them the UPDATE.
    let feeds: bool =
        tx.prepare_cached("SELECT EXISTS(SELECT 1 FROM deps WHERE producer = ?1)")?.query_row([job.0], |r| r.get(0))?;
    if !feeds {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "UPDATE jobs SET unmet = unmet - 1, updated_at = ?2, \
           state = CASE WHEN unmet = 1 THEN 'ready' ELSE state END \
         WHERE state = 'pending' AND id IN (SELECT DISTINCT consumer FROM deps WHERE producer = ?1) \
         RETURNING id, run, elf, state",
    )?;
    let rows = stmt
        .query_map(params![job.0, now], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, run, elf, state) in rows {
        if state == JobState::Ready.as_str() {
            job_event(tx, &JobEvent { at: now, run: RunId(run), job: JobId(id), state: JobState::Ready, data: None })?;
            *readied.entry(elf).or_default() += 1;
        }
    }
    Ok(())
}

/// A failure row to insert.
struct FailureRow<'a> {
    job: JobId,
    run: RunId,
    elf: &'a str,
    task: &'a str,
    attempt: u32,
    epoch: i64,
    instance: Option<&'a str>,
    started_at: Option<Millis>,
    at: Millis,
    will_retry: bool,
    report: &'a FailureReport,
}

fn insert_failure(tx: &Transaction<'_>, f: &FailureRow<'_>) -> Result<FailureId> {
    let (host, pid): (Option<String>, Option<i64>) = match f.instance {
        Some(i) => tx
            .prepare_cached("SELECT host, pid FROM elves WHERE instance = ?1")?
            .query_row([i], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .map_or((None, None), |(h, p)| (Some(h), Some(p))),
        None => (None, None),
    };
    let report = serde_json::to_string(f.report).map_err(|e| Error::backend("encode a failure", e))?;
    tx.prepare_cached(
        "INSERT INTO failures(job, run, elf, task, attempt, epoch, kind, signature, instance, host, pid, \
         started_at, at, will_retry, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        f.job.0,
        f.run.0,
        f.elf,
        f.task,
        f.attempt,
        f.epoch,
        f.report.kind.as_str(),
        f.report.signature(f.elf, f.task),
        f.instance,
        host,
        pid,
        f.started_at,
        f.at,
        f.will_retry,
        report
    ])?;
    Ok(FailureId(tx.last_insert_rowid()))
}

/// Records a failed attempt of a claimed job and decides what follows.
pub(super) fn fail_job(tx: &Transaction<'_>, now: Millis, lease: &Lease, report: &FailureReport) -> Result<Failed> {
    let row = tx
        .prepare_cached(
            "SELECT run, elf, task, attempt, max_attempts, retry, holder, started_at FROM jobs \
             WHERE id = ?1 AND epoch = ?2 AND state = 'claimed'",
        )?
        .query_row(params![lease.job.0, lease.epoch], |r| {
            Ok((
                RunId(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .optional()?;
    let Some((run, elf, task, attempt, max_attempts, retry, holder, started_at)) = row else {
        return Ok(Failed { outcome: settled(tx, lease)?, failure: None, retry_at: None, readied: Readied::new() });
    };
    let policy: RetryPolicy = serde_json::from_str(&retry).map_err(|e| Error::backend("read a retry policy", e))?;
    let will_retry = report.retryable && attempt < max_attempts && report.kind != FailureKind::UpstreamFailed;
    let failure = insert_failure(
        tx,
        &FailureRow {
            job: lease.job,
            run,
            elf: &elf,
            task: &task,
            attempt,
            epoch: lease.epoch,
            instance: holder.as_deref(),
            started_at,
            at: now,
            will_retry,
            report,
        },
    )?;
    let ran_sha = report.ran_sha.as_ref().map(|s| s.as_str());
    let mut readied = Readied::new();
    if will_retry {
        let delay = i64::try_from(policy.jittered_delay_ms(attempt + 1)).unwrap_or(i64::MAX / 4);
        let not_before = now.saturating_add(delay);
        tx.prepare_cached(
            "UPDATE jobs SET state = 'ready', lease_until = NULL, not_before = ?2, \
             ran_sha = COALESCE(?3, ran_sha), updated_at = ?4 WHERE id = ?1",
        )?
        .execute(params![lease.job.0, not_before, ran_sha, now])?;
        let data = json!({ "failure": failure.0, "retry": attempt + 1, "not_before": not_before }).to_string();
        job_event(tx, &JobEvent { at: now, run, job: lease.job, state: JobState::Ready, data: Some(&data) })?;
        if delay == 0 {
            readied.insert(elf, 1);
        }
        return Ok(Failed { outcome: Outcome::Ok, failure: Some(failure), retry_at: Some(not_before), readied });
    }
    tx.prepare_cached(
        "UPDATE jobs SET state = 'failed', lease_until = NULL, ran_sha = COALESCE(?2, ran_sha), \
         finished_at = ?3, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![lease.job.0, ran_sha, now])?;
    let data = json!({ "failure": failure.0 }).to_string();
    job_event(tx, &JobEvent { at: now, run, job: lease.job, state: JobState::Failed, data: Some(&data) })?;
    let mut closed = Closed::from([(run, (1, 1))]);
    propagate_failure(tx, now, lease.job, failure, &mut closed)?;
    close_jobs(tx, now, &closed)?;
    Ok(Failed { outcome: Outcome::Ok, failure: Some(failure), retry_at: None, readied })
}

/// Marks every job downstream of `job` (transitively) `upstream_failed`.
fn propagate_failure(
    tx: &Transaction<'_>,
    now: Millis,
    job: JobId,
    cause: FailureId,
    closed: &mut Closed,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "WITH RECURSIVE down(id) AS ( \
           SELECT consumer FROM deps WHERE producer = ?1 \
           UNION SELECT d.consumer FROM deps d JOIN down ON d.producer = down.id) \
         UPDATE jobs SET state = 'upstream_failed', finished_at = ?2, updated_at = ?2 \
         WHERE id IN (SELECT id FROM down) AND state IN ('pending', 'ready') \
         RETURNING id, run, elf, task, attempt",
    )?;
    let rows = stmt
        .query_map(params![job.0, now], |r| {
            Ok((
                JobId(r.get(0)?),
                RunId(r.get(1)?),
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut report = FailureReport::new(
        FailureKind::UpstreamFailed,
        format!("upstream job {job} failed (failure {cause}), so this job could not run"),
    );
    report.retryable = false;
    let data = json!({ "upstream": job.0, "failure": cause.0 }).to_string();
    for (id, run, elf, task, attempt) in rows {
        insert_failure(
            tx,
            &FailureRow {
                job: id,
                run,
                elf: &elf,
                task: &task,
                attempt,
                epoch: 0,
                instance: None,
                started_at: None,
                at: now,
                will_retry: false,
                report: &report,
            },
        )?;
        job_event(tx, &JobEvent { at: now, run, job: id, state: JobState::UpstreamFailed, data: Some(&data) })?;
        let c = closed.entry(run).or_default();
        c.0 += 1;
        c.1 += 1;
    }
    Ok(())
}

/// Fails every job whose lease ran out by `now`, as `lease_expired`.
fn expire_leases(tx: &Transaction<'_>, now: Millis, reaped: &mut Reaped) -> Result<()> {
    let expired = tx
        .prepare_cached(
            "SELECT id, epoch, holder, lease_until FROM jobs WHERE state = 'claimed' AND lease_until < ?1 \
             ORDER BY lease_until LIMIT 1000",
        )?
        .query_map([now], |r| {
            Ok((JobId(r.get(0)?), r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (job, epoch, holder, until) in expired {
        let last_heartbeat: Option<i64> = match &holder {
            Some(h) => tx
                .prepare_cached("SELECT heartbeat_at FROM elves WHERE instance = ?1")?
                .query_row([h], |r| r.get(0))
                .optional()?,
            None => None,
        };
        let report = FailureReport::new(
            FailureKind::LeaseExpired,
            format!(
                "the lease of elf instance {} ran out at {} (its last heartbeat was at {}); the elf is presumed dead or stalled",
                holder.as_deref().unwrap_or("?"),
                until,
                last_heartbeat.map_or_else(|| "never".to_owned(), |h| h.to_string())
            ),
        );
        let failed = fail_job(tx, now, &Lease { job, epoch }, &report)?;
        reaped.expired.push(job);
        if failed.retry_at.is_none() {
            reaped.failed.push(job);
        }
        merge(&mut reaped.readied, failed.readied);
    }
    Ok(())
}

fn merge(into: &mut Readied, from: Readied) {
    for (elf, n) in from {
        *into.entry(elf).or_default() += n;
    }
}

impl SqliteStore {
    pub(super) fn claim_jobs(&self, req: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
        self.write("claim jobs", |tx| claim(tx, now_ms(), req))
    }

    pub(super) fn complete_jobs(&self, done: &[Completion]) -> Result<(Vec<Outcome>, Readied)> {
        let texts = self.encode_results(done)?;
        self.write("store results", |tx| complete(tx, now_ms(), done, &texts))
    }

    pub(super) fn complete_then_claim(
        &self,
        done: &[Completion],
        req: &ClaimRequest<'_>,
    ) -> Result<(Vec<Outcome>, Readied, Vec<Claimed>)> {
        let texts = self.encode_results(done)?;
        self.write("store results and claim jobs", |tx| {
            let now = now_ms();
            let (outcomes, readied) = complete(tx, now, done, &texts)?;
            let claimed = claim(tx, now, req)?;
            Ok((outcomes, readied, claimed))
        })
    }

    fn encode_results(&self, done: &[Completion]) -> Result<Vec<String>> {
        done.iter().map(|c| validate::result_text(c, self.limits.max_payload)).collect()
    }

    pub(super) fn fail_attempt(&self, lease: &Lease, report: &FailureReport) -> Result<Failed> {
        self.write("record a failure", |tx| fail_job(tx, now_ms(), lease, report))
    }

    pub(super) fn release_jobs(&self, leases: &[Lease]) -> Result<(Vec<Outcome>, Readied)> {
        self.write("release jobs", |tx| {
            let now = now_ms();
            let mut outcomes = Vec::with_capacity(leases.len());
            let mut readied = Readied::new();
            for lease in leases {
                let row: Option<(i64, String)> = tx
                    .prepare_cached(
                        "UPDATE jobs SET state = 'ready', attempt = attempt - 1, lease_until = NULL, updated_at = ?3 \
                         WHERE id = ?1 AND epoch = ?2 AND state = 'claimed' RETURNING run, elf",
                    )?
                    .query_row(params![lease.job.0, lease.epoch, now], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match row {
                    Some((run, elf)) => {
                        job_event(
                            tx,
                            &JobEvent {
                                at: now,
                                run: RunId(run),
                                job: lease.job,
                                state: JobState::Ready,
                                data: Some(r#"{"released":true}"#),
                            },
                        )?;
                        *readied.entry(elf).or_default() += 1;
                        outcomes.push(Outcome::Ok);
                    }
                    None => outcomes.push(settled(tx, lease)?),
                }
            }
            Ok((outcomes, readied))
        })
    }

    pub(super) fn renew(&self, instance: &InstanceId, held: &[Lease], ttl_ms: i64) -> Result<Vec<Outcome>> {
        self.write("heartbeat", |tx| {
            let now = now_ms();
            let until = now.saturating_add(ttl_ms);
            tx.prepare_cached(
                "UPDATE elves SET heartbeat_at = ?2, lease_until = ?3, state = 'running' WHERE instance = ?1",
            )?
            .execute(params![instance.0, now, until])?;
            let mut outcomes = Vec::with_capacity(held.len());
            for lease in held {
                let n = tx
                    .prepare_cached(
                        "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND epoch = ?2 AND state = 'claimed'",
                    )?
                    .execute(params![lease.job.0, lease.epoch, until])?;
                outcomes.push(if n == 1 { Outcome::Ok } else { settled(tx, lease)? });
            }
            Ok(outcomes)
        })
    }

    pub(super) fn reap_expired(&self) -> Result<Reaped> {
        self.write("reap expired leases", |tx| {
            let now = now_ms();
            let mut reaped = Reaped::default();
            expire_leases(tx, now, &mut reaped)?;
            let lost = tx
                .prepare_cached(
                    "UPDATE elves SET state = 'lost' WHERE state = 'running' AND lease_until < ?1 RETURNING instance",
                )?
                .query_map([now], |r| Ok(InstanceId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for instance in &lost {
                let data = json!({ "instance": instance.0, "lost": true }).to_string();
                tx.prepare_cached("INSERT INTO events(at, kind, data) VALUES (?1, 'elf_stopped', ?2)")?
                    .execute(params![now, data])?;
            }
            reaped.lost_elves = lost;
            Ok(reaped)
        })
    }

    pub(super) fn gone(&self, instance: &InstanceId, lost: bool) -> Result<Readied> {
        self.write("mark an elf gone", |tx| {
            let now = now_ms();
            let state = if lost { "lost" } else { "stopped" };
            let heartbeat: Option<i64> = tx
                .prepare_cached("UPDATE elves SET state = ?2 WHERE instance = ?1 RETURNING heartbeat_at")?
                .query_row(params![instance.0, state], |r| r.get(0))
                .optional()?;
            let data = json!({ "instance": instance.0, "lost": lost }).to_string();
            tx.prepare_cached("INSERT INTO events(at, kind, data) VALUES (?1, 'elf_stopped', ?2)")?
                .execute(params![now, data])?;
            let held = tx
                .prepare_cached("SELECT id, epoch FROM jobs WHERE state = 'claimed' AND holder = ?1")?
                .query_map([&instance.0], |r| Ok(Lease { job: JobId(r.get(0)?), epoch: r.get(1)? }))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut readied = Readied::new();
            for lease in held {
                let report = FailureReport::new(
                    FailureKind::ElfLost,
                    format!(
                        "elf instance {instance} {} while running the job (last heartbeat at {})",
                        if lost { "died" } else { "stopped" },
                        heartbeat.map_or_else(|| "never".to_owned(), |h| h.to_string())
                    ),
                );
                merge(&mut readied, fail_job(tx, now, &lease, &report)?.readied);
            }
            Ok(readied)
        })
    }

    pub(super) fn cancel(&self, run: RunId, reason: &str) -> Result<u64> {
        self.write("cancel a run", |tx| {
            let now = now_ms();
            let state: Option<String> =
                tx.query_row("SELECT state FROM runs WHERE id = ?1", [run.0], |r| r.get(0)).optional()?;
            let state = state.ok_or(Error::UnknownRun(run))?;
            if state != RunState::Running.as_str() {
                return Ok(0);
            }
            let ids = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'cancelled', lease_until = NULL, finished_at = ?2, updated_at = ?2 \
                     WHERE run = ?1 AND state IN ('pending', 'ready', 'claimed') RETURNING id",
                )?
                .query_map(params![run.0, now], |r| Ok(JobId(r.get(0)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let data = json!({ "reason": reason }).to_string();
            for id in &ids {
                job_event(tx, &JobEvent { at: now, run, job: *id, state: JobState::Cancelled, data: Some(&data) })?;
            }
            let n = ids.len() as i64;
            tx.execute("UPDATE runs SET open = open - ?2, failed = failed + ?2 WHERE id = ?1", params![run.0, n])?;
            finish_run(tx, now, run, RunState::Cancelled, Some(reason))?;
            Ok(ids.len() as u64)
        })
    }
}

/// Claims ready jobs (reaping expired leases first, when there are any).
fn claim(tx: &Transaction<'_>, now: Millis, req: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
    if req.max == 0 {
        return Ok(Vec::new());
    }
    let overdue: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM jobs WHERE state = 'claimed' AND lease_until < ?1)")?
        .query_row([now], |r| r.get(0))?;
    if overdue {
        expire_leases(tx, now, &mut Reaped::default())?;
    }
    let tasks = serde_json::to_string(req.tasks).map_err(|e| Error::backend("encode task names", e))?;
    let until = now.saturating_add(req.ttl_ms);
    let mut rows = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'claimed', holder = ?1, epoch = epoch + 1, attempt = attempt + 1, \
               lease_until = ?2, started_at = ?3, updated_at = ?3 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND elf = ?4 AND not_before <= ?3 \
               AND task IN (SELECT value FROM json_each(?5)) ORDER BY priority DESC, id LIMIT ?6) \
             RETURNING id, run, task, args, epoch, attempt, max_attempts, timeout_ms, ndeps",
        )?
        .query_map(params![req.instance.0, until, now, req.elf, tasks, req.max], |r| {
            Ok((
                Claimed {
                    lease: Lease { job: JobId(r.get(0)?), epoch: r.get(4)? },
                    run: RunId(r.get(1)?),
                    task: r.get(2)?,
                    args: super::rows::json(r, 3)?,
                    inputs: Vec::new(),
                    attempt: r.get(5)?,
                    max_attempts: r.get(6)?,
                    timeout_ms: r.get::<_, Option<i64>>(7)?.map(|t| t.max(0) as u64),
                    lease_until: until,
                },
                r.get::<_, i64>(8)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.sort_by_key(|(c, _)| c.lease.job);
    let mut claimed = Vec::with_capacity(rows.len());
    for (mut c, ndeps) in rows {
        let data =
            format!(r#"{{"epoch":{},"attempt":{},"holder":{}}}"#, c.lease.epoch, c.attempt, json!(req.instance.0));
        job_event(
            tx,
            &JobEvent { at: now, run: c.run, job: c.lease.job, state: JobState::Claimed, data: Some(&data) },
        )?;
        if ndeps > 0 {
            c.inputs = tx
                .prepare_cached(
                    "SELECT r.job, r.value FROM results r \
                     WHERE r.job IN (SELECT DISTINCT producer FROM deps WHERE consumer = ?1)",
                )?
                .query_map([c.lease.job.0], |r| Ok((JobId(r.get(0)?), super::rows::json(r, 1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        claimed.push(c);
    }
    Ok(claimed)
}

/// Stores results for leases that still hold, and makes consumers ready.
fn complete(
    tx: &Transaction<'_>,
    now: Millis,
    done: &[Completion],
    texts: &[String],
) -> Result<(Vec<Outcome>, Readied)> {
    let mut outcomes = Vec::with_capacity(done.len());
    let mut readied = Readied::new();
    let mut closed = Closed::new();
    for (c, text) in done.iter().zip(texts) {
        let run: Option<i64> = tx
            .prepare_cached(
                "UPDATE jobs SET state = 'succeeded', ran_sha = COALESCE(?3, ran_sha), lease_until = NULL, \
                 finished_at = ?4, updated_at = ?4 WHERE id = ?1 AND epoch = ?2 AND state = 'claimed' RETURNING run",
            )?
            .query_row(params![c.lease.job.0, c.lease.epoch, c.ran_sha.as_ref().map(|s| s.as_str()), now], |r| r.get(0))
            .optional()?;
        let Some(run) = run else {
            outcomes.push(settled(tx, &c.lease)?);
            continue;
        };
        let run = RunId(run);
        tx.prepare_cached("INSERT INTO results(job, epoch, value, at) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
            c.lease.job.0,
            c.lease.epoch,
            text,
            now
        ])?;
        job_event(tx, &JobEvent { at: now, run, job: c.lease.job, state: JobState::Succeeded, data: None })?;
        propagate_success(tx, now, c.lease.job, &mut readied)?;
        closed.entry(run).or_default().0 += 1;
        outcomes.push(Outcome::Ok);
    }
    close_jobs(tx, now, &closed)?;
    Ok((outcomes, readied))
}
