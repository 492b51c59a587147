//! Retention in memory: the seam's [`RetentionRead`] and [`RetentionTx`].

use std::collections::HashSet;

use super::tables::Undo;
use super::write::MemTx;
use crate::model::{ElfState, JobId, Millis, RunId, RunState, TaskSha};
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

    fn unreferenced_versions(&mut self) -> Result<(Vec<TaskSha>, JobId)> {
        let t = &*self.t;
        let mut named: HashSet<&TaskSha> = HashSet::new();
        for j in t.jobs.values() {
            named.extend(j.expected_sha.iter().chain(j.row.ran_sha.iter()));
        }
        named.extend(t.steps.values().filter_map(|s| s.sha.as_ref()));
        named.extend(t.failures.values().filter_map(|f| f.report.ran_sha.as_ref()));
        named.extend(t.elves.values().filter(|e| e.state == ElfState::Running).flat_map(|e| e.tasks.iter()));
        let shas = t.tasks.keys().filter(|sha| !named.contains(sha)).cloned().collect();
        let last = t.jobs.keys().next_back().copied().unwrap_or(JobId(0));
        Ok((shas, last))
    }
}

impl RetentionTx for MemTx<'_> {
    fn delete_runs(&mut self, runs: &[RunId], max_jobs: u32, keep_failures: bool) -> Result<Deleted> {
        // Rare and wide: the whole store is kept for the undo.
        self.journal.push(Undo::Snapshot(Box::new(self.t.clone())));
        let t = &mut *self.t;
        let mut d = Deleted::default();
        let mut budget = max_jobs.max(1) as usize;
        // The jobs deleted, and the runs none of whose jobs is left.
        let mut jobs: HashSet<JobId> = HashSet::new();
        let mut gone: HashSet<RunId> = HashSet::new();
        for run in runs.iter().filter(|r| t.runs.contains_key(r)) {
            let of_run: Vec<JobId> = t
                .by_run
                .range((*run, JobId(i64::MIN))..=(*run, JobId(i64::MAX)))
                .map(|(_, j)| *j)
                .take(budget)
                .collect();
            let taken = of_run.len();
            jobs.extend(of_run);
            if taken == budget {
                break;
            }
            budget -= taken;
            gone.insert(*run);
        }
        let before = t.events.len();
        t.events.retain(|e| match e.job {
            Some(j) => !jobs.contains(&j),
            None => !e.run.is_some_and(|r| gone.contains(&r)),
        });
        d.events = (before - t.events.len()) as u64;
        let before = t.results.len();
        t.results.retain(|j, _| !jobs.contains(j));
        d.results = (before - t.results.len()) as u64;
        if !keep_failures {
            let before = t.failures.len();
            t.failures.retain(|_, f| !jobs.contains(&f.job) && !gone.contains(&f.run));
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
        t.job_keys.retain(|_, j| !jobs.contains(j));
        for j in &jobs {
            if t.set_job(*j, None).is_some() {
                d.jobs += 1;
            }
        }
        t.run_keys.retain(|_, r| !gone.contains(r));
        // In the order asked, so that the first `d.runs` are the ones gone.
        for r in runs.iter().filter(|r| gone.contains(r)) {
            t.runs.remove(r);
            d.runs += 1;
        }
        Ok(d)
    }

    fn delete_versions(&mut self, shas: &[TaskSha], after: JobId) -> Result<u64> {
        let t = &*self.t;
        let mut named: HashSet<&TaskSha> = HashSet::new();
        for (_, j) in t.jobs.range(JobId(after.0.saturating_add(1))..) {
            named.extend(j.expected_sha.iter());
        }
        named.extend(t.elves.values().filter(|e| e.state == ElfState::Running).flat_map(|e| e.tasks.iter()));
        let gone: Vec<TaskSha> =
            shas.iter().filter(|s| !named.contains(s) && t.tasks.contains_key(s)).cloned().collect();
        if gone.is_empty() {
            return Ok(0);
        }
        self.journal.push(Undo::Snapshot(Box::new(self.t.clone())));
        let t = &mut *self.t;
        for sha in &gone {
            t.tasks.remove(sha);
        }
        for versions in t.task_names.values_mut() {
            versions.retain(|(_, sha)| !gone.contains(sha));
        }
        t.task_names.retain(|_, versions| !versions.is_empty());
        Ok(gone.len() as u64)
    }
}
