//! Reads of the in-memory tables.

use std::cmp::Reverse;

use serde_json::Value;

use super::tables::MemJob;
use super::write::MemTx;
use crate::model::{
    ElfInstance, ElfState, Event, Failure, FailureId, InstanceId, Job, JobId, JobState, Millis, Run, RunId, TaskSha,
    TaskVersion,
};
use crate::storage::rows::{CatalogRow, ClaimScan, JobRow, JobStats, LeaderRow, ResultRow, RunRow};
use crate::storage::seam::{RECENT_JOBS, Read};
use crate::storage::{Dep, EventQuery, FailureQuery, JobQuery, Result, RunQuery, Token};

fn document(j: &MemJob) -> Job {
    let r = &j.row;
    Job {
        id: r.id,
        run: r.run,
        key: j.key.clone(),
        elf: r.elf.clone(),
        task: r.task.clone(),
        args: j.args.clone(),
        state: r.state,
        unmet: r.unmet,
        priority: r.priority,
        attempt: r.attempt,
        max_attempts: r.max_attempts,
        lost: r.lost,
        retry: r.retry.clone(),
        timeout_ms: r.timeout_ms,
        parent: r.parent,
        expected_sha: j.expected_sha.clone(),
        ran_sha: r.ran_sha.clone(),
        holder: r.holder.clone(),
        lease_until: r.lease_until,
        epoch: r.epoch,
        not_before: r.not_before,
        created_at: j.created_at,
        updated_at: r.updated_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        turn: r.turn,
        rank_ms: r.rank_ms,
    }
}

fn deps_of(
    map: &std::collections::HashMap<JobId, Vec<(JobId, String)>>,
    ids: &[JobId],
    producer_side: bool,
) -> Vec<Dep> {
    let mut out = Vec::new();
    for id in ids {
        for (other, path) in map.get(id).into_iter().flatten() {
            let (producer, consumer) = if producer_side { (*id, *other) } else { (*other, *id) };
            out.push(Dep { producer, consumer, path: path.clone() });
        }
    }
    out
}

impl Read for MemTx<'_> {
    fn run(&mut self, id: RunId) -> Result<Option<RunRow>> {
        Ok(self.t.runs.get(&id).cloned())
    }

    fn run_by_key(&mut self, key: &str) -> Result<Option<RunId>> {
        Ok(self.t.run_keys.get(key).copied())
    }

    fn runs(&mut self, query: &RunQuery) -> Result<Vec<Run>> {
        let limit = query.limit.map_or(usize::MAX, |n| n as usize);
        Ok(self
            .t
            .runs
            .values()
            .rev()
            .filter(|r| query.state.is_none_or(|s| r.run.state == s))
            .take(limit)
            .map(|r| r.run.clone())
            .collect())
    }

    fn job_rows(&mut self, ids: &[JobId]) -> Result<Vec<JobRow>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids.iter().filter_map(|id| self.t.jobs.get(id)).map(|j| j.row.clone()).collect())
    }

    fn jobs(&mut self, ids: &[JobId]) -> Result<Vec<Job>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids.iter().filter_map(|id| self.t.jobs.get(id)).map(document).collect())
    }

    fn query_jobs(&mut self, q: &JobQuery) -> Result<Vec<Job>> {
        let limit = q.limit.map_or(usize::MAX, |n| n as usize);
        let after = q.after.unwrap_or(JobId(i64::MIN));
        let keep = |j: &&MemJob| {
            j.row.id > after
                && (q.states.is_empty() || q.states.contains(&j.row.state))
                && q.elf.as_ref().is_none_or(|e| *e == j.row.elf)
                && q.task.as_ref().is_none_or(|t| *t == j.row.task)
        };
        Ok(match q.run {
            Some(run) => self
                .t
                .by_run
                .range((run, after)..=(run, JobId(i64::MAX)))
                .filter_map(|(_, id)| self.t.jobs.get(id))
                .filter(keep)
                .take(limit)
                .map(document)
                .collect(),
            None => self.t.jobs.values().filter(keep).take(limit).map(document).collect(),
        })
    }

    fn job_ids(&mut self, run: RunId) -> Result<Vec<JobId>> {
        Ok(self.t.by_run.range((run, JobId(i64::MIN))..=(run, JobId(i64::MAX))).map(|(_, id)| *id).collect())
    }

    fn open_jobs(&mut self, run: RunId) -> Result<Vec<JobRow>> {
        Ok(self
            .t
            .by_run
            .range((run, JobId(i64::MIN))..=(run, JobId(i64::MAX)))
            .filter_map(|(_, id)| self.t.jobs.get(id))
            .filter(|j| !j.row.state.is_final())
            .map(|j| j.row.clone())
            .collect())
    }

    fn claimable(&mut self, scan: &ClaimScan<'_>) -> Result<Vec<(JobRow, Value)>> {
        let from = (scan.elf.to_owned(), Reverse(i32::MAX), i64::MIN, JobId(i64::MIN));
        let to = (scan.elf.to_owned(), Reverse(i32::MIN), i64::MAX, JobId(i64::MAX));
        Ok(self
            .t
            .ready
            .range(from..=to)
            .filter_map(|(_, _, _, id)| self.t.jobs.get(id))
            .filter(|j| j.row.not_before <= scan.now && scan.tasks.contains(&j.row.task))
            .take(scan.max as usize)
            .map(|j| (j.row.clone(), j.args.clone()))
            .collect())
    }

    fn expired(&mut self, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        Ok(self
            .t
            .leases
            .range(..(now, JobId(i64::MIN)))
            .filter_map(|(_, id)| self.t.jobs.get(id))
            .filter(|j| j.row.state == JobState::Claimed)
            .take(limit as usize)
            .map(|j| j.row.clone())
            .collect())
    }

    fn held_by(&mut self, instance: &InstanceId) -> Result<Vec<JobRow>> {
        Ok(self
            .t
            .holders
            .get(instance)
            .into_iter()
            .flatten()
            .filter_map(|id| self.t.jobs.get(id))
            .map(|j| j.row.clone())
            .collect())
    }

    fn consumers(&mut self, producers: &[JobId]) -> Result<Vec<Dep>> {
        Ok(deps_of(&self.t.feeds, producers, true))
    }

    fn producers(&mut self, consumers: &[JobId]) -> Result<Vec<Dep>> {
        Ok(deps_of(&self.t.fed_by, consumers, false))
    }

    fn run_deps(&mut self, run: RunId) -> Result<Vec<Dep>> {
        let ids = self.job_ids(run)?;
        let mut deps = deps_of(&self.t.fed_by, &ids, false);
        deps.sort_by(|a, b| (a.consumer, &a.path).cmp(&(b.consumer, &b.path)));
        Ok(deps)
    }

    fn results(&mut self, jobs: &[JobId]) -> Result<Vec<ResultRow>> {
        let mut ids = jobs.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids.iter().filter_map(|id| self.t.results.get(id)).cloned().collect())
    }

    fn failure(&mut self, id: FailureId) -> Result<Option<Failure>> {
        Ok(self.t.failures.get(&id).cloned())
    }

    fn failures(&mut self, q: &FailureQuery) -> Result<Vec<Failure>> {
        let limit = q.limit.map_or(usize::MAX, |n| n as usize);
        Ok(self
            .t
            .failures
            .values()
            .rev()
            .filter(|f| {
                q.run.is_none_or(|r| f.run == r)
                    && q.job.is_none_or(|j| f.job == j)
                    && q.elf.as_ref().is_none_or(|e| *e == f.elf)
                    && q.task.as_ref().is_none_or(|t| *t == f.task)
                    && q.kind.is_none_or(|k| f.report.kind == k)
                    && q.since.is_none_or(|s| f.at >= s)
            })
            .take(limit)
            .cloned()
            .collect())
    }

    fn events(&mut self, q: &EventQuery) -> Result<Vec<Event>> {
        let start = self.t.events.partition_point(|e| e.seq <= q.after);
        Ok(self.t.events[start..]
            .iter()
            .filter(|e| q.run.is_none_or(|r| e.run == Some(r)) && q.job.is_none_or(|j| e.job == Some(j)))
            .take(q.limit.max(1) as usize)
            .cloned()
            .collect())
    }

    fn task_version(&mut self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        let Some(v) = self.t.tasks.get(sha) else { return Ok(None) };
        // The elf and task that recorded it first.
        let first = self
            .t
            .task_names
            .iter()
            .filter_map(|(k, list)| list.iter().find(|(_, s)| s == sha).map(|(at, _)| (*at, k)))
            .min_by_key(|(at, _)| *at);
        let mut v = v.clone();
        if let Some((_, (elf, task))) = first {
            v.elf.clone_from(elf);
            v.name.clone_from(task);
        }
        Ok(Some(v))
    }

    fn task_versions(&mut self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        let key = (elf.to_owned(), task.to_owned());
        let mut list: Vec<(Millis, TaskSha)> = self.t.task_names.get(&key).cloned().unwrap_or_default();
        list.sort();
        Ok(list
            .into_iter()
            .filter_map(|(at, sha)| {
                self.t.tasks.get(&sha).map(|v| {
                    let mut v = v.clone();
                    v.elf = elf.to_owned();
                    v.name = task.to_owned();
                    v.first_seen = at.min(v.first_seen);
                    v
                })
            })
            .collect())
    }

    fn elf(&mut self, instance: &InstanceId) -> Result<Option<ElfInstance>> {
        Ok(self.t.elves.get(instance).cloned())
    }

    fn elves(&mut self, state: Option<ElfState>) -> Result<Vec<ElfInstance>> {
        let mut out: Vec<ElfInstance> =
            self.t.elves.values().filter(|e| state.is_none_or(|s| e.state == s)).cloned().collect();
        out.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.instance.cmp(&b.instance)));
        Ok(out)
    }

    fn leader(&mut self, role: &str) -> Result<Option<LeaderRow>> {
        Ok(self.t.leaders.get(role).cloned())
    }

    fn tokens(&mut self) -> Result<Vec<Token>> {
        Ok(self.t.tokens.clone())
    }

    fn catalog(&mut self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>> {
        Ok(self.read_catalog(kind, prefix))
    }

    fn job_stats(&mut self, query: &JobQuery) -> Result<JobStats> {
        Ok(self.count_jobs(query))
    }

    fn vtime(&mut self) -> Result<i64> {
        Ok(self.t.vtime)
    }

    fn recent_durations(&mut self, elf: &str, task: &str, limit: u32) -> Result<Vec<u64>> {
        let newest = self.t.jobs.keys().next_back().map_or(0, |id| id.0);
        Ok(self
            .t
            .jobs
            .range(JobId(newest.saturating_sub(RECENT_JOBS) + 1)..)
            .rev()
            .map(|(_, j)| &j.row)
            .filter(|r| r.state == JobState::Succeeded && r.elf == elf && r.task == task)
            .filter_map(|r| Some(r.finished_at?.saturating_sub(r.started_at?).max(0) as u64))
            .take(limit as usize)
            .collect())
    }
}
