//! Rows to documents.

use std::str::FromStr;

use rusqlite::Row;
use rusqlite::types::Type;
use serde::de::DeserializeOwned;

use crate::model::{
    ElfInstance, Event, Failure, FailureId, InstanceId, Job, JobId, RetryPolicy, Run, RunId, TaskSha, TaskVersion,
};
use crate::storage::rows::{ClaimedRow, JobRow};

/// The columns `job` reads, in order.
pub(super) const JOB_COLS: &str = "id, run, key, elf, task, args, state, unmet, priority, attempt, retry, \
    timeout_ms, expected_sha, ran_sha, holder, lease_until, epoch, not_before, created_at, updated_at, \
    started_at, finished_at, max_attempts, lost, parent, turn, rank_ms";

pub(super) fn job(r: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: JobId(r.get(0)?),
        run: RunId(r.get(1)?),
        key: r.get(2)?,
        elf: r.get(3)?,
        task: r.get(4)?,
        args: json(r, 5)?,
        state: parsed(r, 6)?,
        unmet: r.get(7)?,
        priority: r.get(8)?,
        attempt: r.get(9)?,
        retry: retry(r, 10)?,
        timeout_ms: r.get::<_, Option<i64>>(11)?.map(|t| t.max(0) as u64),
        expected_sha: opt_sha(r, 12)?,
        ran_sha: opt_sha(r, 13)?,
        holder: r.get::<_, Option<String>>(14)?.map(InstanceId),
        lease_until: r.get(15)?,
        epoch: r.get(16)?,
        not_before: r.get(17)?,
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
        started_at: r.get(20)?,
        finished_at: r.get(21)?,
        max_attempts: r.get(22)?,
        lost: r.get(23)?,
        parent: r.get::<_, Option<i64>>(24)?.map(JobId),
        turn: r.get(25)?,
        rank_ms: r.get::<_, i64>(26)?.max(0) as u64,
    })
}

/// A job's lifecycle row, from `super::sql::JOB_ROW_COLS` (at `at`).
pub(super) fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    job_row_with(r, &mut Policies::default())
}

/// Retry policies decoded while reading many job rows: each distinct text is
/// parsed once (the jobs of a batch mostly share one policy).
#[derive(Default)]
pub(super) struct Policies(Option<(String, RetryPolicy)>);

impl Policies {
    fn decode(&mut self, r: &Row<'_>, idx: usize) -> rusqlite::Result<RetryPolicy> {
        let text = r.get_ref(idx)?.as_str().map_err(|e| conversion(idx, e.to_string()))?;
        if text == DEFAULT_RETRY {
            return Ok(RetryPolicy::default());
        }
        if let Some((seen, policy)) = &self.0
            && seen == text
        {
            return Ok(policy.clone());
        }
        let policy: RetryPolicy = serde_json::from_str(text).map_err(|e| conversion(idx, e.to_string()))?;
        self.0 = Some((text.to_owned(), policy.clone()));
        Ok(policy)
    }
}

/// How a job row stores the default retry policy (most jobs'): as nothing.
/// Its JSON is about 110 bytes, nearly half of a job row, which every
/// rewrite of the row (claim, completion) would otherwise carry, and which
/// made those rewrites split B-tree pages twice as often.
pub(super) const DEFAULT_RETRY: &str = "";

/// The retry policy at `idx` (JSON, or [`DEFAULT_RETRY`]).
fn retry(r: &Row<'_>, idx: usize) -> rusqlite::Result<RetryPolicy> {
    Policies::default().decode(r, idx)
}

/// [`job_row`], decoding the retry policy through `policies`.
pub(super) fn job_row_with(r: &Row<'_>, policies: &mut Policies) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: JobId(r.get(0)?),
        run: RunId(r.get(1)?),
        elf: r.get(2)?,
        task: r.get(3)?,
        priority: r.get(4)?,
        ndeps: r.get(5)?,
        retry: policies.decode(r, 6)?,
        timeout_ms: r.get::<_, Option<i64>>(7)?.map(|t| t.max(0) as u64),
        state: parsed(r, 8)?,
        unmet: r.get(9)?,
        attempt: r.get(10)?,
        max_attempts: r.get(11)?,
        lost: r.get(12)?,
        ran_sha: opt_sha(r, 13)?,
        holder: r.get::<_, Option<String>>(14)?.map(InstanceId),
        lease_until: r.get(15)?,
        epoch: r.get(16)?,
        not_before: r.get(17)?,
        updated_at: r.get(18)?,
        started_at: r.get(19)?,
        finished_at: r.get(20)?,
        parent: r.get::<_, Option<i64>>(21)?.map(JobId),
        turn: r.get(22)?,
        rank_ms: r.get::<_, i64>(23)?.max(0) as u64,
    })
}

/// A claimed job's row, from [`CLAIMED_COLS`](super::sql::CLAIMED_COLS).
pub(super) fn claimed_row(r: &Row<'_>) -> rusqlite::Result<ClaimedRow> {
    Ok(ClaimedRow {
        id: JobId(r.get(0)?),
        run: RunId(r.get(1)?),
        task: r.get(2)?,
        args: json(r, 3)?,
        priority: r.get(4)?,
        turn: r.get(5)?,
        ndeps: r.get(6)?,
        epoch: r.get(7)?,
        attempt: r.get(8)?,
        max_attempts: r.get(9)?,
        timeout_ms: r.get::<_, Option<i64>>(10)?.map(|t| t.max(0) as u64),
    })
}

/// The columns `run` reads, in order.
pub(super) const RUN_COLS: &str =
    "id, name, labels, created_by, created_at, finished_at, state, total, open, failed, sealed";

pub(super) fn run(r: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: RunId(r.get(0)?),
        name: r.get(1)?,
        labels: json(r, 2)?,
        created_by: json(r, 3)?,
        created_at: r.get(4)?,
        finished_at: r.get(5)?,
        state: parsed(r, 6)?,
        total: r.get::<_, i64>(7)?.max(0) as u64,
        open: r.get::<_, i64>(8)?.max(0) as u64,
        failed: r.get::<_, i64>(9)?.max(0) as u64,
        sealed: r.get::<_, i64>(10)? != 0,
    })
}

/// The columns `task_version` reads, in order (`n` is `task_names`).
pub(super) const TASK_COLS: &str = "t.sha, n.elf, n.task, t.source, t.file, t.line, t.signature, t.doc, t.first_seen";

pub(super) fn task_version(r: &Row<'_>) -> rusqlite::Result<TaskVersion> {
    Ok(TaskVersion {
        sha: sha(r, 0)?,
        elf: r.get(1)?,
        name: r.get(2)?,
        source: r.get(3)?,
        file: r.get(4)?,
        line: r.get(5)?,
        signature: json(r, 6)?,
        doc: r.get(7)?,
        first_seen: r.get(8)?,
    })
}

/// The columns `elf` reads, in order.
pub(super) const ELF_COLS: &str =
    "instance, elf, host, pid, build, tasks, slots, started_at, heartbeat_at, lease_until, state, label, process_start";

pub(super) fn elf(r: &Row<'_>) -> rusqlite::Result<ElfInstance> {
    Ok(ElfInstance {
        instance: InstanceId(r.get(0)?),
        elf: r.get(1)?,
        host: r.get(2)?,
        pid: r.get(3)?,
        build: json(r, 4)?,
        tasks: json(r, 5)?,
        slots: r.get(6)?,
        started_at: r.get(7)?,
        heartbeat_at: r.get(8)?,
        lease_until: r.get(9)?,
        state: parsed(r, 10)?,
        label: r.get(11)?,
        process_start: r.get::<_, Option<i64>>(12)?.map(|v| v.max(0) as u64),
    })
}

/// The columns `failure` reads, in order.
pub(super) const FAILURE_COLS: &str =
    "id, job, run, elf, task, attempt, epoch, instance, host, pid, started_at, at, signature, will_retry, report";

pub(super) fn failure(r: &Row<'_>) -> rusqlite::Result<Failure> {
    Ok(Failure {
        id: FailureId(r.get(0)?),
        job: JobId(r.get(1)?),
        run: RunId(r.get(2)?),
        elf: r.get(3)?,
        task: r.get(4)?,
        attempt: r.get(5)?,
        epoch: r.get(6)?,
        instance: r.get::<_, Option<String>>(7)?.map(InstanceId),
        host: r.get(8)?,
        pid: r.get(9)?,
        started_at: r.get(10)?,
        at: r.get(11)?,
        signature: r.get(12)?,
        will_retry: r.get(13)?,
        report: json(r, 14)?,
    })
}

/// The columns `event` reads, in order.
pub(super) const EVENT_COLS: &str = "seq, at, kind, run, job, state, data";

pub(super) fn event(r: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = r.get(2)?;
    let data: Option<String> = r.get(6)?;
    Ok(Event {
        seq: r.get(0)?,
        at: r.get(1)?,
        kind: kind.parse().map_err(|e: String| conversion(2, e))?,
        run: r.get::<_, Option<i64>>(3)?.map(RunId),
        job: r.get::<_, Option<i64>>(4)?.map(JobId),
        state: r.get::<_, Option<String>>(5)?.map(|s| s.parse().map_err(|e: String| conversion(5, e))).transpose()?,
        data: match data {
            Some(text) => serde_json::from_str(&text).map_err(|e| conversion(6, e.to_string()))?,
            None => serde_json::Value::Null,
        },
    })
}

fn conversion(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, msg.into())
}

pub(super) fn json<T: DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| conversion(idx, e.to_string()))
}

fn parsed<T: FromStr<Err = String>>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|e| conversion(idx, e))
}

fn sha(r: &Row<'_>, idx: usize) -> rusqlite::Result<TaskSha> {
    TaskSha::try_from(r.get::<_, String>(idx)?).map_err(|e| conversion(idx, e))
}

fn opt_sha(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<TaskSha>> {
    r.get::<_, Option<String>>(idx)?.map(|s| TaskSha::try_from(s).map_err(|e| conversion(idx, e))).transpose()
}
