//! Retention in memory: the seam's [`RetentionRead`] and [`RetentionTx`].

use std::collections::HashSet;

use super::tables::Undo;
use super::write::MemTx;
use crate::model::{JobId, Millis, RunId, RunState};
use crate::storage::Result;
use crate::storage::retention_seam::{Deleted, RetentionRead, RetentionTx};

impl RetentionRead for MemTx<'_> {
    fn finished_runs(&mut self, before: Millis, limit: u32) -> Result<Vec<RunId>> {
        Ok(self
            .t
            .runs
            .values()
            .filter(|r| matches!(r.run.state, RunState::Succeeded | RunState::Failed | RunState::Cancelled))
            .filter(|r| r.run.finished_at.is_some_and(|at| at < before))
            .map(|r| r.run.id)
            .take(limit as usize)
            .collect())
    }
}

impl RetentionTx for MemTx<'_> {
    fn delete_runs(&mut self, runs: &[RunId], keep_failures: bool) -> Result<Deleted> {
        // Rare and wide: the whole store is kept for the undo.
        self.journal.push(Undo::Snapshot(Box::new(self.t.clone())));
        let t = &mut *self.t;
        let mut d = Deleted::default();
        let gone: HashSet<RunId> = runs.iter().copied().filter(|r| t.runs.contains_key(r)).collect();
        let jobs: HashSet<JobId> = t.by_run.iter().filter(|(r, _)| gone.contains(r)).map(|(_, j)| *j).collect();
        let before = t.events.len();
        t.events.retain(|e| !(e.job.is_some_and(|j| jobs.contains(&j)) || e.run.is_some_and(|r| gone.contains(&r))));
        d.events = (before - t.events.len()) as u64;
        let before = t.results.len();
        t.results.retain(|j, _| !jobs.contains(j));
        d.results = (before - t.results.len()) as u64;
        if !keep_failures {
            let before = t.failures.len();
            t.failures.retain(|_, f| !gone.contains(&f.run));
            d.failures = (before - t.failures.len()) as u64;
        }
        for j in &jobs {
            t.feeds.remove(j);
            t.fed_by.remove(j);
        }
        for list in t.feeds.values_mut().chain(t.fed_by.values_mut()) {
            list.retain(|(other, _)| !jobs.contains(other));
        }
        t.steps.retain(|(flow, _), _| !jobs.contains(flow));
        t.step_of_child.retain(|child, (flow, _)| !jobs.contains(child) && !jobs.contains(flow));
        t.signals.retain(|_, s| !jobs.contains(&s.flow));
        t.job_keys.retain(|(run, _), _| !gone.contains(run));
        for j in &jobs {
            if t.set_job(*j, None).is_some() {
                d.jobs += 1;
            }
        }
        t.run_keys.retain(|_, r| !gone.contains(r));
        for r in &gone {
            t.runs.remove(r);
            d.runs += 1;
        }
        Ok(d)
    }
}
