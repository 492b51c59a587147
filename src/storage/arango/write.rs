//! The seam's [`Tx`] on ArangoDB: writes are buffered in the transaction and
//! sent in one query ([`aql::FLUSH`]) before the transaction's next read and
//! before its commit, so that a claim or a completion costs one write
//! request whatever it touches.
//!
//! Flows' steps and signals, and the agents' catalog, ride on the same
//! flush; what it cannot write, since it inserts into those collections and
//! a query modifies a collection once (changes to steps and signals an
//! earlier flush wrote, removed catalog entries), follows in a second query
//! ([`aql::CHANGES`]), only when there is any.
//!
//! Ids (of jobs, runs, failures and signals) come from `meta/counters`, read
//! once per transaction when it first needs one (the transaction holds
//! `meta` exclusively: nobody else moves them meanwhile) and moved forward
//! by the flush. Event `seq` numbers are given by the flush itself,
//! continuing the counter: transactions that write commit one at a time, so
//! `seq` follows commit order.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::aql::{self, Query};
use super::docs;
use super::view::View;
use crate::model::{ElfInstance, Failure, FailureId, JobId, Millis, Run, TaskVersion};
use crate::storage::rows::{CatalogWrite, JobRow, LeaderRow, NewEvent, NewJob, NewResult, RunRow, Sequence};
use crate::storage::seam::Tx;
use crate::storage::{Dep, Error, ErrorKind, Result, Token};

/// The counters of `meta/counters` (or what a transaction added to them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counters {
    /// The last job id handed out.
    pub(super) job: i64,
    /// The last run id handed out.
    pub(super) run: i64,
    /// The last failure id handed out.
    pub(super) failure: i64,
    /// The last signal id handed out.
    pub(super) signal: i64,
    /// The last event `seq`.
    pub(super) seq: i64,
    /// Commits that wrote something.
    pub(super) commits: i64,
    /// The virtual time (in a bump: the value to raise it to).
    pub(super) vtime: i64,
}

impl Counters {
    /// Whether nothing was added.
    pub(super) fn is_zero(&self) -> bool {
        *self == Counters::default()
    }

    fn of(v: &Value) -> Result<Counters> {
        let d = docs::Doc::new("counters", v)?;
        Ok(Counters {
            job: d.int("job")?,
            run: d.int("run")?,
            failure: d.int("failure")?,
            // Counters of layout version 2 have none until the upgrade.
            signal: d.opt_int("signal")?.unwrap_or(0),
            seq: d.int("seq")?,
            commits: d.opt_int("commits")?.unwrap_or(0),
            // Counters of layout 4 and older have none until the first claim.
            vtime: d.opt_int("vtime")?.unwrap_or(0),
        })
    }
}

/// Documents of one collection by key, in the order first written; a later
/// write of the same key is merged into the earlier one (as the server
/// would merge the two updates).
#[derive(Debug, Default)]
pub(super) struct Keyed {
    order: Vec<String>,
    docs: HashMap<String, Map<String, Value>>,
}

impl Keyed {
    pub(super) fn put(&mut self, doc: Map<String, Value>) {
        let key = doc.get("_key").and_then(Value::as_str).unwrap_or_default().to_owned();
        match self.docs.get_mut(&key) {
            Some(old) => old.extend(doc),
            None => {
                self.order.push(key.clone());
                self.docs.insert(key, doc);
            }
        }
    }

    /// Whether a document of `key` is buffered.
    pub(super) fn contains(&self, key: &str) -> bool {
        self.docs.contains_key(key)
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Merges `change` into the document of its key, if one is buffered;
    /// gives it back otherwise.
    pub(super) fn merge(&mut self, change: Map<String, Value>) -> Option<Map<String, Value>> {
        let key = change.get("_key").and_then(Value::as_str).unwrap_or_default();
        match self.docs.get_mut(key) {
            Some(old) => {
                old.extend(change);
                None
            }
            None => Some(change),
        }
    }

    fn into_value(mut self) -> Value {
        Value::Array(self.order.iter().filter_map(|k| self.docs.remove(k)).map(Value::Object).collect())
    }
}

/// Writes a transaction has not sent yet.
#[derive(Debug, Default)]
pub(super) struct Pending {
    tasks: Vec<Value>,
    task_names: Vec<Value>,
    elves: Keyed,
    runs: Keyed,
    jobs: Keyed,
    deps: Vec<Value>,
    results: Vec<Value>,
    failures: Vec<Value>,
    leaders: Keyed,
    pub(super) events: Vec<NewEvent>,
    /// New flow steps.
    pub(super) steps: Keyed,
    /// Changes to flow steps written by an earlier flush.
    pub(super) step_changes: Keyed,
    /// New signals.
    pub(super) signals: Keyed,
    /// Changes to signals written by an earlier flush.
    pub(super) signal_changes: Keyed,
    /// Catalog entries to put (`Some`) or remove (`None`), by key, the last
    /// write of a key only.
    pub(super) catalog: Vec<(String, Option<Value>)>,
}

impl Pending {
    /// Whether nothing is buffered.
    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
            && self.task_names.is_empty()
            && self.elves.len() == 0
            && self.runs.len() == 0
            && self.jobs.len() == 0
            && self.deps.is_empty()
            && self.results.is_empty()
            && self.failures.is_empty()
            && self.leaders.len() == 0
            && self.events.is_empty()
            && self.steps.len() == 0
            && self.step_changes.len() == 0
            && self.signals.len() == 0
            && self.signal_changes.len() == 0
            && self.catalog.is_empty()
    }

    /// The query that writes it all, moving the counters by `bump`, and the
    /// one that changes what earlier flushes wrote, if anything needs it
    /// ([`aql::CHANGES`]).
    pub(super) fn into_queries(mut self, bump: &Counters) -> (Query, Option<Query>) {
        let mut puts = Vec::new();
        let mut removed = Vec::new();
        for (key, doc) in std::mem::take(&mut self.catalog) {
            match doc {
                Some(doc) => puts.push(doc),
                None => removed.push(Value::String(key)),
            }
        }
        let changes =
            (self.step_changes.len() > 0 || self.signal_changes.len() > 0 || !removed.is_empty()).then(|| {
                Query::new("write changes", aql::CHANGES)
                    .bind("steps", std::mem::take(&mut self.step_changes).into_value())
                    .bind("signals", std::mem::take(&mut self.signal_changes).into_value())
                    .bind("removed", removed)
            });
        (self.into_query(bump, puts), changes)
    }

    fn into_query(self, bump: &Counters, catalog: Vec<Value>) -> Query {
        let events: Vec<Value> = self.events.iter().enumerate().map(|(i, e)| docs::event(e, i + 1)).collect();
        Query::new("write", aql::FLUSH)
            .bind("tasks", self.tasks)
            .bind("task_names", self.task_names)
            .bind("elves", self.elves.into_value())
            .bind("runs", self.runs.into_value())
            .bind("jobs", self.jobs.into_value())
            .bind("deps", self.deps)
            .bind("results", self.results)
            .bind("failures", self.failures)
            .bind("leaders", self.leaders.into_value())
            .bind("events", events)
            .bind("steps", self.steps.into_value())
            .bind("signals", self.signals.into_value())
            .bind("catalog", catalog)
            .bind(
                "bump",
                json!({
                    "job": bump.job, "run": bump.run, "failure": bump.failure, "signal": bump.signal,
                    "vtime": bump.vtime,
                }),
            )
    }
}

impl View<'_> {
    /// The counters as this transaction sees them, read on first use.
    pub(super) fn counters(&mut self) -> Result<&mut Counters> {
        if self.counters.is_none() {
            let trx = self.transaction().map(str::to_owned);
            let q = Query::new("read the counters", aql::COUNTERS);
            let row = self.db.query_one(&q, trx.as_deref()).map_err(|e| self.fail("read the counters", e))?;
            if row.is_null() {
                return Err(Error::backend(
                    "read the counters",
                    std::io::Error::other(format!("`meta/counters` is missing in {}", self.shown)),
                ));
            }
            self.counters = Some(Counters::of(&row)?);
        }
        self.counters
            .as_mut()
            .ok_or_else(|| Error::backend("read the counters", std::io::Error::other("the counters vanished")))
    }
}

impl Tx for View<'_> {
    fn reserve(&mut self, sequence: Sequence, n: u64) -> Result<i64> {
        let n =
            i64::try_from(n).map_err(|_| Error::invalid("id reservation", "too many ids at once", "reserve fewer"))?;
        let c = self.counters()?;
        let first = match sequence {
            Sequence::Jobs => {
                c.job += n;
                c.job - n + 1
            }
            Sequence::Runs => {
                c.run += n;
                c.run - n + 1
            }
        };
        match sequence {
            Sequence::Jobs => self.bump.job += n,
            Sequence::Runs => self.bump.run += n,
        }
        Ok(first)
    }

    fn insert_run(&mut self, run: &RunRow) -> Result<()> {
        self.pending.runs.put(docs::new_run(run)?);
        Ok(())
    }

    fn set_turns(&mut self, turns: &[(JobId, i64, u64)]) -> Result<()> {
        for (id, turn, rank) in turns {
            self.pending.jobs.put(docs::turn_update(*id, *turn, *rank));
        }
        Ok(())
    }

    fn advance_vtime(&mut self, turn: i64) -> Result<()> {
        // No read: the flush raises the stored value to this one.
        self.bump.vtime = self.bump.vtime.max(turn);
        Ok(())
    }

    fn update_run(&mut self, run: &Run) -> Result<()> {
        self.pending.runs.put(docs::run_update(run));
        Ok(())
    }

    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()> {
        for j in jobs {
            self.pending.jobs.put(docs::new_job(j)?);
        }
        Ok(())
    }

    fn update_jobs(&mut self, jobs: &[JobRow]) -> Result<()> {
        for r in jobs {
            self.pending.jobs.put(docs::job_update(r));
        }
        Ok(())
    }

    fn insert_deps(&mut self, deps: &[Dep]) -> Result<()> {
        self.pending.deps.extend(deps.iter().map(|d| Value::Object(docs::dep(d))));
        Ok(())
    }

    fn insert_results(&mut self, results: &[NewResult]) -> Result<()> {
        self.pending.results.extend(results.iter().map(|r| Value::Object(docs::result(r))));
        Ok(())
    }

    fn insert_failures(&mut self, failures: &[Failure]) -> Result<Vec<FailureId>> {
        let mut ids = Vec::with_capacity(failures.len());
        for f in failures {
            let c = self.counters()?;
            c.failure += 1;
            let id = FailureId(c.failure);
            self.bump.failure += 1;
            self.pending.failures.push(Value::Object(docs::failure(f, id)?));
            ids.push(id);
        }
        Ok(ids)
    }

    fn append(&mut self, events: &[NewEvent]) -> Result<()> {
        self.pending.events.extend_from_slice(events);
        Ok(())
    }

    fn put_task_versions(&mut self, versions: &[TaskVersion], now: Millis) -> Result<Vec<bool>> {
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let shas: Vec<&str> = versions.iter().map(|v| v.sha.as_str()).collect();
        let known = self.rows(Query::new("find recorded task versions", aql::TASKS_KNOWN).bind("shas", shas))?;
        let known = known.into_iter().next().unwrap_or(Value::Null);
        let mut tasks: HashSet<String> =
            known["tasks"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        let mut names: HashSet<(String, String, String)> = known["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n[0].as_str()?.to_owned(), n[1].as_str()?.to_owned(), n[2].as_str()?.to_owned())))
            .collect();
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            let mut new = false;
            if tasks.insert(v.sha.as_str().to_owned()) {
                self.pending.tasks.push(Value::Object(docs::task(v, now)?));
                new = true;
            }
            if names.insert((v.elf.clone(), v.name.clone(), v.sha.as_str().to_owned())) {
                self.pending.task_names.push(Value::Object(docs::task_name(v, now)));
                new = true;
            }
            out.push(new);
        }
        Ok(out)
    }

    fn put_elf(&mut self, elf: &ElfInstance) -> Result<()> {
        self.pending.elves.put(docs::elf(elf)?);
        Ok(())
    }

    fn put_leader(&mut self, row: &LeaderRow) -> Result<()> {
        self.pending.leaders.put(docs::leader(row));
        Ok(())
    }

    fn insert_token(&mut self, token: &Token) -> Result<()> {
        token.validate()?;
        let q = Query::new("create a token", aql::INSERT_TOKEN).bind("token", docs::token(token)?);
        match self.rows(q) {
            // A racing creator won the unique index on `active_name`.
            Err(e) if e.kind() == ErrorKind::BadInput && e.to_string().contains("unique") => {
                Err(Token::duplicate(&token.name))
            }
            other => other.map(drop),
        }
    }

    fn put_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()> {
        self.buffer_catalog(writes)
    }

    fn revoke_token(&mut self, name: &str, at: Millis) -> Result<bool> {
        let q = Query::new("revoke a token", aql::REVOKE_TOKEN).bind("name", name).bind("at", at);
        Ok(!self.rows(q)?.is_empty())
    }
}
