//! Every AQL query the ArangoDB backend sends, as constant text, listed in
//! [`ALL`] with its bind parameters so that a test can hand every one of
//! them to the strict stand-in's checker (`tests/arango/check.js`): a query
//! that a real server would refuse fails a test, not a deployment.
//!
//! Rules the texts keep (ArangoDB 3.11/3.12 documentation, "AQL / Data
//! queries / Restrictions" and "High-level operations / WITH"):
//!
//! * no document-reading function (`DOCUMENT`, ...) and no read of a
//!   collection after the query modified it, each collection modified at
//!   most once per query: [`FLUSH`] reads `meta` first, then only writes;
//! * no traversals at all (the lifecycle walks the graph through
//!   `consumers()`), so no `WITH` is needed;
//! * job states are literal strings (the optimizer sees them), checked
//!   against [`JobState`](crate::model::JobState) by a unit test;
//! * every bind parameter used is given, and every one given is used (the
//!   [`Query`] builder takes exactly the names [`ALL`] lists).

use std::collections::HashMap;

use serde_json::Value;

/// One query with its bind parameters, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Query {
    /// The AQL text (one of this module's constants).
    pub(super) text: &'static str,
    /// Bind parameters by name (without `@`).
    pub(super) binds: HashMap<&'static str, Value>,
    /// What it does, for errors ("read jobs").
    pub(super) what: &'static str,
}

impl Query {
    /// `text` with no parameters yet.
    pub(super) fn new(what: &'static str, text: &'static str) -> Self {
        Self { text, binds: HashMap::new(), what }
    }

    /// Binds `@name` to `value`.
    pub(super) fn bind(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.binds.insert(name, value.into());
        self
    }
}

/// The largest `LIMIT` (2^53 - 1: "no limit" that every JSON reader keeps exact).
pub(super) const NO_LIMIT: u64 = (1 << 53) - 1;

// ---- the store's own documents ----

/// The layout version and whether the counters exist.
pub(super) const LAYOUT: &str = r#"RETURN {
  version: FIRST(FOR m IN meta FILTER m._key == "schema" RETURN m.version),
  counters: LENGTH(FOR m IN meta FILTER m._key == "counters" RETURN 1)
}"#;

/// Creates the counters unless they exist.
pub(super) const CREATE_COUNTERS: &str = r#"INSERT @counters INTO meta OPTIONS { overwriteMode: "ignore" }"#;

/// Gives the counters of an older layout the ones they lack.
pub(super) const UPGRADE_COUNTERS: &str = r#"FOR m IN meta FILTER m._key == "counters" AND m.signal == null
  UPDATE m WITH { signal: 0 } IN meta"#;

/// Records the layout version (never lowering it).
pub(super) const WRITE_LAYOUT: &str = r#"UPSERT { _key: "schema" }
  INSERT { _key: "schema", version: @version }
  UPDATE { version: MAX([OLD.version, @version]) } IN meta"#;

/// The counters (ids handed out, events and commits so far).
pub(super) const COUNTERS: &str = r#"FOR m IN meta FILTER m._key == "counters" RETURN m"#;

/// The number of commits that wrote something: the change counter.
pub(super) const CHANGE_COUNTER: &str = r#"FOR m IN meta FILTER m._key == "counters" RETURN m.commits"#;

/// The server's clock.
pub(super) const SERVER_TIME: &str = "RETURN DATE_NOW()";

// ---- reads ----

/// One run by key.
pub(super) const RUN: &str = "FOR r IN runs FILTER r._key == @key RETURN r";

/// The run created with an idempotency key.
pub(super) const RUN_BY_KEY: &str = "FOR r IN runs FILTER r.idem_key == @key LIMIT 1 RETURN r.id";

/// Runs, most recent first.
pub(super) const RUNS: &str = "FOR r IN runs SORT r.id DESC LIMIT @limit RETURN r";

/// Runs in one state, most recent first.
pub(super) const RUNS_IN_STATE: &str =
    "FOR r IN runs FILTER r.state == @state SORT r.state DESC, r.id DESC LIMIT @limit RETURN r";

/// Jobs by key, by id.
pub(super) const JOBS: &str = "FOR j IN jobs FILTER j._key IN @keys SORT j.id RETURN j";

/// Jobs matching a query, by id.
pub(super) const QUERY_JOBS: &str = "FOR j IN jobs
  FILTER j.id > @after AND (LENGTH(@states) == 0 OR j.state IN @states)
    AND (@elf == null OR j.elf == @elf) AND (@task == null OR j.task == @task)
  SORT j.id LIMIT @limit RETURN j";

/// A run's jobs matching a query, by id (on `jobs_run`).
pub(super) const QUERY_RUN_JOBS: &str = "FOR j IN jobs
  FILTER j.run == @run AND j.id > @after AND (LENGTH(@states) == 0 OR j.state IN @states)
    AND (@elf == null OR j.elf == @elf) AND (@task == null OR j.task == @task)
  SORT j.run, j.id LIMIT @limit RETURN j";

/// The ids of a run's jobs.
pub(super) const JOB_IDS: &str = "FOR j IN jobs FILTER j.run == @run SORT j.run, j.id RETURN j.id";

/// A run's jobs that are not final.
pub(super) const OPEN_JOBS: &str = r#"FOR j IN jobs
  FILTER j.run == @run AND j.state IN ["pending", "ready", "claimed", "waiting"]
  SORT j.run, j.id RETURN j"#;

/// Ready jobs of an elf and some tasks, in claim order: on the index
/// `jobs_claim` (`state`, `elf`, `rank`, `turn`, `id`), whose first two fields the
/// equalities fix, so the index order is the sort order and no sort step
/// remains (the live check asserts it with EXPLAIN on a real server).
pub(super) const CLAIMABLE: &str = r#"FOR j IN jobs
  FILTER j.state == "ready" AND j.elf == @elf AND j.not_before <= @now AND j.task IN @tasks
  SORT j.rank, j.turn, j.id
  LIMIT @max
  RETURN j"#;

/// How long the last successful attempts of an elf's task took, most recent
/// first, among the jobs after `@from` (a bounded range of `jobs_id`).
pub(super) const RECENT_DURATIONS: &str = r#"FOR j IN jobs
  FILTER j.id > @from
  SORT j.id DESC
  FILTER j.state == "succeeded" AND j.elf == @elf AND j.task == @task
    AND j.started_at != null AND j.finished_at != null
  LIMIT @limit
  RETURN j.finished_at - j.started_at"#;

/// Claimed jobs whose lease ran out, earliest first (on `jobs_lease`).
pub(super) const EXPIRED: &str = r#"FOR j IN jobs
  FILTER j.state == "claimed" AND j.lease_until < @now
  SORT j.lease_until
  LIMIT @limit
  RETURN j"#;

/// Claimed jobs of one holder (on `jobs_holder`).
pub(super) const HELD_BY: &str =
    r#"FOR j IN jobs FILTER j.holder == @holder AND j.state == "claimed" SORT j.id RETURN j"#;

/// Edges from some producers (on the edge index).
pub(super) const CONSUMERS: &str = "FOR d IN deps FILTER d._from IN @from SORT d.producer, d.consumer, d.path RETURN d";

/// Edges into some consumers (on the edge index).
pub(super) const PRODUCERS: &str = "FOR d IN deps FILTER d._to IN @to SORT d.consumer, d.producer, d.path RETURN d";

/// The edges whose consumer is in a run.
pub(super) const RUN_DEPS: &str = "FOR j IN jobs FILTER j.run == @run
  FOR d IN deps FILTER d._to == j._id
  SORT d.consumer, d.path RETURN d";

/// Results by key, by job.
pub(super) const RESULTS: &str = "FOR r IN results FILTER r._key IN @keys SORT r.job RETURN r";

/// One failure by key.
pub(super) const FAILURE: &str = "FOR f IN failures FILTER f._key == @key RETURN f";

/// Failures matching a query, most recent first.
pub(super) const FAILURES: &str = "FOR f IN failures
  FILTER (@run == null OR f.run == @run) AND (@job == null OR f.job == @job)
    AND (@elf == null OR f.elf == @elf) AND (@task == null OR f.task == @task)
    AND (@kind == null OR f.kind == @kind) AND f.at >= @since
  SORT f.id DESC LIMIT @limit RETURN f";

/// Events after a cursor, in log order (on `events_seq`).
pub(super) const EVENTS: &str = "FOR e IN events FILTER e.seq > @after SORT e.seq LIMIT @limit RETURN e";

/// A run's events after a cursor (on `events_run`).
pub(super) const RUN_EVENTS: &str =
    "FOR e IN events FILTER e.run == @run AND e.seq > @after SORT e.run, e.seq LIMIT @limit RETURN e";

/// A job's events after a cursor (on `events_job`), of a run when given.
pub(super) const JOB_EVENTS: &str = "FOR e IN events
  FILTER e.job == @job AND e.seq > @after AND (@run == null OR e.run == @run)
  SORT e.job, e.seq LIMIT @limit RETURN e";

/// One task version by sha.
pub(super) const TASK: &str = "FOR t IN tasks FILTER t._key == @sha RETURN t";

/// Every version recorded under an elf and task, oldest first.
pub(super) const TASK_VERSIONS: &str = "FOR n IN task_names
  FILTER n.elf == @elf AND n.task == @task
  SORT n.first_seen, n.sha
  FOR t IN tasks FILTER t._key == n.sha
  RETURN MERGE(t, { elf: n.elf, name: n.task })";

/// Which of some versions, and which (elf, task, sha) names, exist.
pub(super) const TASKS_KNOWN: &str = "RETURN {
  tasks: (FOR t IN tasks FILTER t._key IN @shas RETURN t._key),
  names: (FOR n IN task_names FILTER n.sha IN @shas RETURN [n.elf, n.task, n.sha])
}";

/// One elf instance by key.
pub(super) const ELF: &str = "FOR e IN elves FILTER e._key == @key RETURN e";

/// Elf instances, most recently started first.
pub(super) const ELVES: &str = "FOR e IN elves SORT e.started_at DESC, e.instance RETURN e";

/// Elf instances in one state, most recently started first.
pub(super) const ELVES_IN_STATE: &str =
    "FOR e IN elves FILTER e.state == @state SORT e.started_at DESC, e.instance RETURN e";

/// Who holds a role.
pub(super) const LEADER: &str = "FOR l IN leaders FILTER l._key == @key RETURN l";
/// Every API token, oldest first.
pub(super) const TOKENS: &str = "FOR t IN tokens SORT t.created_at RETURN t";
/// Inserts a token (the lifecycle checked its name is free; the unique
/// sparse index on `active_name` holds against racing creators).
pub(super) const INSERT_TOKEN: &str = "INSERT @token INTO tokens RETURN NEW._key";
/// Revokes the active token named `@name` at `@at`.
pub(super) const REVOKE_TOKEN: &str = "FOR t IN tokens FILTER t.active_name == @name \
UPDATE t WITH { revoked_at: @at, active_name: null } IN tokens OPTIONS { keepNull: true } RETURN 1";

/// The agents' catalog entries of a kind whose key starts with a prefix,
/// by key (on `catalog_key`; the caller orders them by bytes, as the other
/// backends do, whatever the server's string collation).
pub(super) const CATALOG: &str =
    "FOR c IN catalog FILTER c.kind == @kind AND STARTS_WITH(c.key, @prefix) SORT c.kind, c.key RETURN c";

/// How many jobs match a query, and the oldest one's creation time (one row;
/// none when nothing matches).
pub(super) const JOB_STATS: &str = "FOR j IN jobs
  FILTER (@run == null OR j.run == @run) AND (LENGTH(@states) == 0 OR j.state IN @states)
    AND (@elf == null OR j.elf == @elf) AND (@task == null OR j.task == @task)
  COLLECT AGGREGATE n = LENGTH(1), oldest = MIN(j.created_at)
  RETURN { n: n, oldest: oldest }";

// ---- flows ----

/// A flow's steps from one on, in order (on `flow_steps_flow`).
pub(super) const STEPS: &str = "FOR s IN flow_steps FILTER s.flow == @flow AND s.k >= @from SORT s.flow, s.k RETURN s";

/// The last step of each of some flows that has one, by flow.
pub(super) const LAST_STEPS: &str = "FOR f IN @flows
  LET last = FIRST(FOR s IN flow_steps FILTER s.flow == f SORT s.flow DESC, s.k DESC LIMIT 1 RETURN s)
  FILTER last != null
  RETURN last";

/// The steps that created some jobs (on `flow_steps_child`).
pub(super) const CHILD_STEPS: &str =
    "FOR s IN flow_steps FILTER s.child IN @children SORT s.child, s.flow, s.k RETURN s";

/// The steps of some flows whose child's outcome is not recorded yet.
pub(super) const OPEN_STEPS: &str = "FOR s IN flow_steps
  FILTER s.flow IN @flows AND s.child != null AND s.outcome == null
  SORT s.flow, s.k RETURN s";

/// The signals sent to some flows, by id (on `flow_signals_flow`).
pub(super) const SIGNALS: &str = "FOR g IN flow_signals FILTER g.flow IN @flows SORT g.id RETURN g";

/// The signals sent to some flows and not consumed yet, by id.
pub(super) const OPEN_SIGNALS: &str =
    "FOR g IN flow_signals FILTER g.flow IN @flows AND g.consumed_by == null SORT g.id RETURN g";

/// Waiting jobs of an elf whose timer is due, earliest first, on
/// `jobs_waiting` (`elf`, `wait_until`). `wait_until` is a waiting job's
/// `not_before` and null for every other job ([`docs`](super::docs)), so
/// the claim's filter (`state`, `elf`, `not_before`) never finds in this
/// index more than in `jobs_ready`; `>= @earliest` excludes the nulls from
/// the index range.
pub(super) const DUE: &str = "FOR j IN jobs
  FILTER j.elf == @elf AND j.wait_until >= @earliest AND j.wait_until <= @now
  SORT j.wait_until
  LIMIT @limit
  RETURN j";

/// The earliest timer among an elf's waiting jobs (on `jobs_waiting`).
pub(super) const NEXT_DUE: &str = "FOR j IN jobs
  FILTER j.elf == @elf AND j.wait_until >= @earliest AND j.wait_until < @never
  SORT j.wait_until
  LIMIT 1
  RETURN j.wait_until";

/// The jobs some flows created, by id (on `jobs_parent`).
pub(super) const CHILDREN: &str = "FOR j IN jobs FILTER j.parent IN @parents SORT j.id RETURN j";

// ---- the one write ----

/// Writes everything a transaction buffered since its last read, in one
/// query: new and changed documents of every collection (each collection
/// written once, never read after), the events with `seq` numbers that
/// continue the counter, and the counters themselves.
///
/// `meta/counters` is read first (before any write, as AQL requires) and
/// written last; the transaction holds `meta` exclusively, so nobody else
/// moves the counters meanwhile and the events' `seq` numbers follow commit
/// order. Jobs and runs are inserted or updated by key (`overwriteMode:
/// "update"`, keeping explicit nulls); results, failures, events and edges
/// are plain inserts, so that a duplicate is an error (1210).
pub(super) const FLUSH: &str = r#"LET m = FIRST(FOR c IN meta FILTER c._key == "counters" RETURN c)
LET w1 = (FOR d IN @tasks INSERT d INTO tasks OPTIONS { overwriteMode: "ignore" })
LET w2 = (FOR d IN @task_names INSERT d INTO task_names)
LET w3 = (FOR d IN @elves INSERT d INTO elves OPTIONS { overwriteMode: "replace" })
LET w4 = (FOR d IN @runs INSERT d INTO runs OPTIONS { overwriteMode: "update", keepNull: true, mergeObjects: false })
LET w5 = (FOR d IN @jobs INSERT d INTO jobs OPTIONS { overwriteMode: "update", keepNull: true, mergeObjects: false })
LET w6 = (FOR d IN @deps INSERT d INTO deps)
LET w7 = (FOR d IN @results INSERT d INTO results)
LET w8 = (FOR d IN @failures INSERT d INTO failures)
LET w9 = (FOR d IN @leaders INSERT d INTO leaders OPTIONS { overwriteMode: "replace" })
LET w10 = (FOR e IN @events INSERT MERGE(e.doc, { _key: TO_STRING(m.seq + e.n), seq: m.seq + e.n }) INTO events)
LET w11 = (FOR d IN @steps INSERT d INTO flow_steps)
LET w12 = (FOR d IN @signals INSERT d INTO flow_signals)
LET w13 = (FOR d IN @catalog INSERT d INTO catalog OPTIONS { overwriteMode: "replace" })
UPDATE m WITH {
  job: m.job + @bump.job, run: m.run + @bump.run, failure: m.failure + @bump.failure,
  signal: NOT_NULL(m.signal, 0) + @bump.signal, vtime: MAX([NOT_NULL(m.vtime, 0), @bump.vtime]),
  seq: m.seq + LENGTH(@events), commits: m.commits + 1
} IN meta
RETURN m.seq + LENGTH(@events)"#;

/// The writes [`FLUSH`] cannot make, since it inserts into the same
/// collections (a query modifies a collection at most once): changes to
/// steps and signals written by earlier flushes, and removed catalog
/// entries. A missing document is skipped, as an SQL `UPDATE` or `DELETE`
/// would.
pub(super) const CHANGES: &str = r#"LET w1 = (FOR u IN @steps FOR s IN flow_steps FILTER s._key == u._key
  UPDATE s WITH u IN flow_steps OPTIONS { keepNull: true, mergeObjects: false })
LET w2 = (FOR u IN @signals FOR g IN flow_signals FILTER g._key == u._key
  UPDATE g WITH u IN flow_signals OPTIONS { keepNull: true, mergeObjects: false })
LET w3 = (FOR c IN catalog FILTER c._key IN @removed REMOVE c IN catalog)
RETURN 1"#;

// ---- retention ----

/// Runs that ended before `@before`, oldest first.
pub(super) const FINISHED_RUNS: &str = "FOR r IN runs FILTER r.state IN @states AND r.finished_at != null \
AND r.finished_at < @before SORT r.id LIMIT @limit RETURN r.id";
/// Removes the jobs of `@runs`; their ids.
pub(super) const REMOVE_RUN_JOBS: &str = "FOR j IN jobs FILTER j.run IN @runs REMOVE j IN jobs RETURN OLD.id";
/// Removes `@runs`.
pub(super) const REMOVE_RUNS: &str = "FOR r IN runs FILTER r.id IN @runs REMOVE r IN runs RETURN 1";
/// Removes the events of `@runs`.
pub(super) const REMOVE_RUN_EVENTS: &str = "FOR e IN events FILTER e.run IN @runs REMOVE e IN events RETURN 1";
/// Removes the events of `@jobs` that name no run.
pub(super) const REMOVE_JOB_EVENTS: &str = "FOR e IN events FILTER e.job IN @jobs REMOVE e IN events RETURN 1";
/// Removes the results of the jobs keyed `@keys`.
pub(super) const REMOVE_RESULTS: &str = "FOR r IN results FILTER r._key IN @keys REMOVE r IN results RETURN 1";
/// Removes the edges into the jobs `@handles`.
pub(super) const REMOVE_DEPS: &str = "FOR d IN deps FILTER d._to IN @handles REMOVE d IN deps RETURN 1";
/// Removes the steps of the flows `@jobs`.
pub(super) const REMOVE_FLOW_STEPS: &str = "FOR s IN flow_steps FILTER s.flow IN @jobs REMOVE s IN flow_steps RETURN 1";
/// Removes the signals sent to the flows `@jobs`.
pub(super) const REMOVE_FLOW_SIGNALS: &str =
    "FOR g IN flow_signals FILTER g.flow IN @jobs REMOVE g IN flow_signals RETURN 1";
/// Removes the failures of `@runs`.
pub(super) const REMOVE_FAILURES: &str = "FOR f IN failures FILTER f.run IN @runs REMOVE f IN failures RETURN 1";
/// Removes at most `@limit` jobs of `@run`; their ids.
pub(super) const REMOVE_SOME_RUN_JOBS: &str =
    "FOR j IN jobs FILTER j.run == @run LIMIT @limit REMOVE j IN jobs RETURN OLD.id";
/// Removes the failures of `@jobs`.
pub(super) const REMOVE_JOB_FAILURES: &str = "FOR f IN failures FILTER f.job IN @jobs REMOVE f IN failures RETURN 1";
/// The task versions no job, flow step, failure record or running elf
/// instance names, and the largest job id.
pub(super) const UNREFERENCED_VERSIONS: &str = "LET named = UNION_DISTINCT(
  (FOR j IN jobs FILTER j.expected_sha != null RETURN DISTINCT j.expected_sha),
  (FOR j IN jobs FILTER j.ran_sha != null RETURN DISTINCT j.ran_sha),
  (FOR s IN flow_steps FILTER s.sha != null RETURN DISTINCT s.sha),
  (FOR f IN failures LET sha = JSON_PARSE(f.report).ran_sha FILTER sha != null RETURN DISTINCT sha),
  (FOR e IN elves FILTER e.state == @running FOR t IN e.tasks RETURN DISTINCT t))
RETURN {
  shas: (FOR t IN tasks FILTER t._key NOT IN named RETURN t._key),
  last: MAX(FOR j IN jobs RETURN j.id)
}";
/// Those of `@shas` that no job after `@after` and no running elf instance
/// names.
pub(super) const VERSIONS_TO_DELETE: &str = "LET named = UNION_DISTINCT(
  (FOR j IN jobs FILTER j.id > @after AND j.expected_sha IN @shas RETURN DISTINCT j.expected_sha),
  (FOR e IN elves FILTER e.state == @running FOR t IN e.tasks FILTER t IN @shas RETURN DISTINCT t))
FOR sha IN @shas FILTER sha NOT IN named RETURN sha";
/// Removes the task versions `@shas` that exist; their keys.
pub(super) const REMOVE_VERSIONS: &str = "FOR t IN tasks FILTER t._key IN @shas REMOVE t IN tasks RETURN OLD._key";
/// Removes the names of the task versions `@shas`.
pub(super) const REMOVE_VERSION_NAMES: &str =
    "FOR n IN task_names FILTER n.sha IN @shas REMOVE n IN task_names RETURN 1";

/// Every query this backend can send: (name, text, bind parameter names).
pub(super) const ALL: &[(&str, &str, &[&str])] = &[
    ("LAYOUT", LAYOUT, &[]),
    ("CREATE_COUNTERS", CREATE_COUNTERS, &["counters"]),
    ("UPGRADE_COUNTERS", UPGRADE_COUNTERS, &[]),
    ("WRITE_LAYOUT", WRITE_LAYOUT, &["version"]),
    ("COUNTERS", COUNTERS, &[]),
    ("TOKENS", TOKENS, &[]),
    ("INSERT_TOKEN", INSERT_TOKEN, &["token"]),
    ("REVOKE_TOKEN", REVOKE_TOKEN, &["name", "at"]),
    ("CHANGE_COUNTER", CHANGE_COUNTER, &[]),
    ("SERVER_TIME", SERVER_TIME, &[]),
    ("RUN", RUN, &["key"]),
    ("RUN_BY_KEY", RUN_BY_KEY, &["key"]),
    ("RUNS", RUNS, &["limit"]),
    ("RUNS_IN_STATE", RUNS_IN_STATE, &["state", "limit"]),
    ("JOBS", JOBS, &["keys"]),
    ("QUERY_JOBS", QUERY_JOBS, &["after", "states", "elf", "task", "limit"]),
    ("QUERY_RUN_JOBS", QUERY_RUN_JOBS, &["run", "after", "states", "elf", "task", "limit"]),
    ("JOB_IDS", JOB_IDS, &["run"]),
    ("OPEN_JOBS", OPEN_JOBS, &["run"]),
    ("CLAIMABLE", CLAIMABLE, &["elf", "now", "tasks", "max"]),
    ("RECENT_DURATIONS", RECENT_DURATIONS, &["from", "elf", "task", "limit"]),
    ("EXPIRED", EXPIRED, &["now", "limit"]),
    ("HELD_BY", HELD_BY, &["holder"]),
    ("CONSUMERS", CONSUMERS, &["from"]),
    ("PRODUCERS", PRODUCERS, &["to"]),
    ("RUN_DEPS", RUN_DEPS, &["run"]),
    ("RESULTS", RESULTS, &["keys"]),
    ("FAILURE", FAILURE, &["key"]),
    ("FAILURES", FAILURES, &["run", "job", "elf", "task", "kind", "since", "limit"]),
    ("EVENTS", EVENTS, &["after", "limit"]),
    ("RUN_EVENTS", RUN_EVENTS, &["run", "after", "limit"]),
    ("JOB_EVENTS", JOB_EVENTS, &["job", "after", "run", "limit"]),
    ("TASK", TASK, &["sha"]),
    ("TASK_VERSIONS", TASK_VERSIONS, &["elf", "task"]),
    ("TASKS_KNOWN", TASKS_KNOWN, &["shas"]),
    ("ELF", ELF, &["key"]),
    ("ELVES", ELVES, &[]),
    ("ELVES_IN_STATE", ELVES_IN_STATE, &["state"]),
    ("LEADER", LEADER, &["key"]),
    ("CATALOG", CATALOG, &["kind", "prefix"]),
    ("JOB_STATS", JOB_STATS, &["run", "states", "elf", "task"]),
    ("STEPS", STEPS, &["flow", "from"]),
    ("LAST_STEPS", LAST_STEPS, &["flows"]),
    ("CHILD_STEPS", CHILD_STEPS, &["children"]),
    ("OPEN_STEPS", OPEN_STEPS, &["flows"]),
    ("SIGNALS", SIGNALS, &["flows"]),
    ("OPEN_SIGNALS", OPEN_SIGNALS, &["flows"]),
    ("DUE", DUE, &["elf", "earliest", "now", "limit"]),
    ("NEXT_DUE", NEXT_DUE, &["elf", "earliest", "never"]),
    ("CHILDREN", CHILDREN, &["parents"]),
    (
        "FLUSH",
        FLUSH,
        &[
            "tasks",
            "task_names",
            "elves",
            "runs",
            "jobs",
            "deps",
            "results",
            "failures",
            "leaders",
            "events",
            "steps",
            "signals",
            "catalog",
            "bump",
        ],
    ),
    ("CHANGES", CHANGES, &["steps", "signals", "removed"]),
    ("FINISHED_RUNS", FINISHED_RUNS, &["states", "before", "limit"]),
    ("REMOVE_RUN_JOBS", REMOVE_RUN_JOBS, &["runs"]),
    ("REMOVE_RUNS", REMOVE_RUNS, &["runs"]),
    ("REMOVE_RUN_EVENTS", REMOVE_RUN_EVENTS, &["runs"]),
    ("REMOVE_JOB_EVENTS", REMOVE_JOB_EVENTS, &["jobs"]),
    ("REMOVE_RESULTS", REMOVE_RESULTS, &["keys"]),
    ("REMOVE_DEPS", REMOVE_DEPS, &["handles"]),
    ("REMOVE_FAILURES", REMOVE_FAILURES, &["runs"]),
    ("REMOVE_FLOW_STEPS", REMOVE_FLOW_STEPS, &["jobs"]),
    ("REMOVE_FLOW_SIGNALS", REMOVE_FLOW_SIGNALS, &["jobs"]),
    ("REMOVE_SOME_RUN_JOBS", REMOVE_SOME_RUN_JOBS, &["run", "limit"]),
    ("REMOVE_JOB_FAILURES", REMOVE_JOB_FAILURES, &["jobs"]),
    ("UNREFERENCED_VERSIONS", UNREFERENCED_VERSIONS, &["running"]),
    ("VERSIONS_TO_DELETE", VERSIONS_TO_DELETE, &["after", "shas", "running"]),
    ("REMOVE_VERSIONS", REMOVE_VERSIONS, &["shas"]),
    ("REMOVE_VERSION_NAMES", REMOVE_VERSION_NAMES, &["shas"]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobState;

    #[test]
    fn every_query_is_listed_once_with_the_parameters_it_uses() {
        let mut names: Vec<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a name is listed twice");
        for (name, text, binds) in ALL {
            let mut used: Vec<&str> = Vec::new();
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'@' {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                        end += 1;
                    }
                    if let Some(word) = text.get(start..end).filter(|w| !w.is_empty()) {
                        used.push(word);
                    }
                    i = end;
                } else {
                    i += 1;
                }
            }
            used.sort_unstable();
            used.dedup();
            let mut listed: Vec<&str> = binds.to_vec();
            listed.sort_unstable();
            assert_eq!(used, listed, "{name}: the parameters listed are not the ones its text uses");
        }
    }

    #[test]
    fn state_literals_are_job_states() {
        for (name, text, _) in ALL {
            for literal in
                ["pending", "ready", "claimed", "waiting", "succeeded", "failed", "upstream_failed", "cancelled"]
            {
                let quoted = format!("\"{literal}\"");
                if text.contains(&quoted) {
                    assert!(literal.parse::<JobState>().is_ok(), "{name}: `{literal}` is not a job state");
                }
            }
        }
        let open: Vec<String> =
            JobState::ALL.iter().filter(|s| !s.is_final()).map(|s| format!("\"{}\"", s.as_str())).collect();
        let list = format!("[{}]", open.join(", "));
        assert!(OPEN_JOBS.contains(&list), "OPEN_JOBS lists the open states, {list}");
    }
}
