//! The seam's [`Read`] on ArangoDB: every read is one AQL query, in the
//! view's Stream Transaction, after the writes the transaction buffered
//! (so that a transaction reads its own writes).
//!
//! A read outside a write runs its first query on its own, with no
//! transaction: most reads are one query (one job, one page of events), and
//! one query sees one snapshot. A read that asks a second query is run again,
//! whole, in a read-only Stream Transaction ([`View::restart`]): two queries
//! on their own could see two different snapshots.

use arangors::ClientError;
use serde_json::{Value, json};

use super::aql::{self, NO_LIMIT, Query};
use super::db::Db;
use super::docs::{self, key_of};
use super::errors::{self};
use super::write::{Counters, Pending};
use crate::model::{
    ElfInstance, ElfState, Event, Failure, FailureId, InstanceId, Job, JobId, Millis, Run, RunId, TaskSha, TaskVersion,
};
use crate::storage::rows::{CatalogRow, ClaimScan, JobRow, JobStats, LeaderRow, ResultRow, RunRow};
use crate::storage::seam::Read;
use crate::storage::{Dep, Error, EventQuery, FailureQuery, JobQuery, Result, RunQuery, Token};

/// Where a view's queries run.
#[derive(Debug)]
enum Scope {
    /// On their own: the first query of a read, with no transaction.
    Standalone { used: bool },
    /// In a Stream Transaction.
    Transaction(String),
}

/// A read or a write transaction in progress.
pub(super) struct View<'a> {
    pub(super) db: &'a Db,
    /// The store's URL, redacted, for errors.
    pub(super) shown: &'a str,
    scope: Scope,
    /// Whether the body asked for a second query outside a transaction.
    restart: bool,
    /// Writes not sent yet.
    pub(super) pending: Pending,
    /// The counters as this transaction sees them (read once, when an id is
    /// first needed), with what it reserved since.
    pub(super) counters: Option<Counters>,
    /// What this transaction reserved and has not written yet.
    pub(super) bump: Counters,
    /// The first request that failed; every later one fails the same way
    /// (the server may have aborted the transaction).
    fault: Option<ClientError>,
}

impl<'a> View<'a> {
    /// A read whose first query runs on its own.
    pub(super) fn standalone(db: &'a Db, shown: &'a str) -> Self {
        Self::new(db, shown, Scope::Standalone { used: false })
    }

    /// A view in the Stream Transaction `trx`.
    pub(super) fn in_transaction(db: &'a Db, shown: &'a str, trx: String) -> Self {
        Self::new(db, shown, Scope::Transaction(trx))
    }

    fn new(db: &'a Db, shown: &'a str, scope: Scope) -> Self {
        Self {
            db,
            shown,
            scope,
            restart: false,
            pending: Pending::default(),
            counters: None,
            bump: Counters::default(),
            fault: None,
        }
    }

    /// Whether the read must run again in a transaction (it asked for more
    /// than one query).
    pub(super) fn restart(&self) -> bool {
        self.restart
    }

    /// The request that failed, if one did.
    pub(super) fn take_fault(&mut self) -> Option<ClientError> {
        self.fault.take()
    }

    /// The transaction's id.
    pub(super) fn transaction(&self) -> Option<&str> {
        match &self.scope {
            Scope::Transaction(id) => Some(id),
            Scope::Standalone { .. } => None,
        }
    }

    /// Records a failed request and the error the body sees.
    pub(super) fn fail(&mut self, what: &str, e: ClientError) -> Error {
        let err = errors::to_storage(self.shown, what, &e);
        if self.fault.is_none() {
            self.fault = Some(e);
        }
        err
    }

    /// The error of any request after a failed one.
    fn poisoned(&self, what: &str) -> Option<Error> {
        self.fault.as_ref().map(|f| {
            Error::backend(
                format!("{what} (on {})", self.shown),
                std::io::Error::other(format!(
                    "an earlier request of this transaction failed: {}",
                    errors::describe(f)
                )),
            )
        })
    }

    /// Runs `q` after sending the buffered writes.
    pub(super) fn rows(&mut self, q: Query) -> Result<Vec<Value>> {
        if let Some(e) = self.poisoned(q.what) {
            return Err(e);
        }
        self.flush()?;
        let trx = match &mut self.scope {
            Scope::Transaction(id) => Some(id.clone()),
            Scope::Standalone { used } if !*used => {
                *used = true;
                None
            }
            Scope::Standalone { .. } => {
                self.restart = true;
                return Err(Error::backend(
                    q.what,
                    std::io::Error::other("a second query of a read outside a transaction (the read runs again)"),
                ));
            }
        };
        self.db.query(&q, trx.as_deref()).map_err(|e| self.fail(q.what, e))
    }

    /// The rows of `q`, each decoded by `f`.
    pub(super) fn decoded<T>(&mut self, q: Query, f: impl Fn(&Value) -> Result<T>) -> Result<Vec<T>> {
        self.rows(q)?.iter().map(f).collect()
    }

    /// The first row of `q`, decoded, if any.
    fn first<T>(&mut self, q: Query, f: impl Fn(&Value) -> Result<T>) -> Result<Option<T>> {
        self.rows(q)?.first().filter(|v| !v.is_null()).map(f).transpose()
    }

    /// Sends the buffered writes (one query).
    pub(super) fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() && self.bump.is_zero() {
            return Ok(());
        }
        if let Some(e) = self.poisoned("write") {
            return Err(e);
        }
        let Some(trx) = self.transaction().map(str::to_owned) else {
            return Err(Error::backend("write", std::io::Error::other("a write outside a write transaction")));
        };
        let pending = std::mem::take(&mut self.pending);
        let events = pending.events.len() as i64;
        let (q, changes) = pending.into_queries(&self.bump);
        self.db.query(&q, Some(&trx)).map_err(|e| self.fail("write", e))?;
        if let Some(changes) = changes {
            self.db.query(&changes, Some(&trx)).map_err(|e| self.fail("write", e))?;
        }
        let vtime = self.bump.vtime;
        self.bump = Counters::default();
        if let Some(c) = &mut self.counters {
            c.seq += events;
            c.commits += 1;
            c.vtime = c.vtime.max(vtime);
        }
        Ok(())
    }
}

/// Job keys (their ids as text), distinct.
fn keys(ids: &[JobId]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().map(|id| id.0.to_string()).collect()
}

fn handles(ids: &[JobId]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(docs::job_handle).collect()
}

fn limit(n: Option<u32>) -> u64 {
    n.map_or(NO_LIMIT, u64::from)
}

impl Read for View<'_> {
    fn run(&mut self, id: RunId) -> Result<Option<RunRow>> {
        self.first(Query::new("read a run", aql::RUN).bind("key", id.0.to_string()), docs::run_row)
    }

    fn run_by_key(&mut self, key: &str) -> Result<Option<RunId>> {
        let q = Query::new("find a run by its idempotency key", aql::RUN_BY_KEY).bind("key", key);
        let rows = self.rows(q)?;
        match rows.first() {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Ok(Some(RunId(docs::Doc::new("run id", &json!({ "id": v }))?.int("id")?))),
        }
    }

    fn runs(&mut self, query: &RunQuery) -> Result<Vec<Run>> {
        let q = match query.state {
            Some(state) => Query::new("read runs", aql::RUNS_IN_STATE).bind("state", state.as_str()),
            None => Query::new("read runs", aql::RUNS),
        };
        self.decoded(q.bind("limit", limit(query.limit)), |v| docs::run_row(v).map(|r| r.run))
    }

    fn job_rows(&mut self, ids: &[JobId]) -> Result<Vec<JobRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.decoded(Query::new("read jobs", aql::JOBS).bind("keys", keys(ids)), docs::job_row)
    }

    fn jobs(&mut self, ids: &[JobId]) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.decoded(Query::new("read jobs", aql::JOBS).bind("keys", keys(ids)), docs::job)
    }

    fn query_jobs(&mut self, query: &JobQuery) -> Result<Vec<Job>> {
        let q = match query.run {
            Some(run) => Query::new("read jobs", aql::QUERY_RUN_JOBS).bind("run", run.0),
            None => Query::new("read jobs", aql::QUERY_JOBS),
        };
        let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
        let q = q
            .bind("after", query.after.map_or(-(NO_LIMIT as i64), |a| a.0))
            .bind("states", states)
            .bind("elf", query.elf.clone())
            .bind("task", query.task.clone())
            .bind("limit", limit(query.limit));
        self.decoded(q, docs::job)
    }

    fn job_ids(&mut self, run: RunId) -> Result<Vec<JobId>> {
        let q = Query::new("read a run's jobs", aql::JOB_IDS).bind("run", run.0);
        self.decoded(q, |v| Ok(JobId(docs::Doc::new("job id", &json!({ "id": v }))?.int("id")?)))
    }

    fn open_jobs(&mut self, run: RunId) -> Result<Vec<JobRow>> {
        self.decoded(Query::new("read a run's open jobs", aql::OPEN_JOBS).bind("run", run.0), docs::job_row)
    }

    fn claimable(&mut self, scan: &ClaimScan<'_>) -> Result<Vec<(JobRow, Value)>> {
        let q = Query::new("find claimable jobs", aql::CLAIMABLE)
            .bind("elf", scan.elf)
            .bind("now", scan.now)
            .bind("tasks", scan.tasks.to_vec())
            .bind("max", scan.max);
        self.decoded(q, |v| Ok((docs::job_row(v)?, docs::job_args(v)?)))
    }

    fn expired(&mut self, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        let q = Query::new("find expired leases", aql::EXPIRED).bind("now", now).bind("limit", limit);
        self.decoded(q, docs::job_row)
    }

    fn held_by(&mut self, instance: &InstanceId) -> Result<Vec<JobRow>> {
        let q = Query::new("find an elf's jobs", aql::HELD_BY).bind("holder", instance.0.as_str());
        self.decoded(q, docs::job_row)
    }

    fn consumers(&mut self, producers: &[JobId]) -> Result<Vec<Dep>> {
        if producers.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read dependencies", aql::CONSUMERS).bind("from", handles(producers));
        self.decoded(q, docs::dep_of)
    }

    fn producers(&mut self, consumers: &[JobId]) -> Result<Vec<Dep>> {
        if consumers.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new("read dependencies", aql::PRODUCERS).bind("to", handles(consumers));
        self.decoded(q, docs::dep_of)
    }

    fn run_deps(&mut self, run: RunId) -> Result<Vec<Dep>> {
        self.decoded(Query::new("read dependencies", aql::RUN_DEPS).bind("run", run.0), docs::dep_of)
    }

    fn results(&mut self, jobs: &[JobId]) -> Result<Vec<ResultRow>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.decoded(Query::new("read results", aql::RESULTS).bind("keys", keys(jobs)), docs::result_of)
    }

    fn failure(&mut self, id: FailureId) -> Result<Option<Failure>> {
        self.first(Query::new("read a failure", aql::FAILURE).bind("key", id.0.to_string()), docs::failure_of)
    }

    fn failures(&mut self, query: &FailureQuery) -> Result<Vec<Failure>> {
        let q = Query::new("read failures", aql::FAILURES)
            .bind("run", query.run.map(|r| r.0))
            .bind("job", query.job.map(|j| j.0))
            .bind("elf", query.elf.clone())
            .bind("task", query.task.clone())
            .bind("kind", query.kind.map(|k| k.as_str()))
            .bind("since", query.since.unwrap_or(-(NO_LIMIT as i64)))
            .bind("limit", limit(query.limit));
        self.decoded(q, docs::failure_of)
    }

    fn events(&mut self, query: &EventQuery) -> Result<Vec<Event>> {
        let q = match (query.job, query.run) {
            (Some(job), run) => {
                Query::new("read events", aql::JOB_EVENTS).bind("job", job.0).bind("run", run.map(|r| r.0))
            }
            (None, Some(run)) => Query::new("read events", aql::RUN_EVENTS).bind("run", run.0),
            (None, None) => Query::new("read events", aql::EVENTS),
        };
        self.decoded(q.bind("after", query.after).bind("limit", query.limit.max(1)), docs::event_of)
    }

    fn task_version(&mut self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        self.first(Query::new("read a task version", aql::TASK).bind("sha", sha.as_str()), docs::task_of)
    }

    fn task_versions(&mut self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        let q = Query::new("read task versions", aql::TASK_VERSIONS).bind("elf", elf).bind("task", task);
        self.decoded(q, docs::task_of)
    }

    fn elf(&mut self, instance: &InstanceId) -> Result<Option<ElfInstance>> {
        self.first(Query::new("read an elf", aql::ELF).bind("key", key_of(&instance.0)), docs::elf_of)
    }

    fn elves(&mut self, state: Option<ElfState>) -> Result<Vec<ElfInstance>> {
        let q = match state {
            Some(s) => Query::new("read elves", aql::ELVES_IN_STATE).bind("state", s.as_str()),
            None => Query::new("read elves", aql::ELVES),
        };
        self.decoded(q, docs::elf_of)
    }

    fn leader(&mut self, role: &str) -> Result<Option<LeaderRow>> {
        self.first(Query::new("read the leader", aql::LEADER).bind("key", key_of(role)), docs::leader_of)
    }

    fn tokens(&mut self) -> Result<Vec<Token>> {
        self.decoded(Query::new("read tokens", aql::TOKENS), docs::token_of)
    }

    fn catalog(&mut self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>> {
        self.read_catalog(kind, prefix)
    }

    fn job_stats(&mut self, query: &JobQuery) -> Result<JobStats> {
        self.count_jobs(query)
    }

    fn vtime(&mut self) -> Result<i64> {
        let pending = self.bump.vtime;
        Ok(self.counters()?.vtime.max(pending))
    }

    fn recent_durations(&mut self, elf: &str, task: &str, limit: u32) -> Result<Vec<u64>> {
        let newest = self.counters()?.job;
        let q = Query::new("read recent durations", aql::RECENT_DURATIONS)
            .bind("from", newest.saturating_sub(crate::storage::seam::RECENT_JOBS))
            .bind("elf", elf)
            .bind("task", task)
            .bind("limit", limit);
        self.decoded(q, |v| Ok(docs::Doc::new("duration", &json!({ "ms": v }))?.int("ms")?.max(0) as u64))
    }
}
