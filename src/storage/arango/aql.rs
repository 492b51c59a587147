//! Every AQL query the ArangoDB store sends, as text plus bind variables,
//! so that unit tests can check both without a server.
//!
//! Writes that are one AQL query (the claim, the id reservation) take the
//! exclusive lock on `meta` like the JavaScript transactions do: one writer
//! at a time, event `seq` numbers in commit order.

use std::collections::HashMap;

use arangors::AqlQuery;
use serde_json::{Value, json};

use crate::model::{InstanceId, JobId, RunId, TaskSha};
use crate::storage::{EventQuery, FailureQuery, JobQuery, RunQuery};

/// A query and its bind variables.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Query {
    /// The AQL text.
    pub(super) text: String,
    /// Bind variables by name (without `@`).
    pub(super) binds: Vec<(&'static str, Value)>,
}

impl Query {
    fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), binds: Vec::new() }
    }

    fn bind(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.binds.push((name, value.into()));
        self
    }

    /// The query for arangors. Every result of ours fits one batch: the
    /// batch size is large so that no cursor stays open on the server.
    pub(super) fn to_aql(&self) -> AqlQuery<'_> {
        let binds: HashMap<&str, Value> = self.binds.iter().map(|(k, v)| (*k, v.clone())).collect();
        AqlQuery::builder().query(&self.text).bind_vars(binds).batch_size(10_000).build()
    }
}

/// Claims up to `@max` ready jobs of `@elf` in one query: the exclusive lock
/// on `meta` serialises it with every other write, the lease is computed on
/// the server's clock (`DATE_NOW()`), and each claim appends its event.
///
/// `overdue` tells the caller that some lease has expired, so that it reaps
/// and claims again (a query cannot both update `jobs` for the claim and for
/// the reaper).
pub(super) const CLAIM: &str = r#"LET now = DATE_NOW()
LET overdue = LENGTH((
  FOR o IN jobs
    FILTER o.lease_until != null AND o.lease_until < now
    LIMIT 1
    RETURN 1)) > 0
LET updated = (
  FOR j IN jobs
    FILTER j.ready_elf == @elf
    SORT j.ready_elf, j.rank, j.id
    FILTER j.state == "ready" AND j.not_before <= now AND j.task IN @tasks
    LIMIT @max
    UPDATE j WITH {
      state: "claimed", ready_elf: null, holder: @instance, epoch: j.epoch + 1, attempt: j.attempt + 1,
      lease_until: now + @ttl, started_at: now, updated_at: now
    } IN jobs OPTIONS { ignoreErrors: false, keepNull: true, mergeObjects: false }
    RETURN NEW)
LET claimed = (FOR c IN updated SORT c.id RETURN c)
LET n = LENGTH(claimed)
LET base = FIRST((
  FOR m IN meta
    FILTER m._key == "counters" AND n > 0
    UPDATE m WITH { seq: m.seq + n } IN meta OPTIONS { exclusive: true }
    RETURN OLD.seq))
LET logged = (
  FOR i IN 1..MAX([n, 1])
    FILTER i <= n
    LET c = claimed[i - 1]
    INSERT {
      _key: TO_STRING(base + i), seq: base + i, at: now, kind: "job_state", run: c.run, job: c.id,
      state: "claimed", data: { epoch: c.epoch, attempt: c.attempt, holder: @instance }, expires: FLOOR(now / 1000)
    } INTO events
    RETURN 1)
RETURN {
  overdue: overdue,
  claimed: (
    FOR c IN claimed
      RETURN {
        job: c.id, epoch: c.epoch, run: c.run, task: c.task, args: c.args, attempt: c.attempt,
        max_attempts: c.max_attempts, timeout_ms: c.timeout_ms, lease_until: c.lease_until,
        inputs: (FOR p IN c.producers LET r = DOCUMENT(results, TO_STRING(p)) FILTER r != null RETURN [p, r.value])
      })
}"#;

/// The claim of up to `max` jobs of `elf`'s `tasks` for `instance`.
pub(super) fn claim(instance: &InstanceId, elf: &str, tasks: &[String], max: u32, ttl_ms: i64) -> Query {
    Query::new(CLAIM)
        .bind("instance", instance.0.as_str())
        .bind("elf", elf)
        .bind("tasks", tasks.to_vec())
        .bind("max", max)
        .bind("ttl", ttl_ms.max(0))
}

/// Reserves a run id and `jobs` job ids (the caller binds references with
/// them before the submit transaction writes the run).
pub(super) fn reserve(jobs: usize) -> Query {
    Query::new(
        r#"FOR m IN meta
  FILTER m._key == "counters"
  UPDATE m WITH { job: m.job + @jobs, run: m.run + 1 } IN meta OPTIONS { exclusive: true }
  RETURN { job: OLD.job, run: OLD.run }"#,
    )
    .bind("jobs", jobs)
}

/// The run an idempotency key created, with its jobs' ids.
pub(super) fn run_by_idempotency_key(key: &str) -> Query {
    Query::new(
        r#"FOR r IN runs
  FILTER r.idem_key == @key
  LIMIT 1
  RETURN { run: r.id, jobs: (FOR j IN jobs FILTER j.run == r.id SORT j.id RETURN j.id) }"#,
    )
    .bind("key", key)
}

/// The latest event `seq`: the store's change counter.
pub(super) fn counter() -> Query {
    Query::new(r#"RETURN DOCUMENT(meta, "counters").seq"#)
}

/// The layout version recorded in the store, if any.
pub(super) fn layout() -> Query {
    Query::new(r#"RETURN [DOCUMENT(meta, "schema").version, DOCUMENT(meta, "counters") != null]"#)
}

/// One document by key (`null` when missing).
pub(super) fn document(collection: &'static str, key: &str) -> Query {
    Query::new(format!("RETURN DOCUMENT({collection}, @key)")).bind("key", key)
}

/// A task version by sha.
pub(super) fn task_version(sha: &TaskSha) -> Query {
    document("tasks", sha.as_str())
}

/// Every version recorded under `elf`/`task`, oldest first.
pub(super) fn task_versions(elf: &str, task: &str) -> Query {
    Query::new(
        r#"FOR n IN task_names
  FILTER n.elf == @elf AND n.task == @task
  SORT n.first_seen, n.sha
  LET t = DOCUMENT(tasks, n.sha)
  FILTER t != null
  RETURN MERGE(t, { elf: n.elf, name: n.task })"#,
    )
    .bind("elf", elf)
    .bind("task", task)
}

/// Every elf instance, most recently started first.
pub(super) fn elves() -> Query {
    Query::new("FOR e IN elves SORT e.started_at DESC, e.instance RETURN e")
}

/// A WHERE clause under construction.
#[derive(Default)]
struct Filters {
    clauses: Vec<String>,
    binds: Vec<(&'static str, Value)>,
}

impl Filters {
    fn add(&mut self, clause: &str, name: &'static str, value: impl Into<Value>) {
        self.clauses.push(clause.to_owned());
        self.binds.push((name, value.into()));
    }

    fn finish(self, head: &str, tail: &str, limit: Option<u32>) -> Query {
        let mut text = head.to_owned();
        for c in &self.clauses {
            text.push_str("\n  FILTER ");
            text.push_str(c);
        }
        text.push_str(tail);
        let mut q = Query { text, binds: self.binds };
        if let Some(n) = limit {
            q.text = q.text.replace("@@LIMIT", "\n  LIMIT @limit");
            q = q.bind("limit", n);
        } else {
            q.text = q.text.replace("@@LIMIT", "");
        }
        q
    }
}

/// Runs, most recent first.
pub(super) fn runs(query: &RunQuery) -> Query {
    let mut f = Filters::default();
    if let Some(state) = query.state {
        f.add("r.state == @state", "state", state.as_str());
    }
    f.finish("FOR r IN runs", "\n  SORT r.id DESC@@LIMIT\n  RETURN r", query.limit)
}

/// Jobs, by id.
pub(super) fn jobs(query: &JobQuery) -> Query {
    let mut f = Filters::default();
    if let Some(run) = query.run {
        f.add("j.run == @run", "run", run.0);
    }
    if !query.states.is_empty() {
        let names: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
        f.add("j.state IN @states", "states", json!(names));
    }
    if let Some(elf) = &query.elf {
        f.add("j.elf == @elf", "elf", elf.as_str());
    }
    if let Some(task) = &query.task {
        f.add("j.task == @task", "task", task.as_str());
    }
    if let Some(after) = query.after {
        f.add("j.id > @after", "after", after.0);
    }
    f.finish("FOR j IN jobs", "\n  SORT j.id@@LIMIT\n  RETURN j", query.limit)
}

/// The dependency edges whose consumer is in `run`.
pub(super) fn deps(run: RunId) -> Query {
    Query::new(
        r#"FOR d IN deps
  FILTER d.run == @run
  SORT d.consumer, d.path
  RETURN { producer: d.producer, consumer: d.consumer, path: d.path }"#,
    )
    .bind("run", run.0)
}

/// The results of those of `jobs` that have one, by job.
pub(super) fn results(jobs: &[JobId]) -> Query {
    let keys: Vec<String> = jobs.iter().map(|j| j.0.to_string()).collect();
    Query::new(
        r#"FOR k IN @keys
  LET r = DOCUMENT(results, k)
  FILTER r != null
  SORT r.job
  RETURN [r.job, r.value]"#,
    )
    .bind("keys", keys)
}

/// Failures, most recent first.
pub(super) fn failures(query: &FailureQuery) -> Query {
    let mut f = Filters::default();
    if let Some(run) = query.run {
        f.add("f.run == @run", "run", run.0);
    }
    if let Some(job) = query.job {
        f.add("f.job == @job", "job", job.0);
    }
    if let Some(elf) = &query.elf {
        f.add("f.elf == @elf", "elf", elf.as_str());
    }
    if let Some(task) = &query.task {
        f.add("f.task == @task", "task", task.as_str());
    }
    if let Some(kind) = query.kind {
        f.add("f.report.kind == @kind", "kind", kind.as_str());
    }
    if let Some(since) = query.since {
        f.add("f.at >= @since", "since", since);
    }
    f.finish("FOR f IN failures", "\n  SORT f.id DESC@@LIMIT\n  RETURN f", query.limit)
}

/// Events after the cursor, in log order. A single read query sees one
/// snapshot, and writers take `seq` numbers under the exclusive lock in
/// commit order, so a reader never sees a later event without the earlier.
pub(super) fn events(query: &EventQuery) -> Query {
    let mut f = Filters::default();
    f.add("e.seq > @after", "after", query.after);
    if let Some(run) = query.run {
        f.add("e.run == @run", "run", run.0);
    }
    if let Some(job) = query.job {
        f.add("e.job == @job", "job", job.0);
    }
    f.finish("FOR e IN events", "\n  SORT e.seq@@LIMIT\n  RETURN e", Some(query.limit.max(1)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{FailureKind, JobState};

    /// The `@names` a query text uses (not `@@collection` names).
    fn used(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let bytes = text.as_bytes();
        for (i, _) in text.match_indices('@') {
            if i > 0 && bytes[i - 1] == b'@' || bytes.get(i + 1) == Some(&b'@') {
                continue;
            }
            let name: String = text[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
        out
    }

    /// Every bind variable used is bound and every bound one is used.
    fn consistent(q: &Query) {
        let bound: BTreeSet<String> = q.binds.iter().map(|(k, _)| (*k).to_owned()).collect();
        assert_eq!(used(&q.text), bound, "query: {}", q.text);
    }

    #[test]
    fn the_claim_is_one_locked_query_on_the_servers_clock() {
        let me = InstanceId("i-1".into());
        let q = claim(&me, "animals", &["draw".to_owned()], 64, 30_000);
        consistent(&q);
        let aql = serde_json::to_value(q.to_aql()).expect("serializable");
        assert_eq!(aql["bindVars"]["elf"], "animals");
        assert_eq!(aql["bindVars"]["tasks"], json!(["draw"]));
        assert_eq!(aql["bindVars"]["max"], 64);
        assert_eq!(aql["bindVars"]["ttl"], 30_000);
        assert_eq!(aql["bindVars"]["instance"], "i-1");
        assert_eq!(aql["batchSize"], 10_000);
        let text = aql["query"].as_str().expect("text");
        // One UPDATE of jobs, leases from the server's clock, the writer lock.
        assert_eq!(text.matches("UPDATE j WITH").count(), 1);
        assert!(text.contains("LET now = DATE_NOW()") && text.contains("lease_until: now + @ttl"));
        assert!(text.contains("OPTIONS { exclusive: true }"));
        assert!(text.contains("ignoreErrors: false"));
        // The claim order is the ready index's order: priority (as -rank), then id.
        assert!(text.contains("SORT j.ready_elf, j.rank, j.id"));
        assert!(text.contains(r#"j.state == "ready" AND j.not_before <= now"#));
        // A null lease is not "expired" (null sorts before every number in AQL).
        assert!(text.contains("o.lease_until != null AND o.lease_until < now"));
        assert!(text.contains("INTO events"));
    }

    #[test]
    fn reads_bind_exactly_what_they_use() {
        let queries = vec![
            reserve(3),
            run_by_idempotency_key("k"),
            counter(),
            layout(),
            task_version(&TaskSha::of_source("x")),
            task_versions("e", "t"),
            elves(),
            runs(&RunQuery::default()),
            runs(&RunQuery { state: Some(crate::model::RunState::Failed), limit: Some(3) }),
            jobs(&JobQuery::default()),
            jobs(&JobQuery {
                run: Some(RunId(1)),
                states: vec![JobState::Ready, JobState::Claimed],
                elf: Some("e".into()),
                task: Some("t".into()),
                after: Some(JobId(9)),
                limit: Some(5),
            }),
            deps(RunId(2)),
            results(&[JobId(1), JobId(2)]),
            failures(&FailureQuery::default()),
            failures(&FailureQuery {
                run: Some(RunId(1)),
                job: Some(JobId(2)),
                elf: Some("e".into()),
                task: Some("t".into()),
                kind: Some(FailureKind::Panic),
                since: Some(5),
                limit: Some(2),
            }),
            events(&EventQuery { after: 7, run: Some(RunId(1)), job: Some(JobId(3)), limit: 0 }),
        ];
        for q in &queries {
            consistent(q);
            assert!(!q.text.contains("@@LIMIT"), "{}", q.text);
        }
        let q = jobs(&JobQuery { states: vec![JobState::Ready], limit: Some(5), ..Default::default() });
        assert!(q.text.contains("FILTER j.state IN @states") && q.text.contains("LIMIT @limit"), "{}", q.text);
        assert!(q.binds.contains(&("states", json!(["ready"]))));
        let q = events(&EventQuery { after: 7, limit: 0, ..Default::default() });
        assert!(q.binds.contains(&("limit", json!(1))), "a zero limit reads one event, as on SQLite");
        assert!(q.text.contains("SORT e.seq"));
        assert_eq!(results(&[JobId(4)]).binds, vec![("keys", json!(["4"]))]);
        assert!(reserve(3).text.contains("exclusive: true"));
    }
}
