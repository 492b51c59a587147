//! The in-memory tables, their indexes, and the undo journal that makes a
//! failed transaction leave them as they were.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::model::{
    ElfInstance, Event, Failure, FailureId, InstanceId, JobId, JobState, Millis, RunId, Signal, SignalId, Step,
    TaskSha, TaskVersion,
};
use crate::storage::Token;
use crate::storage::rows::{JobRow, LeaderRow, ResultRow, RunRow};

/// A stored job: its row and what is fixed at submission.
#[derive(Clone, Debug)]
pub(super) struct MemJob {
    pub(super) row: JobRow,
    pub(super) key: Option<String>,
    pub(super) args: Value,
    pub(super) expected_sha: Option<TaskSha>,
    pub(super) created_at: Millis,
}

/// Every table.
#[derive(Clone, Debug, Default)]
pub(super) struct Tables {
    pub(super) runs: BTreeMap<RunId, RunRow>,
    pub(super) run_keys: HashMap<String, RunId>,
    pub(super) jobs: BTreeMap<JobId, MemJob>,
    pub(super) job_keys: HashMap<(RunId, String), JobId>,
    /// Ready jobs in claim order per elf.
    pub(super) ready: BTreeSet<(String, Reverse<i32>, i64, JobId)>,
    /// Claimed jobs by lease expiry.
    pub(super) leases: BTreeSet<(Millis, JobId)>,
    /// Claimed jobs by holder.
    pub(super) holders: HashMap<InstanceId, BTreeSet<JobId>>,
    pub(super) by_run: BTreeSet<(RunId, JobId)>,
    /// Edges by producer: (consumer, path).
    pub(super) feeds: HashMap<JobId, Vec<(JobId, String)>>,
    /// Edges by consumer: (producer, path).
    pub(super) fed_by: HashMap<JobId, Vec<(JobId, String)>>,
    pub(super) results: HashMap<JobId, ResultRow>,
    pub(super) failures: BTreeMap<FailureId, Failure>,
    pub(super) events: Vec<Event>,
    pub(super) tasks: BTreeMap<TaskSha, TaskVersion>,
    /// (elf, task) -> (first seen, sha), in the order recorded.
    pub(super) task_names: BTreeMap<(String, String), Vec<(Millis, TaskSha)>>,
    pub(super) elves: BTreeMap<InstanceId, ElfInstance>,
    pub(super) leaders: HashMap<String, LeaderRow>,
    /// The agents' catalog, by (kind, key).
    pub(super) catalog: BTreeMap<(String, String), Value>,
    pub(super) tokens: Vec<Token>,
    pub(super) next_job: i64,
    pub(super) next_run: i64,
    pub(super) next_failure: i64,
    /// Flows: their steps by (flow, k), the step that created each child,
    /// signals by id, waiting jobs by (elf, timer), children by parent.
    pub(super) steps: BTreeMap<(JobId, u32), Step>,
    pub(super) step_of_child: HashMap<JobId, (JobId, u32)>,
    pub(super) signals: BTreeMap<SignalId, Signal>,
    pub(super) next_signal: SignalId,
    pub(super) waiting: BTreeSet<(String, Millis, JobId)>,
    pub(super) by_parent: BTreeSet<(JobId, JobId)>,
    /// The last event `seq` given (events of deleted runs leave gaps).
    pub(super) last_seq: i64,
    /// Bumped at every commit.
    pub(super) version: i64,
    /// The largest turn claimed so far.
    pub(super) vtime: i64,
}

/// How to undo one write.
#[derive(Debug)]
pub(super) enum Undo {
    Job(JobId, Option<Box<MemJob>>),
    Row(Box<JobRow>),
    Run(RunId, Option<Box<RunRow>>),
    RunKey(String),
    JobKey((RunId, String)),
    Dep {
        producer: JobId,
        consumer: JobId,
    },
    Result(JobId),
    Failure(FailureId),
    Events(usize, i64),
    Task(TaskSha),
    TaskName((String, String), usize),
    Elf(InstanceId, Option<Box<ElfInstance>>),
    Leader(String, Option<LeaderRow>),
    Catalog((String, String), Option<Value>),
    Tokens(Vec<Token>),
    NextJob(i64),
    NextRun(i64),
    NextFailure(i64),
    Step((JobId, u32), Option<Box<Step>>),
    Signal(SignalId, Option<Box<Signal>>),
    NextSignal(SignalId),
    Vtime(i64),
    /// A job's (turn, rank) as it was.
    Turn(JobId, i64, u64),
    /// Everything as it was (for the rare writes that touch many tables).
    Snapshot(Box<Tables>),
}

impl Tables {
    /// Puts `job` in place of whatever had its id (nothing, for `None`),
    /// keeping the indexes; returns what was there.
    pub(super) fn set_job(&mut self, id: JobId, job: Option<MemJob>) -> Option<MemJob> {
        let old = match job {
            Some(j) => self.jobs.insert(id, j),
            None => self.jobs.remove(&id),
        };
        if let Some(o) = &old {
            self.unindex(&o.row);
        }
        if let Some(new) = self.jobs.get(&id) {
            let row = new.row.clone();
            self.index(&row);
        }
        old
    }

    /// Replaces the row of an existing job (what is fixed at submission
    /// stays), keeping the indexes; returns the old row.
    pub(super) fn set_row(&mut self, mut row: JobRow) -> Option<JobRow> {
        let job = self.jobs.get_mut(&row.id)?;
        row.run = job.row.run;
        row.priority = job.row.priority;
        row.ndeps = job.row.ndeps;
        row.parent = job.row.parent;
        row.turn = job.row.turn;
        row.rank_ms = job.row.rank_ms;
        if row.elf != job.row.elf {
            row.elf.clone_from(&job.row.elf);
        }
        if row.task != job.row.task {
            row.task.clone_from(&job.row.task);
        }
        let old = std::mem::replace(&mut job.row, row);
        self.unindex(&old);
        let new = self.jobs.get(&old.id).map(|j| j.row.clone());
        if let Some(new) = new {
            self.index(&new);
        }
        Some(old)
    }

    /// Sets a job's turn and rank, keeping the indexes; returns the old
    /// ones (`None` for a missing job).
    pub(super) fn set_turn(&mut self, id: JobId, turn: i64, rank_ms: u64) -> Option<(i64, u64)> {
        let row = self.jobs.get(&id)?.row.clone();
        self.unindex(&row);
        let job = self.jobs.get_mut(&id)?;
        let old = (job.row.turn, job.row.rank_ms);
        job.row.turn = turn;
        job.row.rank_ms = rank_ms;
        let row = job.row.clone();
        self.index(&row);
        Some(old)
    }

    fn index(&mut self, row: &JobRow) {
        self.by_run.insert((row.run, row.id));
        if let Some(p) = row.parent {
            self.by_parent.insert((p, row.id));
        }
        match row.state {
            JobState::Waiting => {
                self.waiting.insert((row.elf.clone(), row.not_before, row.id));
            }
            JobState::Ready => {
                self.ready.insert((row.elf.clone(), Reverse(row.priority), row.turn, row.id));
            }
            JobState::Claimed => {
                self.leases.insert((row.lease_until.unwrap_or(Millis::MAX), row.id));
                if let Some(h) = &row.holder {
                    self.holders.entry(h.clone()).or_default().insert(row.id);
                }
            }
            _ => {}
        }
    }

    fn unindex(&mut self, row: &JobRow) {
        self.by_run.remove(&(row.run, row.id));
        if let Some(p) = row.parent {
            self.by_parent.remove(&(p, row.id));
        }
        match row.state {
            JobState::Waiting => {
                self.waiting.remove(&(row.elf.clone(), row.not_before, row.id));
            }
            JobState::Ready => {
                self.ready.remove(&(row.elf.clone(), Reverse(row.priority), row.turn, row.id));
            }
            JobState::Claimed => {
                self.leases.remove(&(row.lease_until.unwrap_or(Millis::MAX), row.id));
                if let Some(h) = &row.holder
                    && let Some(set) = self.holders.get_mut(h)
                {
                    set.remove(&row.id);
                    if set.is_empty() {
                        self.holders.remove(h);
                    }
                }
            }
            _ => {}
        }
    }

    /// Puts `step` at `key` (removes it, for `None`), keeping the index of
    /// children; returns what was there.
    pub(super) fn set_step(&mut self, key: (JobId, u32), step: Option<Step>) -> Option<Step> {
        let old = match step {
            Some(s) => {
                if let Some(c) = s.child {
                    self.step_of_child.insert(c, key);
                }
                self.steps.insert(key, s)
            }
            None => self.steps.remove(&key),
        };
        if let Some(c) = old.as_ref().and_then(|o| o.child)
            && self.steps.get(&key).and_then(|s| s.child) != Some(c)
        {
            self.step_of_child.remove(&c);
        }
        old
    }

    /// Reverts one write.
    pub(super) fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Job(id, old) => {
                self.set_job(id, old.map(|b| *b));
            }
            Undo::Row(old) => {
                self.set_row(*old);
            }
            Undo::Run(id, old) => match old {
                Some(r) => {
                    self.runs.insert(id, *r);
                }
                None => {
                    self.runs.remove(&id);
                }
            },
            Undo::RunKey(k) => {
                self.run_keys.remove(&k);
            }
            Undo::JobKey(k) => {
                self.job_keys.remove(&k);
            }
            Undo::Dep { producer, consumer } => {
                if let Some(v) = self.feeds.get_mut(&producer) {
                    v.pop();
                    if v.is_empty() {
                        self.feeds.remove(&producer);
                    }
                }
                if let Some(v) = self.fed_by.get_mut(&consumer) {
                    v.pop();
                    if v.is_empty() {
                        self.fed_by.remove(&consumer);
                    }
                }
            }
            Undo::Result(job) => {
                self.results.remove(&job);
            }
            Undo::Failure(id) => {
                self.failures.remove(&id);
            }
            Undo::Events(len, last_seq) => {
                self.events.truncate(len);
                self.last_seq = last_seq;
            }
            Undo::Snapshot(all) => *self = *all,
            Undo::Task(sha) => {
                self.tasks.remove(&sha);
            }
            Undo::TaskName(key, len) => {
                if let Some(v) = self.task_names.get_mut(&key) {
                    v.truncate(len);
                    if v.is_empty() {
                        self.task_names.remove(&key);
                    }
                }
            }
            Undo::Elf(id, old) => match old {
                Some(e) => {
                    self.elves.insert(id, *e);
                }
                None => {
                    self.elves.remove(&id);
                }
            },
            Undo::Leader(role, old) => match old {
                Some(l) => {
                    self.leaders.insert(role, l);
                }
                None => {
                    self.leaders.remove(&role);
                }
            },
            Undo::Catalog(key, old) => match old {
                Some(v) => {
                    self.catalog.insert(key, v);
                }
                None => {
                    self.catalog.remove(&key);
                }
            },
            Undo::Tokens(t) => self.tokens = t,
            Undo::NextJob(v) => self.next_job = v,
            Undo::NextRun(v) => self.next_run = v,
            Undo::NextFailure(v) => self.next_failure = v,
            Undo::Step(key, old) => {
                self.set_step(key, old.map(|b| *b));
            }
            Undo::Signal(id, old) => match old {
                Some(s) => {
                    self.signals.insert(id, *s);
                }
                None => {
                    self.signals.remove(&id);
                }
            },
            Undo::NextSignal(v) => self.next_signal = v,
            Undo::Vtime(v) => self.vtime = v,
            Undo::Turn(id, turn, rank) => {
                self.set_turn(id, turn, rank);
            }
        }
    }
}
