//! Critical-path ranks, pure: a job's rank is the longest remaining path to
//! the end of its run, including itself, weighted by each job's duration.
//!
//! The coordinator computes them from a run's graph and the tasks' measured
//! durations; submission computes them from the submitted graph. Both call
//! [`ranks`] with a job list and a producer→consumer edge list, so the rule
//! is written once.
//!
//! Edges whose ends are not both in the job list (a producer in another run)
//! are ignored. A cycle never occurs in a stored graph (submission refuses
//! them); if one is given anyway, the jobs on it (and upstream of it) get
//! their own duration plus what is known downstream, never an endless loop.

use std::collections::HashMap;

use crate::model::JobId;

/// The duration assumed for a task with no successful attempt recorded yet,
/// in milliseconds. Every unknown task weighs the same, so before anything is
/// measured a job's rank is proportional to the number of jobs on its
/// longest remaining path.
pub const DEFAULT_DURATION_MS: u64 = 100;

/// A run's graph in compact form: jobs by dense index, consumers of each.
struct Compact {
    ids: Vec<JobId>,
    dur: Vec<u64>,
    /// Consumers of job `i` are `next[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    next: Vec<u32>,
    /// Producers within the graph, per job.
    indegree: Vec<u32>,
}

impl Compact {
    fn new(jobs: &[(JobId, u64)], edges: &[(JobId, JobId)]) -> Self {
        let index: HashMap<JobId, u32> = jobs.iter().enumerate().map(|(i, (id, _))| (*id, i as u32)).collect();
        let pairs: Vec<(u32, u32)> = edges.iter().filter_map(|(p, c)| Some((*index.get(p)?, *index.get(c)?))).collect();
        drop(index);
        Self::dense(jobs.iter().map(|(id, _)| *id).collect(), jobs.iter().map(|(_, d)| *d).collect(), pairs)
    }

    /// From dense indices: job `i` is `ids[i]`, weighing `dur[i]`; `pairs`
    /// are (producer, consumer) indices, duplicates and loops allowed.
    fn dense(ids: Vec<JobId>, dur: Vec<u64>, mut pairs: Vec<(u32, u32)>) -> Self {
        let n = ids.len();
        pairs.retain(|(p, c)| p != c && (*p as usize) < n && (*c as usize) < n);
        pairs.sort_unstable();
        pairs.dedup();
        let mut start = vec![0u32; n + 1];
        let mut indegree = vec![0u32; n];
        for &(p, c) in &pairs {
            start[p as usize + 1] += 1;
            indegree[c as usize] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let next = pairs.into_iter().map(|(_, c)| c).collect();
        Self { ids, dur, start, next, indegree }
    }

    fn consumers(&self, i: usize) -> &[u32] {
        &self.next[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// Ranks by dense index: jobs are ranked from the sinks up, each once
    /// all its consumers are (Kahn's order on the reversed graph).
    fn ranks(&self) -> Vec<u64> {
        let n = self.ids.len();
        // Producers of each job, in the same compact form.
        let mut pstart = vec![0u32; n + 1];
        for &c in &self.next {
            pstart[c as usize + 1] += 1;
        }
        for i in 0..n {
            pstart[i + 1] += pstart[i];
        }
        let mut fill = pstart.clone();
        let mut prev = vec![0u32; self.next.len()];
        for p in 0..n {
            for &c in self.consumers(p) {
                prev[fill[c as usize] as usize] = p as u32;
                fill[c as usize] += 1;
            }
        }
        let mut left: Vec<u32> = (0..n).map(|i| self.start[i + 1] - self.start[i]).collect();
        let mut rank: Vec<u64> = self.dur.clone();
        let mut done = vec![false; n];
        let mut queue: Vec<u32> = (0..n as u32).filter(|&i| left[i as usize] == 0).collect();
        while let Some(i) = queue.pop() {
            let i = i as usize;
            let tail = self.consumers(i).iter().map(|&c| rank[c as usize]).max().unwrap_or(0);
            rank[i] = self.dur[i].saturating_add(tail);
            done[i] = true;
            for &p in &prev[pstart[i] as usize..pstart[i + 1] as usize] {
                left[p as usize] -= 1;
                if left[p as usize] == 0 {
                    queue.push(p);
                }
            }
        }
        // Jobs on (or upstream of) a cycle: their own duration plus the best
        // ranked consumer (no fixpoint through the cycle).
        for i in (0..n).filter(|&i| !done[i]) {
            let tail = self.consumers(i).iter().filter(|&&c| done[c as usize]).map(|&c| rank[c as usize]).max();
            rank[i] = self.dur[i].saturating_add(tail.unwrap_or(0));
        }
        rank
    }

    /// The critical path by dense index, given the ranks.
    fn path(&self, rank: &[u64]) -> Vec<u32> {
        // The best of a set: the highest rank, ties to the lowest id.
        let best = |set: &mut dyn Iterator<Item = u32>| {
            set.max_by_key(|&i| (rank[i as usize], std::cmp::Reverse(self.ids[i as usize])))
        };
        let Some(mut at) = best(&mut (0..self.ids.len() as u32).filter(|&i| self.indegree[i as usize] == 0)) else {
            return Vec::new();
        };
        let mut path = vec![at];
        let mut seen = vec![false; self.ids.len()];
        seen[at as usize] = true;
        while let Some(c) = best(&mut self.consumers(at as usize).iter().copied()) {
            if seen[c as usize] {
                break;
            }
            seen[c as usize] = true;
            path.push(c);
            at = c;
        }
        path
    }
}

/// Each job's rank: its duration plus the largest rank among its consumers,
/// in milliseconds (saturating). `jobs` are `(job, duration ms)`; `edges`
/// are `(producer, consumer)`, duplicates allowed.
pub fn ranks(jobs: &[(JobId, u64)], edges: &[(JobId, JobId)]) -> HashMap<JobId, u64> {
    let g = Compact::new(jobs, edges);
    let rank = g.ranks();
    g.ids.iter().copied().zip(rank).collect()
}

/// The critical path: from the source (a job with no producer in the graph)
/// of the highest rank, each step to the consumer of the highest rank; ties
/// go to the lowest id. Its length in time is the first job's rank. Empty
/// when `jobs` is.
pub fn critical_path(jobs: &[(JobId, u64)], edges: &[(JobId, JobId)]) -> Vec<JobId> {
    let g = Compact::new(jobs, edges);
    let rank = g.ranks();
    g.path(&rank).into_iter().map(|i| g.ids[i as usize]).collect()
}

/// Ranks and critical path at once (one graph built).
pub fn ranks_and_path(jobs: &[(JobId, u64)], edges: &[(JobId, JobId)]) -> (HashMap<JobId, u64>, Vec<JobId>) {
    let g = Compact::new(jobs, edges);
    let rank = g.ranks();
    let path = g.path(&rank).into_iter().map(|i| g.ids[i as usize]).collect();
    (g.ids.iter().copied().zip(rank).collect(), path)
}

/// [`ranks_and_path`] on dense indices, for a caller that holds the graph
/// already (the coordinator): job `i` is `ids[i]` and weighs
/// `durations[i]`; `edges` are (producer, consumer) indices. Returns the
/// ranks by index and the critical path as indices (ties to the lowest id).
pub fn ranks_by_index(ids: Vec<JobId>, durations: Vec<u64>, edges: Vec<(u32, u32)>) -> (Vec<u64>, Vec<u32>) {
    let g = Compact::dense(ids, durations, edges);
    let rank = g.ranks();
    let path = g.path(&rank);
    (rank, path)
}

/// The ranks alone on dense indices (no critical path), for submission,
/// which only orders the jobs it inserts.
pub(crate) fn ranks_of_index(ids: Vec<JobId>, durations: Vec<u64>, edges: Vec<(u32, u32)>) -> Vec<u64> {
    Compact::dense(ids, durations, edges).ranks()
}

/// The median of `samples` (the lower middle of an even count); `None` when
/// empty.
pub fn median(samples: &[u64]) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    let mid = (v.len() - 1) / 2;
    let (_, m, _) = v.select_nth_unstable(mid);
    Some(*m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(i: i64) -> JobId {
        JobId(i)
    }

    /// A diamond 1 → {2, 3} → 4 with 3 slower than 2: the path goes by 3.
    #[test]
    fn a_diamond_ranks_by_its_slowest_branch() {
        let jobs = [(j(1), 10), (j(2), 5), (j(3), 50), (j(4), 1)];
        let edges = [(j(1), j(2)), (j(1), j(3)), (j(2), j(4)), (j(3), j(4))];
        let r = ranks(&jobs, &edges);
        assert_eq!(r[&j(4)], 1);
        assert_eq!(r[&j(3)], 51);
        assert_eq!(r[&j(2)], 6);
        assert_eq!(r[&j(1)], 61);
        assert_eq!(critical_path(&jobs, &edges), vec![j(1), j(3), j(4)]);
    }

    /// A chain submitted after independent filler: the chain's head
    /// outranks every filler job, and the path is the whole chain.
    #[test]
    fn a_chain_outranks_filler() {
        let mut jobs: Vec<(JobId, u64)> = (1..=20).map(|i| (j(i), 10)).collect();
        jobs.extend((100..105).map(|i| (j(i), 10)));
        let edges: Vec<_> = (100..104).map(|i| (j(i), j(i + 1))).collect();
        let (r, path) = ranks_and_path(&jobs, &edges);
        assert_eq!(r[&j(100)], 50);
        assert_eq!(r[&j(104)], 10);
        assert!((1..=20).all(|i| r[&j(i)] == 10));
        assert_eq!(path, (100..105).map(j).collect::<Vec<_>>());
    }

    /// Ties go to the lowest id; duplicate edges and edges to jobs outside
    /// the list change nothing.
    #[test]
    fn ties_and_foreign_edges() {
        let jobs = [(j(5), 1), (j(3), 1), (j(4), 1)];
        let edges = [(j(3), j(4)), (j(3), j(4)), (j(5), j(4)), (j(99), j(5)), (j(5), j(99))];
        let (r, path) = ranks_and_path(&jobs, &edges);
        assert_eq!((r[&j(3)], r[&j(5)], r[&j(4)]), (2, 2, 1));
        assert_eq!(path, vec![j(3), j(4)]);
        assert!(ranks(&[], &[]).is_empty());
        assert!(critical_path(&[], &[]).is_empty());
    }

    /// A cycle (never stored) ends without looping and ranks every job.
    #[test]
    fn a_cycle_does_not_loop() {
        let jobs = [(j(1), 1), (j(2), 2), (j(3), 3), (j(4), 4)];
        let edges = [(j(1), j(2)), (j(2), j(1)), (j(2), j(3)), (j(3), j(4))];
        let r = ranks(&jobs, &edges);
        assert_eq!(r.len(), 4);
        assert_eq!((r[&j(4)], r[&j(3)]), (4, 7));
        assert_eq!(r[&j(2)], 9);
    }

    /// Long durations saturate instead of overflowing.
    #[test]
    fn ranks_saturate() {
        let jobs = [(j(1), u64::MAX), (j(2), u64::MAX)];
        assert_eq!(ranks(&jobs, &[(j(1), j(2))])[&j(1)], u64::MAX);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7));
        assert_eq!(median(&[9, 1, 5]), Some(5));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
    }

    /// A wide random DAG: every rank is its duration plus its best
    /// consumer's, and the critical path's ranks fall by each job's duration.
    #[test]
    fn random_graphs_satisfy_the_recurrence() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20 {
            let n = 1 + (next() % 200) as i64;
            let jobs: Vec<(JobId, u64)> = (0..n).map(|i| (j(i), next() % 100)).collect();
            let edges: Vec<(JobId, JobId)> = (0..n * 2)
                .map(|_| {
                    let a = (next() % n as u64) as i64;
                    let b = (next() % n as u64) as i64;
                    (j(a.min(b)), j(a.max(b)))
                })
                .filter(|(a, b)| a != b)
                .collect();
            let (r, path) = ranks_and_path(&jobs, &edges);
            for &(id, d) in &jobs {
                let best = edges.iter().filter(|(p, _)| *p == id).map(|(_, c)| r[c]).max().unwrap_or(0);
                assert_eq!(r[&id], d + best, "job {id}");
            }
            let top = jobs.iter().map(|(id, _)| r[id]).max();
            assert_eq!(path.first().map(|id| r[id]), top);
            for w in path.windows(2) {
                let d = jobs.iter().find(|(id, _)| *id == w[0]).map(|(_, d)| *d).unwrap_or(0);
                assert_eq!(r[&w[0]], d + r[&w[1]]);
            }
        }
    }
}
