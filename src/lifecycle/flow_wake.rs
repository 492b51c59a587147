//! Waking suspended flows: when an awaited child ends, when a timer is due;
//! and how a child's end reads to its flow.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::work::Work;
use crate::flow::TaskFailed;
use crate::model::{JobId, JobState};
use crate::storage::rows::{JobRow, NewEvent};
use crate::storage::{FailureQuery, Result};

/// Timers fired by one turn at most (the next turn fires the rest).
pub(super) const TIMERS_PER_TURN: u32 = 1000;

/// Makes the waiting flow `row` ready now (the caller writes it).
pub(super) fn make_ready(w: &mut Work<'_>, row: &mut JobRow, why: Value) {
    row.state = JobState::Ready;
    row.not_before = 0;
    row.unmet = 0;
    row.updated_at = w.now;
    w.event(NewEvent::job(w.now, row.run, row.id, JobState::Ready, Some(why.to_string())));
    w.ready(&row.elf);
}

/// Counts the children made final in this transaction against the waits
/// of their flows: a flow whose wait is satisfied becomes ready.
pub(super) fn wake_parents(w: &mut Work<'_>) -> Result<()> {
    let finished = w.take_finished_children();
    if finished.is_empty() {
        return Ok(());
    }
    let children: Vec<JobId> = finished.iter().map(|(c, _)| *c).collect();
    let mut per_flow: BTreeMap<JobId, u32> = BTreeMap::new();
    let mut clear = Vec::new();
    for s in w.tx.child_steps(&children)? {
        if s.awaited {
            *per_flow.entry(s.flow).or_default() += 1;
            clear.push((s.flow, s.k, false));
        }
    }
    if clear.is_empty() {
        return Ok(());
    }
    w.tx.await_steps(&clear)?;
    let flows: Vec<JobId> = per_flow.keys().copied().collect();
    let mut updated = Vec::new();
    for mut row in w.tx.job_rows(&flows)? {
        if row.state != JobState::Waiting {
            continue;
        }
        let n = per_flow.get(&row.id).copied().unwrap_or(0);
        row.unmet = row.unmet.saturating_sub(n);
        row.updated_at = w.now;
        if row.unmet == 0 {
            make_ready(w, &mut row, json!({ "woken_by": "children" }));
        }
        updated.push(row);
    }
    if !updated.is_empty() {
        w.tx.update_jobs(&updated)?;
    }
    Ok(())
}

/// Makes ready the waiting flows of `elf` (of the tasks `flows`) whose
/// timer is due.
pub(super) fn fire_timers(w: &mut Work<'_>, elf: &str, flows: &[String]) -> Result<()> {
    let rows = w.tx.due(elf, w.now, TIMERS_PER_TURN)?;
    let mut updated = Vec::with_capacity(rows.len());
    for mut row in rows {
        if !flows.contains(&row.task) {
            continue;
        }
        let due = row.not_before;
        make_ready(w, &mut row, json!({ "timer": due }));
        updated.push(row);
    }
    if !updated.is_empty() {
        w.tx.update_jobs(&updated)?;
    }
    Ok(())
}

/// How each final job of `rows` ended, as its flow sees it: `{"ok": value}`
/// or `{"err": TaskFailed}`. Jobs not final are left out.
pub(super) fn outcomes_of(r: &mut dyn crate::storage::seam::Read, rows: &[JobRow]) -> Result<HashMap<JobId, Value>> {
    let mut out = HashMap::new();
    let succeeded: Vec<JobId> = rows.iter().filter(|r| r.state == JobState::Succeeded).map(|r| r.id).collect();
    if !succeeded.is_empty() {
        for res in r.results(&succeeded)? {
            out.insert(res.job, json!({ "ok": res.value }));
        }
    }
    for row in rows.iter().filter(|r| r.state.is_final() && r.state != JobState::Succeeded) {
        let last = r.failures(&FailureQuery { job: Some(row.id), limit: Some(1), ..FailureQuery::default() })?;
        let last = last.into_iter().next();
        let failed = TaskFailed {
            job: Some(row.id),
            task: format!("{}/{}", row.elf, row.task),
            state: Some(row.state),
            kind: last.as_ref().filter(|_| row.state != JobState::Cancelled).map(|f| f.report.kind),
            failure: last.as_ref().map(|f| f.id),
            message: match (&last, row.state) {
                (_, JobState::Cancelled) => "the job was cancelled".to_owned(),
                (Some(f), _) => f.report.message.clone(),
                (None, _) => format!("the job ended {}", row.state),
            },
        };
        out.insert(row.id, json!({ "err": failed }));
    }
    Ok(out)
}
