//! Transactions on the in-memory tables: writes journal their undo.

use serde_json::Value;

use super::tables::{MemJob, Tables, Undo};
use crate::model::{ElfInstance, Event, Failure, FailureId, JobId, Millis, Run, TaskVersion};
use crate::storage::rows::{CatalogWrite, JobRow, LeaderRow, NewEvent, NewJob, NewResult, ResultRow, RunRow, Sequence};
use crate::storage::seam::Tx;
use crate::storage::{Dep, Error, Result, Token};

/// A transaction (or a read) on the tables, holding their lock.
pub(super) struct MemTx<'a> {
    pub(super) t: &'a mut Tables,
    pub(super) journal: Vec<Undo>,
}

impl<'a> MemTx<'a> {
    pub(super) fn new(t: &'a mut Tables) -> Self {
        Self { t, journal: Vec::new() }
    }

    /// Records how to undo a write.
    pub(super) fn journal(&mut self, undo: Undo) {
        self.journal.push(undo);
    }

    /// Keeps every write.
    pub(super) fn commit(self) {
        if !self.journal.is_empty() {
            self.t.version += 1;
        }
    }

    /// Undoes every write, newest first.
    pub(super) fn rollback(mut self) {
        while let Some(u) = self.journal.pop() {
            self.t.undo(u);
        }
    }
}

fn corrupt(what: String) -> Error {
    Error::backend("write the in-memory store", std::io::Error::other(what))
}

impl Tx for MemTx<'_> {
    fn reserve(&mut self, sequence: Sequence, n: u64) -> Result<i64> {
        let n = i64::try_from(n).map_err(|_| corrupt("too many ids at once".into()))?;
        let counter = match sequence {
            Sequence::Jobs => {
                self.journal.push(Undo::NextJob(self.t.next_job));
                &mut self.t.next_job
            }
            Sequence::Runs => {
                self.journal.push(Undo::NextRun(self.t.next_run));
                &mut self.t.next_run
            }
        };
        let first = *counter + 1;
        *counter += n;
        Ok(first)
    }

    fn insert_run(&mut self, run: &RunRow) -> Result<()> {
        let id = run.run.id;
        if self.t.runs.contains_key(&id) {
            return Err(corrupt(format!("run {id} exists already")));
        }
        if let Some(k) = &run.idempotency_key {
            if self.t.run_keys.contains_key(k) {
                return Err(corrupt(format!("idempotency key `{k}` is taken")));
            }
            self.t.run_keys.insert(k.clone(), id);
            self.journal.push(Undo::RunKey(k.clone()));
        }
        self.t.runs.insert(id, run.clone());
        self.journal.push(Undo::Run(id, None));
        Ok(())
    }

    fn update_run(&mut self, run: &Run) -> Result<()> {
        let row = self.t.runs.get_mut(&run.id).ok_or_else(|| corrupt(format!("run {} is missing", run.id)))?;
        let old = row.clone();
        row.run.state = run.state;
        row.run.finished_at = run.finished_at;
        row.run.total = run.total;
        row.run.open = run.open;
        row.run.failed = run.failed;
        row.run.sealed = run.sealed;
        self.journal.push(Undo::Run(run.id, Some(Box::new(old))));
        Ok(())
    }

    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()> {
        for j in jobs {
            let id = j.row.id;
            if self.t.jobs.contains_key(&id) {
                return Err(corrupt(format!("job {id} exists already")));
            }
            if let Some(k) = &j.key {
                let key = (j.row.run, k.clone());
                if self.t.job_keys.contains_key(&key) {
                    return Err(corrupt(format!("key `{k}` is taken in run {}", j.row.run)));
                }
                self.t.job_keys.insert(key.clone(), id);
                self.journal.push(Undo::JobKey(key));
            }
            let args: Value =
                serde_json::from_str(&j.args).map_err(|e| corrupt(format!("arguments of job {id}: {e}")))?;
            let job = MemJob {
                row: j.row.clone(),
                key: j.key.clone(),
                args,
                expected_sha: j.expected_sha.clone(),
                created_at: j.created_at,
            };
            self.t.set_job(id, Some(job));
            self.journal.push(Undo::Job(id, None));
        }
        Ok(())
    }

    fn update_jobs(&mut self, jobs: &[JobRow]) -> Result<()> {
        for row in jobs {
            let old = self.t.set_row(row.clone()).ok_or_else(|| corrupt(format!("job {} is missing", row.id)))?;
            self.journal.push(Undo::Row(Box::new(old)));
        }
        Ok(())
    }

    fn set_turns(&mut self, turns: &[(JobId, i64, u64)]) -> Result<()> {
        for (id, turn, rank) in turns {
            if let Some((old_turn, old_rank)) = self.t.set_turn(*id, *turn, *rank) {
                self.journal.push(Undo::Turn(*id, old_turn, old_rank));
            }
        }
        Ok(())
    }

    fn advance_vtime(&mut self, turn: i64) -> Result<()> {
        if turn > self.t.vtime {
            self.journal.push(Undo::Vtime(self.t.vtime));
            self.t.vtime = turn;
        }
        Ok(())
    }

    fn insert_deps(&mut self, deps: &[Dep]) -> Result<()> {
        for d in deps {
            self.t.feeds.entry(d.producer).or_default().push((d.consumer, d.path.clone()));
            self.t.fed_by.entry(d.consumer).or_default().push((d.producer, d.path.clone()));
            self.journal.push(Undo::Dep { producer: d.producer, consumer: d.consumer });
        }
        Ok(())
    }

    fn insert_results(&mut self, results: &[NewResult]) -> Result<()> {
        for r in results {
            if self.t.results.contains_key(&r.job) {
                return Err(corrupt(format!("job {} has a result already", r.job)));
            }
            let value: Value =
                serde_json::from_str(&r.value).map_err(|e| corrupt(format!("result of job {}: {e}", r.job)))?;
            self.t.results.insert(r.job, ResultRow { job: r.job, epoch: r.epoch, value, at: r.at });
            self.journal.push(Undo::Result(r.job));
        }
        Ok(())
    }

    fn insert_failures(&mut self, failures: &[Failure]) -> Result<Vec<FailureId>> {
        let mut ids = Vec::with_capacity(failures.len());
        self.journal.push(Undo::NextFailure(self.t.next_failure));
        for f in failures {
            self.t.next_failure += 1;
            let id = FailureId(self.t.next_failure);
            let mut f = f.clone();
            f.id = id;
            self.t.failures.insert(id, f);
            self.journal.push(Undo::Failure(id));
            ids.push(id);
        }
        Ok(ids)
    }

    fn append(&mut self, events: &[NewEvent]) -> Result<()> {
        self.journal.push(Undo::Events(self.t.events.len(), self.t.last_seq));
        for e in events {
            let data = match &e.data {
                Some(text) => serde_json::from_str(text).map_err(|err| corrupt(format!("event data: {err}")))?,
                None => Value::Null,
            };
            self.t.last_seq += 1;
            let seq = self.t.last_seq;
            self.t.events.push(Event { seq, at: e.at, kind: e.kind, run: e.run, job: e.job, state: e.state, data });
        }
        Ok(())
    }

    fn put_task_versions(&mut self, versions: &[TaskVersion], now: Millis) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            let mut new = false;
            if !self.t.tasks.contains_key(&v.sha) {
                let mut stored = v.clone();
                stored.first_seen = now;
                self.t.tasks.insert(v.sha.clone(), stored);
                self.journal.push(Undo::Task(v.sha.clone()));
                new = true;
            }
            let key = (v.elf.clone(), v.name.clone());
            let names = self.t.task_names.entry(key.clone()).or_default();
            if !names.iter().any(|(_, s)| *s == v.sha) {
                let len = names.len();
                names.push((now, v.sha.clone()));
                self.journal.push(Undo::TaskName(key, len));
                new = true;
            }
            out.push(new);
        }
        Ok(out)
    }

    fn put_elf(&mut self, elf: &ElfInstance) -> Result<()> {
        let old = self.t.elves.insert(elf.instance.clone(), elf.clone());
        self.journal.push(Undo::Elf(elf.instance.clone(), old.map(Box::new)));
        Ok(())
    }

    fn insert_token(&mut self, token: &Token) -> Result<()> {
        self.journal.push(Undo::Tokens(self.t.tokens.clone()));
        self.t.tokens.push(token.clone());
        Ok(())
    }

    fn revoke_token(&mut self, name: &str, at: Millis) -> Result<bool> {
        let Some(t) = self.t.tokens.iter().position(|t| t.name == name && t.revoked_at.is_none()) else {
            return Ok(false);
        };
        self.journal.push(Undo::Tokens(self.t.tokens.clone()));
        self.t.tokens[t].revoked_at = Some(at);
        Ok(true)
    }

    fn put_leader(&mut self, row: &LeaderRow) -> Result<()> {
        let old = self.t.leaders.insert(row.role.clone(), row.clone());
        self.journal.push(Undo::Leader(row.role.clone(), old));
        Ok(())
    }

    fn put_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()> {
        self.write_catalog(writes)
    }
}
