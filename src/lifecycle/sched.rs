//! The claim order: fair sharing between runs, then the critical path within
//! a run, encoded in one integer per job, its **turn**.
//!
//! Elves claim ready jobs by (explicit priority DESC, turn ASC, id ASC).
//!
//! * Every run has a virtual start `vstart` and a weight (1 by default). The
//!   store keeps a virtual time `vtime`: the largest turn claimed so far,
//!   raised once per claim transaction.
//! * At submission a run gets `vstart = vtime + 1`, and its jobs get
//!   `turn = vstart + position * SCALE / weight`, where `position` is the
//!   job's index in the run's jobs sorted by rank (highest first, ties by
//!   id). A job's rank is the longest path from it to the end of its run,
//!   each job on the path counted for its task's measured duration: the
//!   median of its last [`SAMPLES`] successful attempts, or
//!   [`DEFAULT_DURATION_MS`] while none is known.
//! * Jobs added to a run later (a chunk of an open run, a flow's children)
//!   and jobs reordered by [`Store::reorder`] are placed from
//!   `max(vstart, vtime + 1)`: as if the run (re)started now, never before
//!   work already waiting from other runs' current share.
//!
//! So a run submitted behind a 100,000-job run gets turns from the current
//! virtual time on, interleaved with the big run's (in proportion to the
//! weights), instead of after it; and within a run the critical path goes
//! first.
//!
//! **Starvation-freedom.** Take a ready job J with turn t. Every turn given
//! from now on is at least `vtime + 1`, and `vtime` only grows. A job claimed
//! before J (same elf, same priority) has a turn below t, or equal and a
//! smaller id. The jobs with a turn at or below the current `vtime` were all
//! given their turn already: finitely many. A job with a turn in
//! `(vtime, t]` raises `vtime` by at least one when claimed, which can happen
//! at most `t - vtime` times. So J is claimed after finitely many claims
//! (explicit priorities aside, which are the user's to keep finite).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use super::Store;
use super::plan::Plan;
use super::rank::median;
use super::work::Work;
use crate::model::{JobId, JobState, RunId, RunSpec};
use crate::refs::Producer;
use crate::storage::rows::RunRow;
use crate::storage::{Error, Result};

/// Turns between two consecutive jobs of a run of weight 1.
pub const SCALE: i64 = 1024;

/// The largest weight a run may have (its jobs are then one turn apart).
pub const MAX_WEIGHT: u32 = 1024;

pub use super::rank::DEFAULT_DURATION_MS;

/// How many recent successful attempts of a task its median duration is
/// taken over (the same sample as the coordinator's).
pub const SAMPLES: u32 = super::durations::DURATION_SAMPLE;

/// The environment variable that, set to `fifo`, makes submissions give
/// turns in submission order (a job's turn is its id: the order before
/// scheduling, priority then id), for comparisons in benchmarks.
pub const ORDER_ENV: &str = "MYCELIUM_SCHED_ORDER";

/// Submission order in this process: unset (follow [`ORDER_ENV`]), on, off.
static FIFO: AtomicU8 = AtomicU8::new(0);

/// Whether turns follow submission order ([`ORDER_ENV`], or
/// [`set_submission_order`]).
fn fifo() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    match FIFO.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => *FROM_ENV.get_or_init(|| std::env::var(ORDER_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("fifo"))),
    }
}

/// Makes this process's submissions give turns in submission order
/// (`true`: the order before scheduling) or by fair share and rank
/// (`false`), whatever [`ORDER_ENV`] says: for benchmarks that compare the
/// two.
#[doc(hidden)]
pub fn set_submission_order(fifo: bool) {
    FIFO.store(if fifo { 1 } else { 2 }, Ordering::Relaxed);
}

/// The weight a run spec asks for, checked.
pub(super) fn weight_of(spec: &RunSpec) -> Result<u32> {
    match spec.weight {
        None => Ok(1),
        Some(w) if (1..=MAX_WEIGHT).contains(&w) => Ok(w),
        Some(w) => Err(Error::invalid(
            format!("run `{}`", spec.name),
            format!("weight {w} is outside 1..={MAX_WEIGHT}"),
            format!("give a weight from 1 (the default share) to {MAX_WEIGHT}"),
        )),
    }
}

/// Where turns given to `run`'s jobs now start: its virtual start, or just
/// after the virtual time once that has passed it.
pub(super) fn base(w: &mut Work<'_>, run: &RunRow) -> Result<i64> {
    let vtime = w.tx.vtime()?;
    Ok(run.vstart.max(vtime.saturating_add(1)))
}

/// Where turns given to jobs added to `run` start when it had `before` jobs
/// already (an open run's next chunk): after those, so that a run's later
/// chunks continue its order instead of cutting in ahead of its own earlier
/// jobs (which also keeps a streamed run's claims in id order), and never
/// before every turn claimed so far.
pub(super) fn append_base(w: &mut Work<'_>, run: &RunRow, before: u64) -> Result<i64> {
    let own = run.vstart.saturating_add(turn(0, usize::try_from(before).unwrap_or(usize::MAX), run.weight, JobId(0)));
    Ok(own.max(base(w, run)?))
}

/// The turn of the job at `position` in its run's order from `base`.
pub(super) fn turn(base: i64, position: usize, weight: u32, id: JobId) -> i64 {
    if fifo() {
        return id.0;
    }
    let step = (position as i64).saturating_mul(SCALE) / i64::from(weight.max(1));
    base.saturating_add(step)
}

/// Positions by rank, highest first, ties by index: `out[i]` is job `i`'s.
pub(super) fn positions(ranks: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ranks.len()).collect();
    order.sort_by(|&a, &b| ranks[b].cmp(&ranks[a]).then(a.cmp(&b)));
    let mut out = vec![0; ranks.len()];
    for (pos, i) in order.into_iter().enumerate() {
        out[i] = pos;
    }
    out
}

/// The measured duration of each distinct (elf, task) of `plan`, or the
/// default; read only when it can change the order (the plan has edges, or
/// more than one task).
fn durations<'p>(w: &mut Work<'_>, plan: &'p Plan<'_>) -> Result<HashMap<(&'p str, &'p str), u64>> {
    let mut out: HashMap<(&str, &str), u64> = HashMap::new();
    for p in &plan.jobs {
        out.entry((p.spec.elf.as_str(), p.spec.task.as_str())).or_insert(DEFAULT_DURATION_MS);
    }
    let edges = plan.jobs.iter().any(|p| p.refs.iter().any(|(_, r)| matches!(r, Producer::Key(_))));
    if fifo() || (out.len() < 2 && !edges) {
        return Ok(out);
    }
    for ((elf, task), d) in out.iter_mut() {
        if let Some(m) = median(&w.tx.recent_durations(elf, task, SAMPLES)?) {
            *d = m;
        }
    }
    Ok(out)
}

/// Each planned job's rank: the longest path from it to the end of the
/// submission, weighted by measured durations (references to jobs outside
/// the submission count for nothing).
pub(super) fn ranks(w: &mut Work<'_>, plan: &Plan<'_>) -> Result<Vec<u64>> {
    let n = plan.jobs.len();
    let dur = durations(w, plan)?;
    let own: Vec<u64> = plan
        .jobs
        .iter()
        .map(|p| dur.get(&(p.spec.elf.as_str(), p.spec.task.as_str())).copied().unwrap_or(DEFAULT_DURATION_MS))
        .collect();
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (i, p) in plan.jobs.iter().enumerate() {
        for (_, r) in &p.refs {
            if let Producer::Key(k) = r
                && let Some(j) = plan.resolve(k)
            {
                edges.push((j as u32, i as u32));
            }
        }
    }
    // Placeholder ids: only the ranks are wanted, and the rule is the
    // coordinator's (`rank`).
    let ids = (0..n as i64).map(JobId).collect();
    Ok(super::rank::ranks_of_index(ids, own, edges))
}

/// Where a reordering done in batches continues: the base its first batch
/// took and the next position ([`Store::reorder_batch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReorderCursor {
    base: i64,
    next: usize,
}

impl Store {
    /// Rewrites the turns of some of `run`'s jobs from ranks (ms, the
    /// longest remaining path to the end of the run), in one transaction:
    /// the jobs given that are still pending or ready, sorted by rank
    /// (highest first, ties by id), get `turn = base + position * SCALE /
    /// weight`, with `base` the run's virtual start or, once the store's
    /// virtual time has passed it, just after the virtual time. Other jobs
    /// given (claimed, final, of another run, unknown) are left alone. No
    /// event is written. Returns how many jobs were reordered.
    ///
    /// A call places its jobs as the run's next work from now on: reorder a
    /// run's unclaimed jobs in one call, or in batches highest ranks first,
    /// knowing that batches written while no job is claimed share a base.
    pub fn reorder(&self, run: RunId, ranks: &[(JobId, u64)]) -> Result<usize> {
        self.reorder_batch(run, ranks, &mut None)
    }

    /// One batch of a reordering too large for one transaction (each batch
    /// is one, so elves are not held up by a long write): give the batches
    /// highest ranks first, with the same `cursor` (start it at `None`), and
    /// they continue one another's order from the base the first one took.
    pub fn reorder_batch(
        &self,
        run: RunId,
        ranks: &[(JobId, u64)],
        cursor: &mut Option<ReorderCursor>,
    ) -> Result<usize> {
        if ranks.is_empty() {
            return Ok(0);
        }
        let ids: Vec<JobId> = ranks.iter().map(|(id, _)| *id).collect();
        let from = *cursor;
        let (n, base_used) = self.write("reorder a run's jobs", |w| {
            let row = w.tx.run(run)?.ok_or(Error::UnknownRun(run))?;
            let open: HashSet<JobId> =
                w.tx.job_rows(&ids)?
                    .into_iter()
                    .filter(|r| r.run == run && matches!(r.state, JobState::Pending | JobState::Ready))
                    .map(|r| r.id)
                    .collect();
            let mut seen: HashSet<JobId> = HashSet::with_capacity(open.len());
            let mut mine: Vec<(JobId, u64)> = Vec::with_capacity(open.len());
            for (id, rank) in ranks {
                if open.contains(id) && seen.insert(*id) {
                    mine.push((*id, *rank));
                }
            }
            mine.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let (base_at, first) = match from {
                Some(c) => (c.base, c.next),
                None => (base(w, &row)?, 0),
            };
            let turns: Vec<(JobId, i64, u64)> = mine
                .iter()
                .enumerate()
                .map(|(pos, (id, rank))| (*id, turn(base_at, first + pos, row.weight, *id), *rank))
                .collect();
            if !turns.is_empty() {
                w.tx.set_turns(&turns)?;
            }
            Ok((turns.len(), base_at))
        })?;
        let next = from.map_or(0, |c| c.next) + n;
        *cursor = Some(ReorderCursor { base: base_used, next });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_rank_then_index() {
        assert_eq!(positions(&[5, 9, 5, 1]), vec![1, 0, 2, 3]);
        assert_eq!(positions(&[]), Vec::<usize>::new());
    }

    #[test]
    fn weights_space_turns() {
        assert_eq!(turn(10, 3, 1, JobId(1)), 10 + 3 * SCALE);
        assert_eq!(turn(10, 3, 4, JobId(1)), 10 + 3 * SCALE / 4);
        assert_eq!(turn(10, 3, MAX_WEIGHT, JobId(1)), 13);
    }

    #[test]
    fn weights_outside_the_range_are_refused_by_name() {
        let mut spec = RunSpec::named("big");
        assert_eq!(weight_of(&spec).ok(), Some(1));
        for bad in [0, MAX_WEIGHT + 1, u32::MAX] {
            spec.weight = Some(bad);
            let err = weight_of(&spec).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("weight") && err.contains("`big`") && err.contains(&bad.to_string()), "{err}");
        }
        spec.weight = Some(3);
        assert_eq!(weight_of(&spec).ok(), Some(3));
    }

    mod property {
        use std::collections::HashMap;

        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        use serde_json::json;

        use crate::model::{Completion, InstanceId, JobId, JobSpec, RunId, RunSpec, Submission};
        use crate::storage::{ClaimRequest, Store};

        /// A run in the simulation: its weight, when it was submitted (in
        /// claims so far), and its jobs in order.
        struct SimRun {
            weight: u32,
            submitted_at: usize,
            jobs: Vec<JobId>,
        }

        fn submit(s: &Store, weight: u32, n: usize) -> (RunId, Vec<JobId>) {
            let mut run = RunSpec::named("sim");
            run.weight = Some(weight);
            let jobs = (0..n).map(|i| JobSpec::new("e", "t", json!([i]))).collect();
            let done = s.submit(&Submission { run, jobs }).expect("submit");
            (done.run, done.jobs)
        }

        /// Runs of random sizes and weights arrive at random while one elf
        /// claims a job at a time (and finishes it at once). Every job is
        /// claimed, and within the fair-queuing bound: after its run was
        /// submitted, at most `p` of its own run's jobs (its position) and,
        /// of every other run active meanwhile, `p * w_other / w_own + 2`
        /// jobs are claimed before it. That bound is finite (no
        /// starvation) and proportional to the weights (fair share).
        #[test]
        fn every_job_is_claimed_within_its_fair_share_bound() {
            for seed in 0..24u64 {
                let mut rng = StdRng::seed_from_u64(seed);
                let s = Store::open(&format!("memory://sched-property-{seed}")).expect("open");
                let me = InstanceId::random();
                let tasks = vec!["t".to_owned()];
                let mut runs: HashMap<RunId, SimRun> = HashMap::new();
                let mut claims: Vec<(RunId, JobId)> = Vec::new();
                let (big, ids) = submit(&s, 1, 400);
                runs.insert(big, SimRun { weight: 1, submitted_at: 0, jobs: ids });
                let mut step = 0;
                loop {
                    if step < 1200 && rng.random_bool(0.06) {
                        let weight = rng.random_range(1..=4);
                        let (run, ids) = submit(&s, weight, rng.random_range(1..=60));
                        runs.insert(run, SimRun { weight, submitted_at: claims.len(), jobs: ids });
                    }
                    let got = s
                        .claim(&ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max: 1, ttl_ms: 60_000 })
                        .expect("claim");
                    step += 1;
                    let Some(c) = got.into_iter().next() else {
                        if step >= 1200 {
                            break;
                        }
                        continue;
                    };
                    claims.push((c.run, c.lease.job));
                    s.complete(&[Completion { lease: c.lease, ran_sha: None, value: json!(0), waited_ms: 0 }])
                        .expect("complete");
                }
                let claimed_at: HashMap<JobId, usize> = claims.iter().enumerate().map(|(i, (_, j))| (*j, i)).collect();
                let total: usize = runs.values().map(|r| r.jobs.len()).sum();
                assert_eq!(claims.len(), total, "seed {seed}: every job is claimed once");
                // The claims of each run: first and last.
                let mut span: HashMap<RunId, (usize, usize)> = HashMap::new();
                for (i, (run, _)) in claims.iter().enumerate() {
                    let e = span.entry(*run).or_insert((i, i));
                    e.1 = i;
                }
                for (id, r) in &runs {
                    for (p, job) in r.jobs.iter().enumerate() {
                        let at = claimed_at[job];
                        let before = at.saturating_sub(r.submitted_at);
                        let mut bound = p as u64;
                        for (other, o) in &runs {
                            let (first, last) = span[other];
                            let active = other != id && o.submitted_at <= at && last >= r.submitted_at;
                            if active && first <= at {
                                bound += p as u64 * u64::from(o.weight) / u64::from(r.weight) + 2;
                            }
                        }
                        assert!(
                            before as u64 <= bound,
                            "seed {seed}: job {job} at position {p} of run {id} (weight {}) waited {before} claims, \
                             more than its bound {bound}",
                            r.weight
                        );
                    }
                }
            }
        }

        /// Two runs submitted together share claims in proportion to their
        /// weights while both have work.
        #[test]
        fn backlogged_runs_share_claims_by_weight() {
            let mut rng = StdRng::seed_from_u64(7);
            for case in 0..20 {
                let s = Store::open(&format!("memory://sched-share-{case}")).expect("open");
                let (wa, wb) = (rng.random_range(1..=8u32), rng.random_range(1..=8u32));
                let (a, _) = submit(&s, wa, 400);
                let (_, _) = submit(&s, wb, 400);
                let me = InstanceId::random();
                let tasks = vec!["t".to_owned()];
                let mut count_a = 0u64;
                let k = 200u64;
                for _ in 0..k {
                    let c = s
                        .claim(&ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max: 1, ttl_ms: 60_000 })
                        .expect("claim")
                        .remove(0);
                    count_a += u64::from(c.run == a);
                }
                let expected = k as f64 * f64::from(wa) / f64::from(wa + wb);
                assert!(
                    (count_a as f64 - expected).abs() <= 2.0,
                    "weights {wa}:{wb}: run a got {count_a} of {k} claims, expected about {expected:.1}"
                );
            }
        }
    }
}
