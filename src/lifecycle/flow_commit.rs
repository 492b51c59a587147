//! Committing a flow's run: its new commands with the child jobs they
//! create (in the flow's run), what it saw, the signals it consumed, and
//! how the run ended: suspended (waiting or, if what it awaits already
//! happened, ready again), completed or failed.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::complete::{Encoded, complete, holds, settled};
use super::fail::{fail_row, propagate_failure};
use super::flow::{FlowCommitted, FlowEnd, FlowReport, NewStep, Wait};
use super::flow_cancel::cancel_jobs;
use super::plan::{check_names, check_policy};
use super::work::Work;
use crate::model::{Completion, FailureKind, FailureReport, JobId, JobState, Outcome, Step, StepKind};
use crate::refs::{self, Producer};
use crate::storage::flow_seam::NO_TIMER;
use crate::storage::rows::{JobRow, NewEvent, NewJob, Sequence};
use crate::storage::{Dep, Error, FailureQuery, Result};

/// What is wrong with a report's new commands, if anything: checked before
/// the transaction (the elf checks too; this is the store's backstop).
pub(super) fn problem_of(r: &FlowReport, max_payload: usize) -> Option<String> {
    let flow = r.lease.job;
    for s in &r.steps {
        let Some(spec) = &s.child else { continue };
        let what = || format!("the child {}/{} of command {} of flow job {flow}", spec.elf, spec.task, s.step.k);
        if let Err(e) = check_names(spec, what).and_then(|()| check_policy(&spec.retry, what)) {
            return Some(e.to_string());
        }
        let text = spec.args.to_string();
        if text.len() > max_payload {
            return Some(
                Error::TooLarge { what: format!("the arguments of {}", what()), size: text.len(), limit: max_payload }
                    .to_string(),
            );
        }
        if text.contains(refs::OUTPUT) {
            match refs::scan(&spec.args) {
                Err(e) => return Some(format!("the arguments of {}: {e}", what())),
                Ok(found) => {
                    for f in found {
                        match f.producer {
                            Producer::Job(id) if id == flow => {
                                return Some(format!(
                                    "the arguments of {} refer to the flow's own output (job {flow}) at `{}`: a flow \
                                     cannot wait for itself (pass a value instead)",
                                    what(),
                                    f.at
                                ));
                            }
                            Producer::Job(_) => {}
                            Producer::Key(k) => {
                                return Some(format!(
                                    "the arguments of {} refer to `{k}` at `{}`: inside a flow, only outputs of \
                                     existing jobs (Output::of_job) can be passed",
                                    what(),
                                    f.at
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    None
}

/// Commits `r` if its lease still holds; `value` is the encoded value of a
/// completed flow, `problem` what [`problem_of`] found.
pub(super) fn commit(
    w: &mut Work<'_>,
    r: &FlowReport,
    value: Option<&Encoded>,
    problem: Option<&str>,
) -> Result<FlowCommitted> {
    let job = r.lease.job;
    let row = w.tx.job_rows(&[job])?.pop();
    let row = match row {
        Some(row) if holds(&row, &r.lease) => row,
        other => {
            let outcome = settled(w, other.as_ref(), &r.lease)?;
            return Ok(FlowCommitted { job, outcome, children: Vec::new(), state: other.map(|o| o.state) });
        }
    };
    if let Some(problem) = problem {
        let mut report = FailureReport::new(FailureKind::BadInput, problem);
        report.retryable = false;
        report.ran_sha = Some(r.sha.clone());
        fail_row(w, row, &report)?;
        return Ok(FlowCommitted { job, outcome: Outcome::Ok, children: Vec::new(), state: Some(JobState::Failed) });
    }
    if !r.observed.is_empty() {
        let observed: Vec<(JobId, u32, String)> = r.observed.iter().map(|(k, v)| (job, *k, v.to_string())).collect();
        w.tx.observe_steps(&observed)?;
    }
    let failing = matches!(r.end, FlowEnd::Fail(_));
    // A failing run records only what precedes its first effect: a failed
    // flow starts no work, and a retry replays up to there.
    let effect = |s: &NewStep| s.child.is_some() || s.step.kind == StepKind::Signal;
    let steps: &[NewStep] = if failing {
        let n = r.steps.iter().position(effect).unwrap_or(r.steps.len());
        &r.steps[..n]
    } else {
        &r.steps
    };
    // Signals consumed by commands recorded now or before.
    let consumed: Vec<_> =
        r.consumed.iter().copied().filter(|(_, k)| !failing || r.observed.iter().any(|(o, _)| o == k)).collect();
    if !consumed.is_empty() {
        w.tx.consume_signals(&consumed)?;
    }
    let children = insert_steps(w, &row, steps)?;
    if !failing && !r.cancel.is_empty() {
        cancel_jobs(w, &r.cancel, &format!("cancelled by flow job {job}: another branch of its select won"))?;
    }
    let state = match &r.end {
        FlowEnd::Suspend(wait) => Some(suspend(w, row, r, wait, &children)?),
        FlowEnd::Complete(v) => {
            let c = Completion { lease: r.lease, ran_sha: Some(r.sha.clone()), value: v.clone(), waited_ms: 0 };
            let text = match value {
                Some(t) => t.clone(),
                None => Ok(v.to_string()),
            };
            let done = complete(w, std::slice::from_ref(&c), std::slice::from_ref(&text))?;
            Some(if done.outcomes.first() == Some(&Outcome::Ok) { JobState::Succeeded } else { JobState::Failed })
        }
        FlowEnd::Fail(report) => {
            let mut report = (**report).clone();
            report.ran_sha.get_or_insert_with(|| r.sha.clone());
            let done = fail_row(w, row, &report)?;
            Some(if done.retry_at.is_some() { JobState::Ready } else { JobState::Failed })
        }
    };
    Ok(FlowCommitted { job, outcome: Outcome::Ok, children, state })
}

/// Records `steps` of the flow `flow`, creating their children in its run;
/// returns the children by step.
fn insert_steps(w: &mut Work<'_>, flow: &JobRow, steps: &[NewStep]) -> Result<Vec<(u32, JobId)>> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let now = w.now;
    let n = steps.iter().filter(|s| s.child.is_some()).count();
    let mut children = Vec::with_capacity(n);
    let mut rows: Vec<Step> = Vec::with_capacity(steps.len());
    if n == 0 {
        rows.extend(steps.iter().map(|s| Step { flow: flow.id, ..s.step.clone() }));
        w.tx.insert_steps(&rows)?;
        return Ok(children);
    }
    // Producers outside the flow that children consume, by state.
    let mut wanted: Vec<JobId> = Vec::new();
    let mut refs_of: HashMap<u32, Vec<(String, JobId)>> = HashMap::new();
    for s in steps {
        let Some(spec) = &s.child else { continue };
        if spec.args.to_string().contains(refs::OUTPUT)
            && let Ok(found) = refs::scan(&spec.args)
        {
            for f in found {
                if let Producer::Job(id) = f.producer {
                    wanted.push(id);
                    refs_of.entry(s.step.k).or_default().push((f.at, id));
                }
            }
        }
    }
    let producers: HashMap<JobId, JobState> = if wanted.is_empty() {
        HashMap::new()
    } else {
        w.tx.job_rows(&wanted)?.into_iter().map(|r| (r.id, r.state)).collect()
    };
    let base = w.tx.reserve(Sequence::Jobs, n as u64)?;
    // Children are the run's next work from now on, in the order commanded.
    let run_row = w.tx.run(flow.run)?;
    let (first_turn, weight) = match &run_row {
        Some(r) => (super::sched::base(w, r)?, r.weight),
        None => (w.tx.vtime()?.saturating_add(1), 1),
    };
    let mut jobs: Vec<NewJob> = Vec::with_capacity(n);
    let mut deps: Vec<Dep> = Vec::new();
    let mut failed_producers: Vec<JobId> = Vec::new();
    let mut i = 0i64;
    for s in steps {
        let mut step = Step { flow: flow.id, ..s.step.clone() };
        if let Some(spec) = &s.child {
            let id = JobId(base + i);
            i += 1;
            let mut unmet = 0u32;
            let mut seen: Vec<JobId> = Vec::new();
            let refs = refs_of.get(&step.k).cloned().unwrap_or_default();
            for (at, producer) in &refs {
                deps.push(Dep { producer: *producer, consumer: id, path: at.clone() });
                if seen.contains(producer) {
                    continue;
                }
                seen.push(*producer);
                match producers.get(producer).copied() {
                    Some(JobState::Succeeded) => {}
                    Some(st) if st.is_final() => failed_producers.push(*producer),
                    Some(_) => unmet += 1,
                    None => return Err(Error::UnknownJob(*producer)),
                }
            }
            let state = if unmet == 0 { JobState::Ready } else { JobState::Pending };
            if state == JobState::Ready {
                w.ready(&spec.elf);
            }
            let data = json!({ "parent": flow.id.0, "step": step.k }).to_string();
            w.event(NewEvent::job(now, flow.run, id, state, Some(data)));
            jobs.push(NewJob {
                row: JobRow {
                    id,
                    run: flow.run,
                    elf: spec.elf.clone(),
                    task: spec.task.clone(),
                    priority: spec.priority,
                    ndeps: u32::try_from(refs.len()).unwrap_or(u32::MAX),
                    retry: spec.retry.clone(),
                    timeout_ms: spec.timeout_ms,
                    state,
                    unmet,
                    attempt: 0,
                    max_attempts: spec.retry.max_attempts,
                    lost: 0,
                    ran_sha: None,
                    holder: None,
                    lease_until: None,
                    epoch: 0,
                    not_before: 0,
                    updated_at: now,
                    started_at: None,
                    finished_at: None,
                    parent: Some(flow.id),
                    turn: super::sched::turn(first_turn, (i - 1) as usize, weight, id),
                    rank_ms: 0,
                },
                key: None,
                args: spec.args.to_string(),
                expected_sha: spec.expected_sha.clone(),
                created_at: now,
            });
            step.child = Some(id);
            children.push((step.k, id));
        }
        rows.push(step);
    }
    w.tx.insert_jobs(&jobs)?;
    if !deps.is_empty() {
        w.tx.insert_deps(&deps)?;
    }
    w.tx.insert_steps(&rows)?;
    // The flow's run grows with its children.
    if let Some(mut run) = run_row {
        run.run.total += n as u64;
        run.run.open += n as u64;
        w.tx.update_run(&run.run)?;
    }
    failed_producers.sort_unstable();
    failed_producers.dedup();
    for p in failed_producers {
        let cause = w.tx.failures(&FailureQuery { job: Some(p), limit: Some(1), ..FailureQuery::default() })?;
        let cause = cause.first().map_or(crate::model::FailureId(0), |f| f.id);
        propagate_failure(w, p, cause)?;
    }
    Ok(children)
}

/// Suspends the flow `row` until `wait` is satisfied: `waiting`, or
/// `ready` at once when it already is. A resume is not an attempt: the
/// claim's attempt is given back.
fn suspend(
    w: &mut Work<'_>,
    mut row: JobRow,
    r: &FlowReport,
    wait: &Wait,
    created: &[(u32, JobId)],
) -> Result<JobState> {
    let flow = row.id;
    let now = w.now;
    // The awaited steps' children: created now, or recorded before.
    let mut child_of: HashMap<u32, JobId> = created.iter().copied().collect();
    let missing: Vec<u32> = wait.children.iter().copied().filter(|k| !child_of.contains_key(k)).collect();
    if let Some(&from) = missing.iter().min() {
        for s in w.tx.steps(flow, from)? {
            if let Some(c) = s.child {
                child_of.insert(s.k, c);
            }
        }
    }
    let awaited: Vec<(u32, JobId)> = wait.children.iter().filter_map(|k| child_of.get(k).map(|c| (*k, *c))).collect();
    let ids: Vec<JobId> = awaited.iter().map(|(_, c)| *c).collect();
    let open: HashSet<JobId> = if ids.is_empty() {
        HashSet::new()
    } else {
        w.tx.job_rows(&ids)?.into_iter().filter(|c| !c.state.is_final()).map(|c| c.id).collect()
    };
    let pending: Vec<(u32, JobId)> = awaited.iter().copied().filter(|(_, c)| open.contains(c)).collect();
    let mut ready = wait.is_empty();
    let unmet = if awaited.is_empty() {
        0
    } else if wait.all {
        pending.len() as u32
    } else if pending.len() < awaited.len() {
        0
    } else {
        1
    };
    if !awaited.is_empty() && unmet == 0 {
        ready = true;
    }
    if wait.due.is_some_and(|due| due <= now) {
        ready = true;
    }
    if let Some((_, name)) = &wait.signal {
        let consumed: HashSet<_> = r.consumed.iter().map(|(id, _)| *id).collect();
        let buffered = w.tx.signals(&[flow], true)?;
        if buffered.iter().any(|s| s.name == *name && !consumed.contains(&s.id)) {
            ready = true;
        }
    }
    // Flags of an earlier wait that did not count (the losers of a select)
    // must not count against this one.
    let mut flags: Vec<(JobId, u32, bool)> = Vec::new();
    let now_awaited: HashSet<u32> = if ready {
        HashSet::new()
    } else {
        pending.iter().map(|(k, _)| *k).chain(wait.signal.iter().map(|(k, _)| *k)).collect()
    };
    for s in w.tx.open_steps(&[flow])? {
        if s.awaited && !now_awaited.contains(&s.k) {
            flags.push((flow, s.k, false));
        }
    }
    flags.extend(now_awaited.iter().map(|k| (flow, *k, true)));
    if !flags.is_empty() {
        w.tx.await_steps(&flags)?;
    }
    row.attempt = row.attempt.saturating_sub(1);
    // A run that got this far is no poison: losses start counting afresh.
    row.lost = 0;
    row.lease_until = None;
    row.updated_at = now;
    row.ran_sha = Some(r.sha.clone());
    if ready {
        super::flow_wake::make_ready(w, &mut row, json!({ "resumed": true }));
    } else {
        row.state = JobState::Waiting;
        row.unmet = unmet;
        row.not_before = wait.due.unwrap_or(NO_TIMER);
        let mut data = serde_json::Map::new();
        if !pending.is_empty() {
            data.insert("children".into(), json!(pending.len()));
            data.insert("all".into(), json!(wait.all));
        }
        if let Some(due) = wait.due {
            data.insert("due".into(), json!(due));
        }
        if let Some((_, name)) = &wait.signal {
            data.insert("signal".into(), json!(name));
        }
        w.event(NewEvent::job(
            now,
            row.run,
            flow,
            JobState::Waiting,
            Some(serde_json::Value::Object(data).to_string()),
        ));
    }
    let state = row.state;
    w.tx.update_jobs(std::slice::from_ref(&row))?;
    Ok(state)
}
