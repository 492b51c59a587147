//! The turn of an elf that serves flows: store results, commit flows' runs,
//! wake what that woke, fire due timers, claim, and hand the claimed flows
//! what resuming them needs; all in one transaction.

use std::collections::HashMap;

use super::Store;
use super::claim::claim;
use super::complete::{Encoded, complete};
use super::flow::{ChildOutcome, FlowClaim, FlowEnd, FlowReport, FlowTurn, Resume};
use super::flow_commit::{commit, problem_of};
use super::flow_wake::{fire_timers, outcomes_of, wake_parents};
use super::outcomes::{Completed, merge};
use crate::model::{Claimed, Completion, JobId, Millis};
use crate::storage::Result;
use crate::storage::seam::Read;

impl Store {
    /// An elf's turn when it serves flows: stores `done`, commits the
    /// flows' `reports`, wakes the flows whose children ended, fires the
    /// elf's due timers, then claims, in one transaction. Each claimed flow
    /// comes with what resuming it needs.
    pub fn flow_turn(&self, done: &[Completion], reports: &[FlowReport], claim_: &FlowClaim<'_>) -> Result<FlowTurn> {
        let texts = self.encode_results(done)?;
        let values: Vec<Option<Encoded>> = reports
            .iter()
            .map(|r| match &r.end {
                FlowEnd::Complete(v) => {
                    let c = Completion { lease: r.lease, ran_sha: Some(r.sha.clone()), value: v.clone(), waited_ms: 0 };
                    self.encode_results(std::slice::from_ref(&c)).map(|mut t| t.pop())
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        let limit = self.limits().max_payload;
        let problems: Vec<Option<String>> = reports.iter().map(|r| problem_of(r, limit)).collect();
        self.write("store results, commit flows and claim jobs", |w| {
            let Completed { outcomes, mut readied } = complete(w, done, &texts)?;
            let mut committed = Vec::with_capacity(reports.len());
            for ((r, value), problem) in reports.iter().zip(&values).zip(&problems) {
                committed.push(commit(w, r, value.as_ref(), problem.as_deref())?);
            }
            wake_parents(w)?;
            if !claim_.flows.is_empty() {
                fire_timers(w, claim_.request.elf, claim_.flows)?;
            }
            merge(&mut readied, w.take_readied());
            let claimed = claim(w, &claim_.request)?;
            let resumes = resumes(w.tx, &claimed, claim_.flows, w.now)?;
            let next_timer = if claim_.flows.is_empty() { None } else { w.tx.next_due(claim_.request.elf)? };
            merge(&mut readied, w.take_readied());
            Ok(FlowTurn { outcomes, committed, readied, claimed, resumes, next_timer })
        })
    }
}

/// What resuming each claimed flow needs.
fn resumes(r: &mut dyn Read, claimed: &[Claimed], flows: &[String], now: Millis) -> Result<Vec<Resume>> {
    let ids: Vec<JobId> = claimed.iter().filter(|c| flows.contains(&c.task)).map(|c| c.lease.job).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lens: HashMap<JobId, u32> = r.last_steps(&ids)?.into_iter().map(|s| (s.flow, s.k + 1)).collect();
    let started: Vec<JobId> = ids.iter().copied().filter(|id| lens.contains_key(id)).collect();
    let open = if started.is_empty() { Vec::new() } else { r.open_steps(&started)? };
    let children: Vec<JobId> = open.iter().filter_map(|s| s.child).collect();
    let rows = if children.is_empty() { Vec::new() } else { r.job_rows(&children)? };
    let finished_at: HashMap<JobId, Option<Millis>> = rows.iter().map(|r| (r.id, r.finished_at)).collect();
    let outcomes = outcomes_of(r, &rows)?;
    let mut signals = r.signals(&ids, true)?;
    let mut out: Vec<Resume> = ids
        .iter()
        .map(|&job| Resume {
            job,
            len: lens.get(&job).copied().unwrap_or(0),
            open: Vec::new(),
            signals: Vec::new(),
            now,
        })
        .collect();
    let at: HashMap<JobId, usize> = ids.iter().enumerate().map(|(i, j)| (*j, i)).collect();
    for s in open {
        let (Some(&i), Some(child)) = (at.get(&s.flow), s.child) else { continue };
        out[i].open.push(ChildOutcome {
            step: s.k,
            child,
            awaited: s.awaited,
            outcome: outcomes.get(&child).cloned(),
            finished_at: finished_at.get(&child).copied().flatten(),
        });
    }
    for sig in signals.drain(..) {
        if let Some(&i) = at.get(&sig.flow) {
            out[i].signals.push(sig);
        }
    }
    Ok(out)
}

/// What resuming flow `job` needs, read now (a local replay).
pub(super) fn resume_of(r: &mut dyn Read, job: JobId, now: Millis) -> Result<Resume> {
    let fake = Claimed {
        lease: crate::model::Lease { job, epoch: 0 },
        run: crate::model::RunId(0),
        task: String::new(),
        args: serde_json::Value::Null,
        inputs: Vec::new(),
        attempt: 0,
        max_attempts: 0,
        timeout_ms: None,
        lease_until: 0,
    };
    let mut all = resumes(r, std::slice::from_ref(&fake), &[String::new()], now)?;
    Ok(all.pop().unwrap_or(Resume { job, len: 0, open: Vec::new(), signals: Vec::new(), now }))
}
