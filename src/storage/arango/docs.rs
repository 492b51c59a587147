//! Rows to documents and back.
//!
//! What the user hands the store and the backend never looks into is kept as
//! JSON text: job arguments, results, retry policies, failure reports (with
//! the task's inputs) and event details. So integers of any size come back
//! exactly as they went in: nothing on the way parses them into doubles, and
//! the stand-in, which refuses integers beyond 2^53 in a request, never sees
//! one. Integers the user chose and the backend stores as numbers
//! (`timeout_ms`, `process_start`) are written as decimal text when they are
//! beyond 2^53. Numbers the server computed (counters, `seq`) may come back
//! as doubles; every integer field is read leniently ([`Doc::int`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::model::{
    ElfInstance, ElfState, Event, EventKind, Failure, FailureId, InstanceId, Job, JobId, JobState, Millis, Run, RunId,
    RunState, TaskSha, TaskVersion,
};
use crate::storage::flow_seam::NO_TIMER;
use crate::storage::rows::{JobRow, LeaderRow, NewEvent, NewJob, NewResult, ResultRow, RunRow};
use crate::storage::{Dep, Error, Result, Token};

/// The largest integer every JSON reader keeps exact.
pub(super) const EXACT_MAX: u64 = (1 << 53) - 1;

/// A job's `not_before` as stored: a waiting job's [`NO_TIMER`]
/// (`i64::MAX`, which a double cannot hold) is kept as [`EXACT_MAX`], still
/// later than any timer, and read back as `NO_TIMER` ([`not_before_of`]).
pub(super) fn stored_not_before(t: Millis) -> i64 {
    t.min(EXACT_MAX as i64)
}

/// A stored `not_before` as the lifecycle wrote it.
fn not_before_of(stored: i64) -> Millis {
    if stored >= EXACT_MAX as i64 { NO_TIMER } else { stored }
}

/// A document key for any string: letters, digits, `_`, `-` and `.` as
/// they are, other bytes as `%XX` (all in ArangoDB's key alphabet); a
/// result longer than the 254 bytes a key may have becomes `$` and the
/// sha256 of the string (`$` never appears otherwise: it would be `%24`).
pub(super) fn key_of(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out.len() > 254 {
        let digest = Sha256::digest(s.as_bytes());
        out = format!("${}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    out
}

/// The document handle of job `id` (an edge's `_from` or `_to`).
pub(super) fn job_handle(id: JobId) -> String {
    format!("jobs/{}", id.0)
}

/// `n` as a JSON number when exact, else as decimal text.
fn exact(n: u64) -> Value {
    if n <= EXACT_MAX { json!(n) } else { Value::String(n.to_string()) }
}

fn text<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::backend(format!("encode {what}"), e))
}

fn undecodable(what: &str, detail: String) -> Error {
    Error::backend(format!("decode a stored {what}"), std::io::Error::other(detail))
}

/// A stored document, read leniently.
pub(super) struct Doc<'a> {
    what: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Doc<'a> {
    /// `v` as a document of kind `what` ("job").
    pub(super) fn new(what: &'static str, v: &'a Value) -> Result<Self> {
        match v.as_object() {
            Some(map) => Ok(Self { what, map }),
            None => Err(undecodable(what, format!("expected an object, found {v}"))),
        }
    }

    fn bad(&self, field: &str, detail: &str) -> Error {
        undecodable(self.what, format!("field `{field}`: {detail}"))
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// An integer: a JSON integer, an integral double (AQL arithmetic), or
    /// decimal text (an exact integer beyond 2^53).
    pub(super) fn opt_int(&self, field: &str) -> Result<Option<i64>> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let n = match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT_MAX as f64).map(|f| f as i64)),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        n.map(Some).ok_or_else(|| self.bad(field, &format!("`{v}` is not an integer")))
    }

    pub(super) fn int(&self, field: &str) -> Result<i64> {
        self.opt_int(field)?.ok_or_else(|| self.bad(field, "missing"))
    }

    pub(super) fn opt_u64(&self, field: &str) -> Result<Option<u64>> {
        let Some(v) = self.get(field) else { return Ok(None) };
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= EXACT_MAX as f64).map(|f| f as u64)
            }),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        n.map(Some).ok_or_else(|| self.bad(field, &format!("`{v}` is not a non-negative integer")))
    }

    pub(super) fn u64(&self, field: &str) -> Result<u64> {
        self.opt_u64(field)?.ok_or_else(|| self.bad(field, "missing"))
    }

    pub(super) fn u32(&self, field: &str) -> Result<u32> {
        u32::try_from(self.u64(field)?).map_err(|_| self.bad(field, "beyond u32"))
    }

    /// A u32 that older documents may lack (0 then).
    pub(super) fn u32_or_zero(&self, field: &str) -> Result<u32> {
        Ok(match self.opt_u64(field)? {
            Some(n) => u32::try_from(n).map_err(|_| self.bad(field, "beyond u32"))?,
            None => 0,
        })
    }

    pub(super) fn opt_str(&self, field: &str) -> Result<Option<&'a str>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(field, &format!("`{v}` is not a string"))),
        }
    }

    pub(super) fn str(&self, field: &str) -> Result<&'a str> {
        self.opt_str(field)?.ok_or_else(|| self.bad(field, "missing"))
    }

    pub(super) fn string(&self, field: &str) -> Result<String> {
        self.str(field).map(str::to_owned)
    }

    pub(super) fn opt_bool(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(field, &format!("`{v}` is not a boolean"))),
        }
    }

    pub(super) fn bool(&self, field: &str) -> Result<bool> {
        self.get(field).and_then(Value::as_bool).ok_or_else(|| self.bad(field, "not a boolean"))
    }

    /// A field parsed from its name (`state`, `kind`).
    pub(super) fn parsed<T: std::str::FromStr<Err = String>>(&self, field: &str) -> Result<T> {
        self.str(field)?.parse().map_err(|e: String| self.bad(field, &e))
    }

    pub(super) fn opt_parsed<T: std::str::FromStr<Err = String>>(&self, field: &str) -> Result<Option<T>> {
        self.opt_str(field)?.map(|s| s.parse().map_err(|e: String| self.bad(field, &e))).transpose()
    }

    /// A value kept as JSON text (`null` when absent).
    pub(super) fn json_text<T: DeserializeOwned>(&self, field: &str) -> Result<T> {
        let text = self.opt_str(field)?.unwrap_or("null");
        serde_json::from_str(text).map_err(|e| self.bad(field, &e.to_string()))
    }

    /// A value stored as JSON (an object or array of our own making).
    pub(super) fn value<T: DeserializeOwned>(&self, field: &str) -> Result<T> {
        let v = self.map.get(field).cloned().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| self.bad(field, &e.to_string()))
    }

    pub(super) fn sha(&self, field: &str) -> Result<Option<TaskSha>> {
        self.opt_str(field)?.map(|s| TaskSha::try_from(s.to_owned()).map_err(|e| self.bad(field, &e))).transpose()
    }
}

// ---- jobs ----

/// The fields of a job the lifecycle changes ([`Tx::update_jobs`](crate::storage::seam::Tx::update_jobs)).
fn mutable(r: &JobRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(r.id.0.to_string()));
    m.insert("state".into(), json!(r.state.as_str()));
    m.insert("unmet".into(), json!(r.unmet));
    m.insert("attempt".into(), json!(r.attempt));
    m.insert("max_attempts".into(), json!(r.max_attempts));
    m.insert("lost".into(), json!(r.lost));
    m.insert("ran_sha".into(), json!(r.ran_sha.as_ref().map(TaskSha::as_str)));
    m.insert("holder".into(), json!(r.holder.as_ref().map(|h| h.0.as_str())));
    m.insert("lease_until".into(), json!(r.lease_until));
    m.insert("epoch".into(), json!(r.epoch));
    m.insert("not_before".into(), json!(stored_not_before(r.not_before)));
    // The timer of a waiting job, for the index `jobs_waiting`; null for
    // every other job, so that the claim never finds that index useful.
    let timer = (r.state == JobState::Waiting).then(|| stored_not_before(r.not_before));
    m.insert("wait_until".into(), json!(timer));
    m.insert("updated_at".into(), json!(r.updated_at));
    m.insert("started_at".into(), json!(r.started_at));
    m.insert("finished_at".into(), json!(r.finished_at));
    m
}

/// The document of a new job.
pub(super) fn new_job(j: &NewJob) -> Result<Map<String, Value>> {
    let r = &j.row;
    let mut m = mutable(r);
    m.insert("id".into(), json!(r.id.0));
    m.insert("run".into(), json!(r.run.0));
    m.insert("key".into(), json!(j.key));
    m.insert("elf".into(), json!(r.elf));
    m.insert("task".into(), json!(r.task));
    m.insert("args".into(), Value::String(j.args.clone()));
    m.insert("priority".into(), json!(r.priority));
    m.insert("rank".into(), json!(-i64::from(r.priority)));
    m.insert("turn".into(), json!(r.turn));
    m.insert("rank_ms".into(), json!(r.rank_ms.min(EXACT_MAX)));
    m.insert("ndeps".into(), json!(r.ndeps));
    m.insert("retry".into(), Value::String(text("a retry policy", &r.retry)?));
    m.insert("timeout_ms".into(), r.timeout_ms.map_or(Value::Null, exact));
    m.insert("expected_sha".into(), json!(j.expected_sha.as_ref().map(TaskSha::as_str)));
    m.insert("created_at".into(), json!(j.created_at));
    m.insert("parent".into(), json!(r.parent.map(|p| p.0)));
    Ok(m)
}

/// The change [`Tx::update_jobs`](crate::storage::seam::Tx::update_jobs)
/// writes for `r`.
pub(super) fn job_update(r: &JobRow) -> Map<String, Value> {
    mutable(r)
}

/// The lifecycle's row of a stored job.
pub(super) fn job_row(v: &Value) -> Result<JobRow> {
    let d = Doc::new("job", v)?;
    Ok(JobRow {
        id: JobId(d.int("id")?),
        run: RunId(d.int("run")?),
        elf: d.string("elf")?,
        task: d.string("task")?,
        priority: i32::try_from(d.int("priority")?).map_err(|_| d.bad("priority", "beyond i32"))?,
        ndeps: d.u32_or_zero("ndeps")?,
        retry: d.json_text("retry")?,
        timeout_ms: d.opt_u64("timeout_ms")?,
        state: d.parsed("state")?,
        unmet: d.u32("unmet")?,
        attempt: d.u32("attempt")?,
        max_attempts: d.u32("max_attempts")?,
        lost: d.u32_or_zero("lost")?,
        ran_sha: d.sha("ran_sha")?,
        holder: d.opt_str("holder")?.map(|h| InstanceId(h.to_owned())),
        lease_until: d.opt_int("lease_until")?,
        epoch: d.int("epoch")?,
        not_before: not_before_of(d.int("not_before")?),
        updated_at: d.int("updated_at")?,
        started_at: d.opt_int("started_at")?,
        finished_at: d.opt_int("finished_at")?,
        parent: d.opt_int("parent")?.map(JobId),
        // Jobs of layout 4 and older have no turn: they come first.
        turn: d.opt_int("turn")?.unwrap_or(0),
        rank_ms: d.opt_u64("rank_ms")?.unwrap_or(0),
    })
}

/// The change [`Tx::set_turns`](crate::storage::seam::Tx::set_turns) writes.
pub(super) fn turn_update(id: JobId, turn: i64, rank_ms: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(id.0.to_string()));
    m.insert("turn".into(), json!(turn));
    m.insert("rank_ms".into(), json!(rank_ms.min(EXACT_MAX)));
    m
}

/// A stored job's arguments.
pub(super) fn job_args(v: &Value) -> Result<Value> {
    Doc::new("job", v)?.json_text("args")
}

/// The public document of a stored job.
pub(super) fn job(v: &Value) -> Result<Job> {
    let row = job_row(v)?;
    let d = Doc::new("job", v)?;
    Ok(Job {
        id: row.id,
        run: row.run,
        key: d.opt_str("key")?.map(str::to_owned),
        elf: row.elf,
        task: row.task,
        args: d.json_text("args")?,
        state: row.state,
        unmet: row.unmet,
        priority: row.priority,
        attempt: row.attempt,
        max_attempts: row.max_attempts,
        lost: row.lost,
        retry: row.retry,
        timeout_ms: row.timeout_ms,
        expected_sha: d.sha("expected_sha")?,
        ran_sha: row.ran_sha,
        holder: row.holder,
        lease_until: row.lease_until,
        epoch: row.epoch,
        not_before: row.not_before,
        created_at: d.int("created_at")?,
        updated_at: row.updated_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        parent: row.parent,
        turn: row.turn,
        rank_ms: row.rank_ms,
    })
}

// ---- runs ----

/// The document of a new run.
pub(super) fn new_run(row: &RunRow) -> Result<Map<String, Value>> {
    let mut m = run_update(&row.run);
    let r = &row.run;
    m.insert("id".into(), json!(r.id.0));
    m.insert("name".into(), json!(r.name));
    m.insert("labels".into(), serde_json::to_value(&r.labels).map_err(|e| Error::backend("encode labels", e))?);
    m.insert(
        "created_by".into(),
        serde_json::to_value(&r.created_by).map_err(|e| Error::backend("encode an origin", e))?,
    );
    m.insert("created_at".into(), json!(r.created_at));
    m.insert("idem_key".into(), json!(row.idempotency_key));
    m.insert("vstart".into(), json!(row.vstart));
    m.insert("weight".into(), json!(row.weight));
    Ok(m)
}

/// The change [`Tx::update_run`](crate::storage::seam::Tx::update_run) writes.
pub(super) fn run_update(r: &Run) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(r.id.0.to_string()));
    m.insert("state".into(), json!(r.state.as_str()));
    m.insert("finished_at".into(), json!(r.finished_at));
    m.insert("total".into(), json!(r.total));
    m.insert("open".into(), json!(r.open));
    m.insert("failed".into(), json!(r.failed));
    m.insert("sealed".into(), json!(r.sealed));
    m
}

/// A stored run.
pub(super) fn run_row(v: &Value) -> Result<RunRow> {
    let d = Doc::new("run", v)?;
    Ok(RunRow {
        run: Run {
            id: RunId(d.int("id")?),
            name: d.string("name")?,
            labels: d.value("labels")?,
            created_by: d.value("created_by")?,
            created_at: d.int("created_at")?,
            finished_at: d.opt_int("finished_at")?,
            state: d.parsed::<RunState>("state")?,
            total: d.u64("total")?,
            open: d.u64("open")?,
            failed: d.u64("failed")?,
            // Runs of layout 3 and older were each submitted in one piece.
            sealed: d.opt_bool("sealed")?.unwrap_or(true),
        },
        idempotency_key: d.opt_str("idem_key")?.map(str::to_owned),
        // Runs of layout 4 and older: started at 0, of weight 1.
        vstart: d.opt_int("vstart")?.unwrap_or(0),
        weight: d.opt_u64("weight")?.map_or(Ok(1), |w| u32::try_from(w).map_err(|_| d.bad("weight", "beyond u32")))?,
    })
}

// ---- edges, results ----

/// The document of a dependency edge.
pub(super) fn dep(d: &Dep) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_from".into(), json!(job_handle(d.producer)));
    m.insert("_to".into(), json!(job_handle(d.consumer)));
    m.insert("producer".into(), json!(d.producer.0));
    m.insert("consumer".into(), json!(d.consumer.0));
    m.insert("path".into(), json!(d.path));
    m
}

/// A stored edge.
pub(super) fn dep_of(v: &Value) -> Result<Dep> {
    let d = Doc::new("dependency", v)?;
    Ok(Dep { producer: JobId(d.int("producer")?), consumer: JobId(d.int("consumer")?), path: d.string("path")? })
}

/// The document of a result.
pub(super) fn result(r: &NewResult) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(r.job.0.to_string()));
    m.insert("job".into(), json!(r.job.0));
    m.insert("epoch".into(), json!(r.epoch));
    m.insert("value".into(), Value::String(r.value.clone()));
    m.insert("at".into(), json!(r.at));
    m
}

/// A stored result.
pub(super) fn result_of(v: &Value) -> Result<ResultRow> {
    let d = Doc::new("result", v)?;
    Ok(ResultRow { job: JobId(d.int("job")?), epoch: d.int("epoch")?, value: d.json_text("value")?, at: d.int("at")? })
}

// ---- failures, events ----

/// The document of a failure, with the id the transaction gave it.
pub(super) fn failure(f: &Failure, id: FailureId) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(id.0.to_string()));
    m.insert("id".into(), json!(id.0));
    m.insert("job".into(), json!(f.job.0));
    m.insert("run".into(), json!(f.run.0));
    m.insert("elf".into(), json!(f.elf));
    m.insert("task".into(), json!(f.task));
    m.insert("attempt".into(), json!(f.attempt));
    m.insert("epoch".into(), json!(f.epoch));
    m.insert("instance".into(), json!(f.instance.as_ref().map(|i| i.0.as_str())));
    m.insert("host".into(), json!(f.host));
    m.insert("pid".into(), json!(f.pid));
    m.insert("started_at".into(), json!(f.started_at));
    m.insert("at".into(), json!(f.at));
    m.insert("signature".into(), json!(f.signature));
    m.insert("will_retry".into(), json!(f.will_retry));
    m.insert("kind".into(), json!(f.report.kind.as_str()));
    m.insert("report".into(), Value::String(text("a failure report", &f.report)?));
    Ok(m)
}

/// A stored failure.
pub(super) fn failure_of(v: &Value) -> Result<Failure> {
    let d = Doc::new("failure", v)?;
    Ok(Failure {
        id: FailureId(d.int("id")?),
        job: JobId(d.int("job")?),
        run: RunId(d.int("run")?),
        elf: d.string("elf")?,
        task: d.string("task")?,
        attempt: d.u32("attempt")?,
        epoch: d.int("epoch")?,
        instance: d.opt_str("instance")?.map(|i| InstanceId(i.to_owned())),
        host: d.opt_str("host")?.map(str::to_owned),
        pid: d.opt_u64("pid")?.map(|p| u32::try_from(p).map_err(|_| d.bad("pid", "beyond u32"))).transpose()?,
        started_at: d.opt_int("started_at")?,
        at: d.int("at")?,
        signature: d.string("signature")?,
        will_retry: d.bool("will_retry")?,
        report: d.json_text("report")?,
    })
}

/// An event as [`aql::FLUSH`](super::aql::FLUSH) takes it: its document
/// without `seq` and `_key` (given by the query), and its place `n` (from 1)
/// among the events of the flush.
pub(super) fn event(e: &NewEvent, n: usize) -> Value {
    json!({
        "n": n,
        "doc": {
            "at": e.at,
            "kind": e.kind.as_str(),
            "run": e.run.map(|r| r.0),
            "job": e.job.map(|j| j.0),
            "state": e.state.map(JobState::as_str),
            "data": e.data,
            // Seconds since the epoch, for the retention TTL index.
            "expires": e.at.div_euclid(1000),
        }
    })
}

/// A stored event.
pub(super) fn event_of(v: &Value) -> Result<Event> {
    let d = Doc::new("event", v)?;
    Ok(Event {
        seq: d.int("seq")?,
        at: d.int("at")?,
        kind: d.parsed::<EventKind>("kind")?,
        run: d.opt_int("run")?.map(RunId),
        job: d.opt_int("job")?.map(JobId),
        state: d.opt_parsed::<JobState>("state")?,
        data: d.json_text("data")?,
    })
}

// ---- tasks, elves, leaders ----

/// The document of a task version first seen at `now`.
pub(super) fn task(v: &TaskVersion, now: i64) -> Result<Map<String, Value>> {
    let mut m = match serde_json::to_value(v).map_err(|e| Error::backend("encode a task version", e))? {
        Value::Object(m) => m,
        other => return Err(undecodable("task version", format!("encoded as {other}"))),
    };
    m.insert("_key".into(), json!(v.sha.as_str()));
    m.insert("first_seen".into(), json!(now));
    Ok(m)
}

/// The document naming a version as served by an elf's task.
pub(super) fn task_name(v: &TaskVersion, now: i64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("elf".into(), json!(v.elf));
    m.insert("task".into(), json!(v.name));
    m.insert("sha".into(), json!(v.sha.as_str()));
    m.insert("first_seen".into(), json!(now));
    m
}

/// A stored task version.
pub(super) fn task_of(v: &Value) -> Result<TaskVersion> {
    let d = Doc::new("task version", v)?;
    Ok(TaskVersion {
        sha: d.sha("sha")?.ok_or_else(|| d.bad("sha", "missing"))?,
        elf: d.string("elf")?,
        name: d.string("name")?,
        source: d.string("source")?,
        file: d.string("file")?,
        line: d.u32("line")?,
        signature: d.value("signature")?,
        doc: d.string("doc")?,
        first_seen: d.opt_int("first_seen")?.unwrap_or(0),
    })
}

/// The document of an elf instance.
pub(super) fn elf(e: &ElfInstance) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(key_of(&e.instance.0)));
    m.insert("instance".into(), json!(e.instance.0));
    m.insert("elf".into(), json!(e.elf));
    m.insert("host".into(), json!(e.host));
    m.insert("pid".into(), json!(e.pid));
    m.insert("build".into(), serde_json::to_value(&e.build).map_err(|err| Error::backend("encode a build", err))?);
    m.insert("tasks".into(), json!(e.tasks.iter().map(TaskSha::as_str).collect::<Vec<_>>()));
    m.insert("slots".into(), json!(e.slots));
    m.insert("started_at".into(), json!(e.started_at));
    m.insert("heartbeat_at".into(), json!(e.heartbeat_at));
    m.insert("lease_until".into(), json!(e.lease_until));
    m.insert("state".into(), json!(e.state.as_str()));
    m.insert("label".into(), json!(e.label));
    m.insert("process_start".into(), e.process_start.map_or(Value::Null, exact));
    // A stopped or lost instance is removed by the retention TTL index.
    let gone = (e.state != ElfState::Running).then(|| e.heartbeat_at.div_euclid(1000));
    m.insert("gone_at".into(), json!(gone));
    Ok(m)
}

/// A stored elf instance.
pub(super) fn elf_of(v: &Value) -> Result<ElfInstance> {
    let d = Doc::new("elf instance", v)?;
    Ok(ElfInstance {
        instance: InstanceId(d.string("instance")?),
        elf: d.string("elf")?,
        host: d.string("host")?,
        pid: d.u32("pid")?,
        build: d.value("build")?,
        tasks: d.value("tasks")?,
        slots: d.u32("slots")?,
        started_at: d.int("started_at")?,
        heartbeat_at: d.int("heartbeat_at")?,
        lease_until: d.int("lease_until")?,
        state: d.parsed::<ElfState>("state")?,
        label: d.opt_str("label")?.map(str::to_owned),
        process_start: d.opt_u64("process_start")?,
    })
}

/// The document of a leader role.
pub(super) fn leader(l: &LeaderRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(key_of(&l.role)));
    m.insert("role".into(), json!(l.role));
    m.insert("holder".into(), json!(l.holder));
    m.insert("lease_until".into(), json!(l.until));
    m
}

/// A stored leader role.
pub(super) fn leader_of(v: &Value) -> Result<LeaderRow> {
    let d = Doc::new("leader", v)?;
    Ok(LeaderRow { role: d.string("role")?, holder: d.string("holder")?, until: d.int("lease_until")? })
}

/// The document of an API token: its fields, and its name again as
/// `active_name` while it is not revoked (a unique sparse index on it keeps
/// active names unique).
pub(super) fn token(token: &Token) -> Result<Value> {
    let mut doc = serde_json::to_value(token).map_err(|e| Error::backend("encode a token", e))?;
    doc["active_name"] = if token.revoked_at.is_none() { Value::from(token.name.clone()) } else { Value::Null };
    Ok(doc)
}

/// A token from its document.
pub(super) fn token_of(v: &Value) -> Result<Token> {
    Token::deserialize(v).map_err(|e| Error::backend("decode a token", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FailureKind, FailureReport, RetryPolicy};

    #[test]
    fn keys_are_valid_arangodb_keys_and_distinct() {
        let allowed = |k: &str| {
            !k.is_empty()
                && k.len() <= 254
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-:.@()+,=;$!*'%".contains(&b))
        };
        let inputs = ["a1b2-c3", "coordinator", "with space/and slash", "%24x", "ünïcode", "", &"x".repeat(300)];
        let keys: Vec<String> = inputs.iter().map(|s| key_of(s)).collect();
        for (s, k) in inputs.iter().zip(&keys) {
            assert!(allowed(k), "`{s}` -> `{k}`");
        }
        assert_eq!(keys[0], "a1b2-c3");
        assert_eq!(keys[2], "with%20space%2Fand%20slash");
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }

    fn row() -> JobRow {
        JobRow {
            id: JobId(7),
            run: RunId(3),
            elf: "e".into(),
            task: "t".into(),
            priority: -4,
            ndeps: 2,
            retry: RetryPolicy { max_delay_ms: u64::MAX, ..RetryPolicy::default() },
            timeout_ms: Some(u64::MAX),
            state: JobState::Claimed,
            unmet: 0,
            attempt: 1,
            max_attempts: 3,
            lost: 1,
            ran_sha: None,
            holder: Some(InstanceId("i-1".into())),
            lease_until: Some(1_700_000_000_000),
            epoch: 4,
            not_before: 0,
            updated_at: 1_700_000_000_001,
            started_at: Some(1_700_000_000_002),
            finished_at: None,
            parent: None,
            turn: 1 << 40,
            rank_ms: 12,
        }
    }

    #[test]
    fn jobs_round_trip_with_integers_beyond_2_53() {
        let args = r#"[12345678901234567890,{"n":-9007199254740993}]"#;
        let new = NewJob { row: row(), key: Some("k".into()), args: args.into(), expected_sha: None, created_at: 5 };
        let doc = Value::Object(new_job(&new).expect("encode"));
        // Nothing in the document is a number a double would round.
        for (field, v) in doc.as_object().expect("an object") {
            if let Some(n) = v.as_number() {
                assert!(n.as_i64().is_some_and(|i| i.unsigned_abs() <= EXACT_MAX), "{field}: {n}");
            }
        }
        assert_eq!(doc["timeout_ms"], json!("18446744073709551615"));
        assert_eq!(doc["rank"], json!(4));
        assert_eq!(job_row(&doc).expect("decode"), row());
        let job = job(&doc).expect("decode");
        assert_eq!(job.args.to_string(), args, "arguments come back exactly");
        assert_eq!((job.key.as_deref(), job.created_at, job.timeout_ms), (Some("k"), 5, Some(u64::MAX)));
        // AQL arithmetic may hand integers back as doubles.
        let mut doubled = doc.clone();
        doubled["epoch"] = json!(4.0);
        assert_eq!(job_row(&doubled).expect("decode").epoch, 4);
        doubled["epoch"] = json!(4.5);
        assert!(job_row(&doubled).is_err(), "a fraction is not an epoch");
    }

    #[test]
    fn failures_keep_their_inputs_exactly() {
        let mut report = FailureReport::new(FailureKind::Panic, "boom");
        report.inputs = serde_json::from_str("[12345678901234567890,-9007199254740993]").expect("json");
        let f = Failure {
            id: FailureId(0),
            job: JobId(1),
            run: RunId(1),
            elf: "e".into(),
            task: "t".into(),
            attempt: 1,
            epoch: 1,
            instance: None,
            host: None,
            pid: Some(42),
            started_at: None,
            at: 9,
            signature: "s".into(),
            will_retry: false,
            report,
        };
        let doc = Value::Object(failure(&f, FailureId(12)).expect("encode"));
        let back = failure_of(&doc).expect("decode");
        assert_eq!(back.id, FailureId(12));
        assert_eq!(back.report.inputs.to_string(), "[12345678901234567890,-9007199254740993]");
        assert_eq!(doc["kind"], json!("panic"));
    }

    #[test]
    fn events_carry_their_place_and_come_back() {
        let e = NewEvent::job(1_700_000_000_123, RunId(2), JobId(3), JobState::Ready, Some(r#"{"retry":2}"#.into()));
        let v = event(&e, 4);
        assert_eq!((v["n"].as_u64(), v["doc"]["expires"].as_i64()), (Some(4), Some(1_700_000_000)));
        let mut stored = v["doc"].clone();
        stored["seq"] = json!(11.0);
        let back = event_of(&stored).expect("decode");
        assert_eq!((back.seq, back.state, back.data.clone()), (11, Some(JobState::Ready), json!({ "retry": 2 })));
    }
}
