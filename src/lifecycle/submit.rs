//! Submitting a run: its jobs, edges and events in one transaction; or a
//! run opened to take its jobs in chunks, one transaction each, until its
//! driver seals it.

use std::collections::HashMap;

use serde_json::Value;

use super::Store;
use super::outcomes::Readied;
use super::plan::{Plan, prepare};
use super::sched;
use super::work::Work;
use crate::model::{EventKind, JobId, JobSpec, JobState, Run, RunId, RunSpec, RunState, Submission, Submitted};
use crate::refs::{self, Producer};
use crate::storage::rows::{JobRow, NewEvent, NewJob, RunRow, Sequence};
use crate::storage::{Dep, Error, Result};

impl Store {
    /// Creates a run and its jobs and edges in one transaction. With an
    /// idempotency key already used, writes nothing and answers with the
    /// first submission's ids.
    pub fn submit(&self, submission: &Submission) -> Result<Submitted> {
        sched::weight_of(&submission.run)?;
        let plan = prepare(&submission.jobs, self.limits().max_payload)?;
        self.write("submit a run", |w| insert(w, submission, &plan))
    }

    /// Opens a run that takes its jobs in chunks ([`Store::append`]) until
    /// [`Store::seal`]: elves work on the chunks committed so far, and the run
    /// does not finish while it is open, even when every job so far is final.
    /// With an idempotency key already used, writes nothing and answers with
    /// that run as it stands (open or not).
    ///
    /// A run whose driver died stays open with every chunk it committed:
    /// another driver may append to it and seal it, or `mycelium cancel`
    /// ends it.
    pub fn open_run(&self, spec: &RunSpec) -> Result<Run> {
        sched::weight_of(spec)?;
        self.write("open a run", |w| {
            if let Some(key) = &spec.idempotency_key
                && let Some(id) = w.tx.run_by_key(key)?
            {
                return w.tx.run(id)?.map(|row| row.run).ok_or(Error::UnknownRun(id));
            }
            let run = RunId(w.tx.reserve(Sequence::Runs, 1)?);
            Ok(create(w, run, spec, 0, false)?.run)
        })
    }

    /// Adds one chunk of jobs to the open run `run`, in one transaction:
    /// planned and checked as a submission is (a reference names a job of
    /// the same chunk by key, or any existing job, such as one of an earlier
    /// chunk, by id). Refuses a run that is sealed, cancelled or unknown.
    pub fn append(&self, run: RunId, jobs: &[JobSpec]) -> Result<Submitted> {
        let plan = prepare(jobs, self.limits().max_payload)?;
        self.write("add jobs to a run", |w| {
            let mut row = w.tx.run(run)?.ok_or(Error::UnknownRun(run))?;
            if row.run.sealed || row.run.state.is_final() {
                return Err(Error::Sealed { run, state: row.run.state.to_string() });
            }
            let ranks = sched::ranks(w, &plan)?;
            let n = plan.jobs.len() as u64;
            row.run.total += n;
            row.run.open += n;
            w.tx.update_run(&row.run)?;
            add_jobs(w, &row, &plan, &ranks)
        })
    }

    /// Seals the open run `run`: it takes no more jobs, and ends as soon as
    /// every job is final (at once, when every job already is). Sealing a
    /// sealed run changes nothing. Returns the run as it stands after.
    pub fn seal(&self, run: RunId) -> Result<Run> {
        self.write("seal a run", |w| {
            let mut row = w.tx.run(run)?.ok_or(Error::UnknownRun(run))?;
            if row.run.sealed {
                return Ok(row.run);
            }
            let now = w.now;
            row.run.sealed = true;
            w.event(NewEvent::run(now, EventKind::RunSealed, run, format!("{{\"total\":{}}}", row.run.total)));
            if row.run.open == 0 && row.run.state == RunState::Running {
                let end = if row.run.failed > 0 { RunState::Failed } else { RunState::Succeeded };
                w.end_run(&mut row.run, end, None);
            }
            w.tx.update_run(&row.run)?;
            Ok(row.run)
        })
    }
}

/// Submits inside a transaction already running (an emission's
/// deliveries, a send's messages, a schedule's tick).
pub(super) fn submit_in(w: &mut Work<'_>, s: &Submission, max_payload: usize) -> Result<Submitted> {
    sched::weight_of(&s.run)?;
    let plan = prepare(&s.jobs, max_payload)?;
    insert(w, s, &plan)
}

/// A run submitted in one piece: created sealed, with all its jobs.
fn insert(w: &mut Work<'_>, s: &Submission, plan: &Plan<'_>) -> Result<Submitted> {
    if let Some(key) = &s.run.idempotency_key
        && let Some(run) = w.tx.run_by_key(key)?
    {
        let jobs = w.tx.job_ids(run)?;
        return Ok(Submitted { run, jobs, existing: true, ready: 0, readied: Readied::new() });
    }
    let ranks = sched::ranks(w, plan)?;
    let run = RunId(w.tx.reserve(Sequence::Runs, 1)?);
    let row = create(w, run, &s.run, plan.jobs.len() as u64, true)?;
    add_jobs(w, &row, plan, &ranks)
}

/// Inserts run `run` (its id reserved) counting `n` jobs to come, starting
/// just after the store's virtual time.
fn create(w: &mut Work<'_>, run: RunId, spec: &RunSpec, n: u64, sealed: bool) -> Result<RunRow> {
    let now = w.now;
    let weight = sched::weight_of(spec)?;
    let vstart = w.tx.vtime()?.saturating_add(1);
    let row = RunRow {
        run: Run {
            id: run,
            name: spec.name.clone(),
            labels: spec.labels.clone(),
            created_by: spec.created_by.clone(),
            created_at: now,
            finished_at: None,
            state: RunState::Running,
            total: n,
            open: n,
            failed: 0,
            sealed,
        },
        idempotency_key: spec.idempotency_key.clone(),
        vstart,
        weight,
    };
    w.tx.insert_run(&row)?;
    let data = if sealed {
        format!("{{\"name\":{}}}", Value::from(spec.name.as_str()))
    } else {
        format!("{{\"name\":{},\"open\":true}}", Value::from(spec.name.as_str()))
    };
    w.event(NewEvent::run(now, EventKind::RunCreated, run, data));
    Ok(row)
}

/// Inserts the planned jobs into `run` (already counting them) with their
/// edges and events; a job is ready, pending or `upstream_failed` by its
/// producers' states, and its turn comes from its rank (`ranks`, by index
/// in the plan).
fn add_jobs(w: &mut Work<'_>, run_row: &RunRow, plan: &Plan<'_>, ranks: &[u64]) -> Result<Submitted> {
    let now = w.now;
    let run = run_row.run.id;
    let before = run_row.run.total.saturating_sub(plan.jobs.len() as u64);
    let first_turn = sched::append_base(w, run_row, before)?;
    let positions = sched::positions(ranks);
    // Existing producers must exist; their state decides the consumer's.
    let mut wanted: Vec<JobId> = Vec::new();
    for p in &plan.jobs {
        for (_, producer) in &p.refs {
            if let Producer::Job(id) = producer {
                wanted.push(*id);
            }
        }
    }
    let existing: HashMap<JobId, JobState> = if wanted.is_empty() {
        HashMap::new()
    } else {
        w.tx.job_rows(&wanted)?.into_iter().map(|r| (r.id, r.state)).collect()
    };
    if let Some(missing) = wanted.iter().find(|id| !existing.contains_key(id)) {
        return Err(Error::UnknownJob(*missing));
    }

    let n = plan.jobs.len();
    let base = w.tx.reserve(Sequence::Jobs, n as u64)?;
    let id_of = |i: usize| JobId(base + i as i64);
    let local_of = |id: JobId| usize::try_from(id.0 - base).ok().filter(|j| *j < n);
    let bind = |producer: &Producer| -> Result<JobId> {
        match producer {
            Producer::Job(id) => Ok(*id),
            Producer::Key(k) => plan.resolve(k).map(id_of).ok_or_else(|| {
                Error::invalid("reference", format!("unknown key `{k}`"), "use a key of this submission")
            }),
        }
    };
    let mut states: Vec<Option<JobState>> = vec![None; n];
    let mut jobs: Vec<NewJob> = Vec::with_capacity(n);
    let mut deps: Vec<Dep> = Vec::new();
    let mut readied = Readied::new();
    for &i in &plan.order {
        let p = &plan.jobs[i];
        let id = id_of(i);
        let mut producers: Vec<JobId> = Vec::new();
        let args = match &p.text {
            Some(text) => text.clone(),
            None => {
                let mut args = p.spec.args.clone();
                refs::bind(&mut args, &mut |pr: &Producer| bind(pr))?;
                for (at, producer) in &p.refs {
                    let pid = bind(producer)?;
                    deps.push(Dep { producer: pid, consumer: id, path: at.clone() });
                    if !producers.contains(&pid) {
                        producers.push(pid);
                    }
                }
                serde_json::to_string(&args).map_err(|e| Error::backend("encode arguments", e))?
            }
        };
        let mut unmet = 0u32;
        let mut upstream_failed = false;
        for pid in &producers {
            let state = match local_of(*pid) {
                Some(j) => states[j].unwrap_or(JobState::Pending),
                None => existing.get(pid).copied().unwrap_or(JobState::Pending),
            };
            match state {
                JobState::Succeeded => {}
                JobState::Failed | JobState::UpstreamFailed | JobState::Cancelled => upstream_failed = true,
                _ => unmet += 1,
            }
        }
        let state = if upstream_failed {
            JobState::UpstreamFailed
        } else if unmet == 0 {
            JobState::Ready
        } else {
            JobState::Pending
        };
        states[i] = Some(state);
        if state == JobState::Ready {
            *readied.entry(p.spec.elf.clone()).or_default() += 1;
        }
        if state.is_final() {
            w.closed(run, true);
        }
        w.event(NewEvent::job(now, run, id, state, None));
        jobs.push(NewJob {
            row: JobRow {
                id,
                run,
                elf: p.spec.elf.clone(),
                task: p.spec.task.clone(),
                priority: p.spec.priority,
                ndeps: u32::try_from(p.refs.len()).unwrap_or(u32::MAX),
                retry: p.spec.retry.clone(),
                timeout_ms: p.spec.timeout_ms,
                state,
                unmet,
                attempt: 0,
                max_attempts: p.spec.retry.max_attempts,
                lost: 0,
                ran_sha: None,
                holder: None,
                lease_until: None,
                epoch: 0,
                not_before: 0,
                updated_at: now,
                started_at: None,
                finished_at: state.is_final().then_some(now),
                parent: None,
                turn: sched::turn(first_turn, positions[i], run_row.weight, id),
                rank_ms: ranks[i],
            },
            key: p.spec.key.clone(),
            args,
            expected_sha: p.spec.expected_sha.clone(),
            created_at: now,
        });
    }
    w.tx.insert_jobs(&jobs)?;
    if !deps.is_empty() {
        w.tx.insert_deps(&deps)?;
    }
    let ready = readied.values().sum();
    Ok(Submitted { run, jobs: (0..n).map(id_of).collect(), existing: false, ready, readied })
}
