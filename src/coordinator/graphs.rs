//! The leading coordinator's graphs: every unfinished run's graph held in
//! memory (petgraph), built once from the store when the coordinator takes
//! the lead, then kept current by tailing the event log by cursor.
//!
//! * A run enters when it is created (or reopened, or found unfinished at
//!   the build) and leaves when it finishes.
//! * Jobs added while a run goes on (an open run's chunks, a flow's
//!   children) enter when their first event is read: their rows and their
//!   producers are read then, in one read per batch.
//! * Memory is bounded: the graphs hold at most [`Options::graph_max_jobs`]
//!   jobs in all (default [`DEFAULT_GRAPH_MAX_JOBS`]). A run that would go
//!   over the bound is not held; it is scheduled by the cheaper policy the
//!   store applies alone: its submit-time ranks and the fair share between
//!   runs stay, only the coordinator's rank updates (and the audit from the
//!   graph) are skipped for it. A job costs about 75 bytes in the graphs (with one edge)
//!   (see [`Graphs::heap_bytes`]; a 1,000,000-job run with as many edges is
//!   measured by a test).
//!
//! From the graphs the coordinator audits runs without reloading them, and
//! recomputes each run's critical-path ranks when the tasks' measured
//! durations change materially or jobs are added; it hands the ranks to the
//! store through [`publish_ranks`].
//!
//! [`Options::graph_max_jobs`]: super::Options::graph_max_jobs

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::lifecycle::rank::{DEFAULT_DURATION_MS, ranks_by_index};
use crate::model::{Event, EventKind, JobId, JobState, Millis, RunId, RunState};
use crate::storage::rows::JobRow;
use crate::storage::{self, EventQuery, RunQuery, Store};

/// The default bound on the jobs the graphs hold in all.
pub const DEFAULT_GRAPH_MAX_JOBS: u64 = 4_000_000;

/// Events read per query while tailing the log.
const PAGE: u32 = 10_000;

/// Pages read per round at most (the rest at the next round).
const PAGES_PER_ROUND: usize = 20;

/// A run is ranked again at the earliest this many times as long after its
/// last ranking as that ranking took: ranking takes at most about 1/20 of
/// the coordinator's time.
const RANK_SPACING: u32 = 20;

/// Rankings quicker than this are not spaced out (small runs).
const SPACED_FROM: std::time::Duration = std::time::Duration::from_millis(10);

/// Rows read per query while building a run.
const CHUNK: usize = 10_000;

/// A task's measured duration moves "materially" when it changes by more
/// than this fraction (or from unknown to known): the run is ranked again.
const MATERIAL: f64 = 0.2;

/// One run's graph.
#[derive(Debug)]
pub(crate) struct RunGraph {
    /// Producer → consumer, nodes in the order the jobs were added.
    graph: DiGraph<JobId, (), u32>,
    index: HashMap<JobId, NodeIndex<u32>>,
    /// Per node: its state.
    state: Vec<JobState>,
    /// Per node: its task, an index into [`Graphs::tasks`].
    task: Vec<u32>,
    /// Per node: when its current attempt was claimed (0: not claimed).
    claimed_at: Vec<Millis>,
    /// Per node: how long its successful attempt took, in ms (`u32::MAX`:
    /// not known).
    took: Vec<u32>,
    /// Per node: the rank the store's order was last computed from (ms):
    /// at submission, then the last ranks published.
    ordered_by: Vec<u64>,
    /// Nodes with a producer in another run (not in this graph).
    outside: HashSet<NodeIndex<u32>>,
    /// Whether its ranks must be computed again.
    dirty: bool,
    /// Not ranked again before this: ranking a large run costs time, so a
    /// run is ranked at most once per [`RANK_SPACING`] times its last
    /// ranking took (a run that grows by chunks is not ranked per chunk).
    next_rank: Option<std::time::Instant>,
    /// The last ranks computed: the critical path's length and jobs.
    pub(crate) critical_ms: u64,
    /// The critical path.
    pub(crate) critical_path: Vec<JobId>,
}

impl RunGraph {
    fn new() -> Self {
        Self {
            graph: DiGraph::default(),
            index: HashMap::new(),
            state: Vec::new(),
            task: Vec::new(),
            claimed_at: Vec::new(),
            took: Vec::new(),
            ordered_by: Vec::new(),
            outside: HashSet::new(),
            dirty: true,
            next_rank: None,
            critical_ms: 0,
            critical_path: Vec::new(),
        }
    }

    /// Jobs held.
    pub(crate) fn jobs(&self) -> usize {
        self.graph.node_count()
    }

    /// Edges held.
    #[cfg(test)]
    pub(crate) fn edges(&self) -> usize {
        self.graph.edge_count()
    }

    fn add_job(&mut self, row: &JobRow, task: u32) {
        if self.index.contains_key(&row.id) {
            return;
        }
        let n = self.graph.add_node(row.id);
        self.index.insert(row.id, n);
        self.state.push(row.state);
        self.task.push(task);
        self.claimed_at.push(if row.state == JobState::Claimed { row.started_at.unwrap_or(0) } else { 0 });
        let took = match (row.state, row.started_at, row.finished_at) {
            (JobState::Succeeded, Some(s), Some(f)) => u32::try_from((f - s).max(0)).unwrap_or(u32::MAX - 1),
            _ => u32::MAX,
        };
        self.took.push(took);
        self.ordered_by.push(row.rank_ms);
        self.dirty = true;
    }

    fn add_edge(&mut self, producer: JobId, consumer: JobId) {
        let Some(&c) = self.index.get(&consumer) else { return };
        match self.index.get(&producer) {
            Some(&p) => {
                if self.graph.find_edge(p, c).is_none() {
                    self.graph.add_edge(p, c, ());
                }
            }
            None => {
                self.outside.insert(c);
            }
        }
    }

    /// Applies a job's state change read from the log; whether the job is
    /// held (when not, its row must be read).
    fn apply(&mut self, job: JobId, state: JobState, at: Millis) -> bool {
        let Some(&n) = self.index.get(&job) else { return false };
        let i = n.index();
        self.state[i] = state;
        match state {
            JobState::Claimed => self.claimed_at[i] = at,
            JobState::Succeeded if self.claimed_at[i] > 0 => {
                self.took[i] = u32::try_from((at - self.claimed_at[i]).max(0)).unwrap_or(u32::MAX - 1);
            }
            _ => {}
        }
        true
    }

    /// Pending jobs whose producers (all in this run) have all succeeded:
    /// the store should have made them ready.
    pub(crate) fn stuck(&self) -> Vec<JobId> {
        self.graph
            .node_indices()
            .filter(|n| self.state[n.index()] == JobState::Pending && !self.outside.contains(n))
            .filter(|&n| {
                self.graph
                    .neighbors_directed(n, Direction::Incoming)
                    .all(|p| self.state[p.index()] == JobState::Succeeded)
            })
            .map(|n| self.graph[n])
            .collect()
    }

    /// How many of `job`'s producers have not succeeded, by the graph;
    /// `None` when it is not held or has producers in another run.
    pub(crate) fn unmet(&self, job: JobId) -> Option<u32> {
        let &n = self.index.get(&job)?;
        if self.outside.contains(&n) {
            return None;
        }
        Some(
            self.graph
                .neighbors_directed(n, Direction::Incoming)
                .filter(|p| self.state[p.index()] != JobState::Succeeded)
                .count() as u32,
        )
    }

    /// Every held job's count of producers not succeeded, by the graph
    /// (jobs with producers in another run left out).
    pub(crate) fn clone_counts(&self) -> HashMap<JobId, u32> {
        self.index.keys().filter_map(|&id| Some((id, self.unmet(id)?))).collect()
    }

    /// Bytes of heap the graph holds (by capacity).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        // petgraph: a node is its weight and two edge links; an edge its
        // weight, two nodes and two links.
        let nodes = self.graph.capacity().0 * (size_of::<JobId>() + 2 * size_of::<u32>());
        let edges = self.graph.capacity().1 * (4 * size_of::<u32>());
        // hashbrown: a key, a value and a control byte per bucket.
        let index = self.index.capacity() * (size_of::<JobId>() + size_of::<NodeIndex<u32>>() + 1);
        let side = self.state.capacity() * size_of::<JobState>()
            + self.task.capacity() * size_of::<u32>()
            + self.claimed_at.capacity() * size_of::<Millis>()
            + self.took.capacity() * size_of::<u32>()
            + self.outside.capacity() * (size_of::<NodeIndex<u32>>() + 1);
        nodes + edges + index + side
    }

    /// Ranks every job not finished yet by its longest remaining path,
    /// weighing each job by `duration(task)` (finished jobs weigh nothing:
    /// they are not part of what remains). Returns the (job, rank ms) of
    /// the jobs an elf has not claimed yet (pending or ready), the ones a
    /// store may reorder.
    fn rank(&mut self, duration: impl Fn(u32) -> u64) -> (Vec<(JobId, u64)>, bool) {
        let n = self.graph.node_count();
        let ids: Vec<JobId> = self.graph.node_weights().copied().collect();
        let durations: Vec<u64> =
            (0..n).map(|i| if self.state[i].is_final() { 0 } else { duration(self.task[i]) }).collect();
        let edges: Vec<(u32, u32)> =
            self.graph.raw_edges().iter().map(|e| (e.source().index() as u32, e.target().index() as u32)).collect();
        let (rank, path) = ranks_by_index(ids, durations, edges);
        self.critical_ms = path.first().map_or(0, |&i| rank[i as usize]);
        self.critical_path = path.iter().map(|&i| self.graph[NodeIndex::new(i as usize)]).collect();
        self.dirty = false;
        let open: Vec<usize> =
            (0..n).filter(|&i| matches!(self.state[i], JobState::Pending | JobState::Ready)).collect();
        let changed = self.reorders(&open, &rank);
        if changed {
            for &i in &open {
                self.ordered_by[i] = rank[i];
            }
        }
        (open.into_iter().map(|i| (self.graph[NodeIndex::new(i)], rank[i])).collect(), changed)
    }

    /// Whether ordering the `open` jobs by `rank` (highest first, ties by
    /// id) differs from the order the store has them in (by the ranks they
    /// were last ordered by): when it does not, publishing would rewrite
    /// every turn for nothing (a run of independent jobs of one task, say).
    fn reorders(&self, open: &[usize], rank: &[u64]) -> bool {
        let id = |i: usize| self.graph[NodeIndex::new(i)];
        let mut by_store = open.to_vec();
        by_store.sort_by(|&a, &b| self.ordered_by[b].cmp(&self.ordered_by[a]).then(id(a).cmp(&id(b))));
        by_store.windows(2).any(|w| {
            let (a, b) = (w[0], w[1]);
            !(rank[a] > rank[b] || (rank[a] == rank[b] && id(a) < id(b)))
        })
    }
}

/// A run's ranks of unclaimed jobs `(job, rank ms)`, and whether they change
/// the order the store has its jobs in.
pub(crate) type RunRanks = (RunId, Vec<(JobId, u64)>, bool);

/// What following the log did in one round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Followed {
    /// Events read.
    pub(crate) events: usize,
    /// Runs that entered (created, reopened).
    pub(crate) entered: Vec<RunId>,
    /// Runs that left (finished).
    pub(crate) left: Vec<RunId>,
    /// Jobs added to runs already held.
    pub(crate) added: usize,
}

/// Every unfinished run's graph, as the leading coordinator holds them.
#[derive(Debug)]
pub(crate) struct Graphs {
    /// The held runs.
    pub(crate) runs: BTreeMap<RunId, RunGraph>,
    /// Runs not held because they would go over the bound, with their size.
    pub(crate) over: BTreeMap<RunId, u64>,
    /// The log's cursor: every event up to it is applied.
    pub(crate) cursor: i64,
    /// The bound on the jobs held in all.
    max_jobs: u64,
    /// Tasks by index: (elf, task).
    tasks: Vec<(String, String)>,
    task_index: HashMap<(String, String), u32>,
    /// Each task's measured duration, as last read (ms).
    medians: HashMap<u32, u64>,
    /// The durations each run was last ranked with.
    ranked_with: HashMap<RunId, HashMap<u32, u64>>,
}

impl Graphs {
    /// Builds the graph of every unfinished run from the store: the log's
    /// end is read first, then the runs, so that every change committed
    /// after the build is read again from the log (applying a state twice
    /// is harmless).
    pub(crate) fn build(store: &Store, max_jobs: u64) -> storage::Result<Self> {
        let cursor = log_end(store)?;
        let mut g = Graphs {
            runs: BTreeMap::new(),
            over: BTreeMap::new(),
            cursor,
            max_jobs,
            tasks: Vec::new(),
            task_index: HashMap::new(),
            medians: HashMap::new(),
            ranked_with: HashMap::new(),
        };
        let mut runs = store.runs(&RunQuery { state: Some(RunState::Running), limit: None })?;
        // The oldest first: when the bound is reached, the newest wait.
        runs.sort_by_key(|r| r.id);
        for r in runs {
            g.enter(store, r.id, r.total)?;
        }
        Ok(g)
    }

    /// Jobs held in all.
    pub(crate) fn jobs(&self) -> u64 {
        self.runs.values().map(|r| r.jobs() as u64).sum()
    }

    /// Bytes of heap the graphs hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.runs.values().map(RunGraph::heap_bytes).sum()
    }

    fn task(&mut self, elf: &str, task: &str) -> u32 {
        if let Some(&i) = self.task_index.get(&(elf.to_owned(), task.to_owned())) {
            return i;
        }
        let i = self.tasks.len() as u32;
        self.tasks.push((elf.to_owned(), task.to_owned()));
        self.task_index.insert((elf.to_owned(), task.to_owned()), i);
        i
    }

    /// Loads `run` (of `total` jobs) when the bound allows; whether it is
    /// held.
    fn enter(&mut self, store: &Store, run: RunId, total: u64) -> storage::Result<bool> {
        if self.runs.contains_key(&run) {
            return Ok(true);
        }
        if self.jobs() + total > self.max_jobs {
            if self.over.insert(run, total).is_none() {
                tracing::warn!(%run, total, bound = self.max_jobs, "run not held in memory: over the graphs' bound");
                println!(
                    "run {run} ({total} jobs) is over the graphs' bound of {} jobs: scheduled without \
                     the coordinator's rank updates",
                    self.max_jobs
                );
            }
            return Ok(false);
        }
        self.over.remove(&run);
        let (rows, deps) = store.read(|r| {
            let ids = r.job_ids(run)?;
            let mut rows = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                rows.extend(r.job_rows(chunk)?);
            }
            let deps: Vec<(JobId, JobId)> = r.run_deps(run)?.into_iter().map(|d| (d.producer, d.consumer)).collect();
            Ok((rows, deps))
        })?;
        let mut g = RunGraph::new();
        g.graph.reserve_nodes(rows.len());
        g.graph.reserve_edges(deps.len());
        g.index.reserve(rows.len());
        for row in &rows {
            let t = self.task(&row.elf, &row.task);
            g.add_job(row, t);
        }
        drop(rows);
        for (p, c) in deps {
            g.add_edge(p, c);
        }
        self.runs.insert(run, g);
        Ok(true)
    }

    /// Reads the log from the cursor and applies it: states, runs entering
    /// and leaving, jobs added. Reads at most a bounded number of pages (the
    /// rest at the next round).
    pub(crate) fn follow(&mut self, store: &Store) -> storage::Result<Followed> {
        let mut out = Followed::default();
        for _ in 0..PAGES_PER_ROUND {
            let page = store.events(&EventQuery { after: self.cursor, limit: PAGE, ..EventQuery::default() })?;
            let Some(last) = page.last() else { break };
            let (full, seq) = (page.len() == PAGE as usize, last.seq);
            // The cursor moves once the page is applied: a page that fails
            // half-way is applied again (a state applied twice is the same).
            self.apply(store, &page, &mut out)?;
            self.cursor = seq;
            out.events += page.len();
            if !full {
                break;
            }
        }
        // Runs left out for the bound may fit now.
        if !out.left.is_empty() && !self.over.is_empty() {
            let waiting: Vec<(RunId, u64)> = self.over.iter().map(|(r, n)| (*r, *n)).collect();
            for (run, total) in waiting {
                if self.enter(store, run, total)? {
                    out.entered.push(run);
                }
            }
        }
        Ok(out)
    }

    fn apply(&mut self, store: &Store, events: &[Event], out: &mut Followed) -> storage::Result<()> {
        // Jobs of held runs seen for the first time: read after the page.
        let mut unknown: BTreeSet<JobId> = BTreeSet::new();
        for e in events {
            let Some(run) = e.run else { continue };
            match e.kind {
                EventKind::RunCreated | EventKind::RunReopened if !self.runs.contains_key(&run) => {
                    let total = store.run(run)?.map_or(0, |r| r.total);
                    if self.enter(store, run, total)? {
                        out.entered.push(run);
                    }
                }
                EventKind::RunFinished => {
                    if self.runs.remove(&run).is_some() {
                        out.left.push(run);
                    }
                    self.ranked_with.remove(&run);
                    self.over.remove(&run);
                }
                EventKind::JobState | EventKind::JobRepaired => {
                    let (Some(job), Some(state)) = (e.job, e.state) else { continue };
                    if let Some(g) = self.runs.get_mut(&run)
                        && !g.apply(job, state, e.at)
                    {
                        unknown.insert(job);
                    }
                }
                _ => {}
            }
        }
        if !unknown.is_empty() {
            out.added += self.add_jobs(store, &unknown.into_iter().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Reads jobs added to held runs, with their producers, and adds them.
    fn add_jobs(&mut self, store: &Store, ids: &[JobId]) -> storage::Result<usize> {
        let (rows, deps) = store.read(|r| {
            let mut rows = Vec::with_capacity(ids.len());
            let mut deps = Vec::new();
            for chunk in ids.chunks(CHUNK) {
                rows.extend(r.job_rows(chunk)?);
                deps.extend(r.producers(chunk)?.into_iter().map(|d| (d.producer, d.consumer)));
            }
            Ok((rows, deps))
        })?;
        let mut added = 0;
        for row in &rows {
            let t = self.task(&row.elf, &row.task);
            if let Some(g) = self.runs.get_mut(&row.run) {
                g.add_job(row, t);
                added += 1;
            }
        }
        let run_of: HashMap<JobId, RunId> = rows.iter().map(|r| (r.id, r.run)).collect();
        for (p, c) in deps {
            if let Some(g) = run_of.get(&c).and_then(|run| self.runs.get_mut(run)) {
                g.add_edge(p, c);
            }
        }
        Ok(added)
    }

    /// Reads the measured durations of every task of the held runs, and
    /// marks for ranking again the runs whose tasks' durations changed
    /// materially since they were last ranked.
    pub(crate) fn refresh_durations(&mut self, store: &Store) -> storage::Result<()> {
        let used: BTreeSet<u32> = self.runs.values().flat_map(|g| g.task.iter().copied()).collect();
        let names: Vec<(String, String)> = used.iter().map(|&t| self.tasks[t as usize].clone()).collect();
        let medians = store.task_durations(&names)?;
        self.medians = used.iter().filter_map(|&t| medians.get(&self.tasks[t as usize]).map(|&m| (t, m))).collect();
        for (run, g) in &mut self.runs {
            let Some(before) = self.ranked_with.get(run) else { continue };
            let moved = self.medians.iter().any(|(t, now)| match before.get(t) {
                None => true,
                Some(&was) => (*now as f64 - was as f64).abs() > MATERIAL * (was.max(1) as f64),
            });
            if moved {
                g.dirty = true;
            }
        }
        Ok(())
    }

    /// Ranks again every run that needs it (new, grown, or whose durations
    /// moved); returns each one's ranks of unclaimed jobs, and whether they change the order the store has (when not, they need not be written).
    pub(crate) fn rank(&mut self) -> Vec<RunRanks> {
        let medians = &self.medians;
        let mut out = Vec::new();
        let now = std::time::Instant::now();
        for (run, g) in &mut self.runs {
            if !g.dirty || g.next_rank.is_some_and(|t| now < t) {
                continue;
            }
            let started = std::time::Instant::now();
            let (ranked, changed) = g.rank(|t| medians.get(&t).copied().unwrap_or(DEFAULT_DURATION_MS));
            let took = started.elapsed();
            g.next_rank = (took >= SPACED_FROM).then(|| std::time::Instant::now() + took * RANK_SPACING);
            self.ranked_with.insert(*run, medians.clone());
            out.push((*run, ranked, changed));
        }
        out
    }
}

/// The `seq` of the last event in the log (0 when it is empty), found with
/// a few cursor reads (the log has no "last" read; `seq`s increase, with
/// gaps where runs were deleted).
pub(crate) fn log_end(store: &Store) -> storage::Result<i64> {
    let first_after = |after: i64| -> storage::Result<Option<i64>> {
        Ok(store.events(&EventQuery { after, limit: 1, ..EventQuery::default() })?.first().map(|e| e.seq))
    };
    let Some(mut low) = first_after(0)? else { return Ok(0) };
    // Grow a step until nothing lies past it, then halve it.
    let mut step: i64 = 1024;
    while let Some(s) = first_after(low.saturating_add(step))? {
        low = s;
        step = step.saturating_mul(2);
    }
    // Every event is at or below `low + step`; `low` is one.
    while step > 1 {
        step /= 2;
        if let Some(s) = first_after(low.saturating_add(step))? {
            low = s;
        }
    }
    // Nothing past `low + 1` ... except possibly `low + 1` itself.
    while let Some(s) = first_after(low)? {
        low = s;
    }
    Ok(low)
}

/// Hands a run's ranks (unclaimed jobs, rank ms) to the store, which
/// rewrites the turns of the run's still unclaimed jobs from them: highest
/// ranks first, in batches of [`RANK_BATCH`] (one transaction each) that
/// continue one another's order.
pub(crate) fn publish_ranks(store: &Store, run: RunId, ranked: &[(JobId, u64)]) -> storage::Result<usize> {
    let mut sorted = ranked.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut cursor = None;
    let mut n = 0;
    for batch in sorted.chunks(RANK_BATCH) {
        n += store.reorder_batch(run, batch, &mut cursor)?;
    }
    tracing::debug!(%run, reordered = n, "ranks published");
    Ok(n)
}

/// Ranks handed to the store per transaction.
pub(crate) const RANK_BATCH: usize = 10_000;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Completion, InstanceId, JobSpec, RunSpec, Submission};
    use crate::storage::ClaimRequest;

    fn run_all(store: &Store, elf: &str, task: &str) -> usize {
        let me = InstanceId::random();
        let tasks = vec![task.to_owned()];
        let mut n = 0;
        loop {
            let claimed = store
                .claim(&ClaimRequest { instance: &me, elf, tasks: &tasks, max: 100, ttl_ms: 60_000 })
                .expect("claim");
            if claimed.is_empty() {
                return n;
            }
            n += claimed.len();
            let done: Vec<_> = claimed
                .iter()
                .map(|c| Completion { lease: c.lease, ran_sha: None, value: json!(1), waited_ms: 0 })
                .collect();
            store.complete(&done).expect("complete");
        }
    }

    #[test]
    fn the_log_end_is_found_with_gaps_and_when_empty() {
        let store = Store::memory();
        assert_eq!(log_end(&store).expect("end"), 0);
        for i in 0..50 {
            store
                .submit(&Submission { run: RunSpec::named("r"), jobs: vec![JobSpec::new("e", "t", json!([i]))] })
                .expect("submit");
        }
        let all = store.events(&EventQuery { limit: 10_000, ..EventQuery::default() }).expect("events");
        assert_eq!(log_end(&store).expect("end"), all.last().map_or(0, |e| e.seq));
    }

    /// Built once, then kept current from the log: a run created after the
    /// build enters, states follow, jobs appended to an open run are added,
    /// a finished run leaves; the graph's stuck check finds nothing on a
    /// healthy run.
    #[test]
    fn graphs_follow_the_log() {
        let store = Store::memory();
        let a = JobSpec::new("e", "t", json!([1]));
        let b = JobSpec::new("e", "t", json!([{ "$output": "0" }]));
        let first = store.submit(&Submission { run: RunSpec::named("r"), jobs: vec![a, b] }).expect("submit");
        let mut g = Graphs::build(&store, 1_000).expect("build");
        assert_eq!((g.runs.len(), g.jobs()), (1, 2));
        assert_eq!(g.runs[&first.run].edges(), 1);
        // An open run, created after the build, with a chunk appended.
        let open = store.open_run(&RunSpec::named("open")).expect("open");
        store.append(open.id, &[JobSpec::new("e", "u", json!([1]))]).expect("append");
        let f = g.follow(&store).expect("follow");
        assert_eq!(f.entered, vec![open.id]);
        store.append(open.id, &[JobSpec::new("e", "u", json!([2]))]).expect("append");
        let f = g.follow(&store).expect("follow");
        assert_eq!(f.added, 1);
        assert_eq!(g.runs[&open.id].jobs(), 2);
        // Run the first: its states follow, then it leaves.
        assert_eq!(run_all(&store, "e", "t"), 2);
        let f = g.follow(&store).expect("follow");
        assert_eq!(f.left, vec![first.run]);
        assert!(!g.runs.contains_key(&first.run));
        assert!(g.runs[&open.id].stuck().is_empty());
        // Ranks: the open run's two jobs, unclaimed, default durations.
        let ranked = g.rank();
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].1.len(), 2);
        assert!(ranked[0].1.iter().all(|(_, r)| *r == DEFAULT_DURATION_MS));
        assert!(!ranked[0].2, "equal ranks keep the order the store has: nothing to write");
        // Nothing changed: nothing to rank again.
        assert!(g.rank().is_empty());
    }

    /// Ranks that change the order are to be written; ranks that keep it
    /// are not.
    #[test]
    fn only_ranks_that_change_the_order_are_written() {
        let clock = crate::lifecycle::ManualClock::new(1_000);
        let store = Store::memory_with_clock(std::sync::Arc::new(clock.clone()));
        // a → b, and an independent job of a task not measured yet.
        let jobs = vec![
            JobSpec::new("e", "t", json!([0])),
            JobSpec::new("e", "t", json!([{ "$output": "0" }])),
            JobSpec::new("e", "slow", json!([1])),
        ];
        let sub = store.submit(&Submission { run: RunSpec::named("r"), jobs }).expect("submit");
        let mut g = Graphs::build(&store, 1_000).expect("build");
        g.refresh_durations(&store).expect("durations");
        let first = g.rank();
        assert!(!first[0].2, "the coordinator agrees with the submission's ranks");
        // `slow` is measured at 500 ms (another run): it now goes first.
        let other = store
            .submit(&Submission { run: RunSpec::named("m"), jobs: vec![JobSpec::new("e", "slow", json!([9]))] })
            .expect("submit");
        let me = InstanceId::random();
        let slow = vec!["slow".to_owned()];
        let mut taken = Vec::new();
        for c in
            store.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &slow, max: 2, ttl_ms: 60_000 }).expect("claim")
        {
            if c.run == other.run {
                taken.push(c.lease);
            } else {
                store.release(&[c.lease]).expect("release");
            }
        }
        clock.advance(500);
        let done: Vec<Completion> =
            taken.into_iter().map(|lease| Completion { lease, ran_sha: None, value: json!(0), waited_ms: 0 }).collect();
        store.complete(&done).expect("complete");
        g.follow(&store).expect("follow");
        g.refresh_durations(&store).expect("durations");
        let again = g.rank();
        let mine = again.iter().find(|(run, _, _)| *run == sub.run).expect("ranked again");
        assert!(mine.2, "a measured duration that reorders the run is written");
        assert_eq!(publish_ranks(&store, sub.run, &mine.1).expect("publish"), 3);
        let turn = |id: JobId| store.job(id).expect("read").expect("exists").turn;
        assert!(turn(sub.jobs[2]) < turn(sub.jobs[0]), "the slow job is claimed before the chain now");
    }

    /// A run over the bound is not held (and said so); the others are.
    #[test]
    fn the_bound_leaves_large_runs_out() {
        let store = Store::memory();
        let big: Vec<_> = (0..10).map(|i| JobSpec::new("e", "t", json!([i]))).collect();
        let big = store.submit(&Submission { run: RunSpec::named("big"), jobs: big }).expect("submit");
        let small = store
            .submit(&Submission { run: RunSpec::named("small"), jobs: vec![JobSpec::new("e", "t", json!([0]))] })
            .expect("submit");
        let g = Graphs::build(&store, 5).expect("build");
        assert!(g.over.contains_key(&big.run));
        assert!(g.runs.contains_key(&small.run));
    }

    /// Measured durations rank the critical path first, and a material
    /// change ranks the run again.
    #[test]
    fn durations_rank_the_path_and_changes_rerank() {
        let clock = crate::storage::ManualClock::starting_now();
        let store = Store::memory_with_clock(std::sync::Arc::new(clock.clone()));
        // A slow task, measured once (150 ms: less than two unmeasured jobs).
        let s = store
            .submit(&Submission { run: RunSpec::named("m"), jobs: vec![JobSpec::new("e", "slow", json!([0]))] })
            .expect("submit");
        let me = InstanceId::random();
        let slow = vec!["slow".to_owned()];
        let c = store.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &slow, max: 1, ttl_ms: 60_000 });
        let c = c.expect("claim").remove(0);
        clock.advance(150);
        store
            .complete(&[Completion { lease: c.lease, ran_sha: None, value: json!(0), waited_ms: 0 }])
            .expect("complete");
        assert_eq!(s.jobs.len(), 1);
        // fast → fast, and one slow job alone.
        let jobs = vec![
            JobSpec::new("e", "fast", json!([1])),
            JobSpec::new("e", "fast", json!([{ "$output": "0" }])),
            JobSpec::new("e", "slow", json!([2])),
        ];
        let sub = store.submit(&Submission { run: RunSpec::named("r"), jobs }).expect("submit");
        let mut g = Graphs::build(&store, 1_000).expect("build");
        g.refresh_durations(&store).expect("durations");
        let ranked: HashMap<JobId, u64> = g.rank().remove(0).1.into_iter().collect();
        assert_eq!(ranked[&sub.jobs[2]], 150);
        assert_eq!(ranked[&sub.jobs[0]], 2 * DEFAULT_DURATION_MS);
        assert_eq!(g.runs[&sub.run].critical_path, vec![sub.jobs[0], sub.jobs[1]]);
        // Unchanged durations: no new ranks; a fast task measured: ranked again.
        g.refresh_durations(&store).expect("durations");
        assert!(g.rank().is_empty());
        let fast = vec!["fast".to_owned()];
        let c = store.claim(&ClaimRequest { instance: &me, elf: "e", tasks: &fast, max: 1, ttl_ms: 60_000 });
        let c = c.expect("claim").remove(0);
        clock.advance(10);
        store
            .complete(&[Completion { lease: c.lease, ran_sha: None, value: json!(0), waited_ms: 0 }])
            .expect("complete");
        g.follow(&store).expect("follow");
        g.refresh_durations(&store).expect("durations");
        let again = g.rank();
        assert_eq!(again.len(), 1);
        let ranked: HashMap<JobId, u64> = again[0].1.iter().copied().collect();
        // The first fast job is done (not ranked); the second weighs 10 ms.
        assert_eq!(ranked.get(&sub.jobs[1]), Some(&10));
        assert_eq!(g.runs[&sub.run].critical_path.first(), Some(&sub.jobs[2]));
    }

    /// The bound's arithmetic: a 1,000,000-job run with 1,000,000 edges
    /// (each job fed by an earlier one) is held in under 300 MB.
    #[test]
    fn a_million_job_run_fits_in_300_mb() {
        // The resident set too (exact when this test runs alone).
        let rss = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        };
        let before = rss();
        let n: i64 = 1_000_000;
        let mut g = RunGraph::new();
        g.graph.reserve_nodes(n as usize);
        g.graph.reserve_edges(n as usize);
        g.index.reserve(n as usize);
        let row = |id: i64| JobRow {
            id: JobId(id),
            run: RunId(1),
            elf: "e".into(),
            task: "t".into(),
            priority: 0,
            ndeps: 0,
            retry: Default::default(),
            timeout_ms: None,
            state: JobState::Pending,
            unmet: 0,
            attempt: 0,
            max_attempts: 1,
            lost: 0,
            ran_sha: None,
            holder: None,
            lease_until: None,
            epoch: 0,
            not_before: 0,
            updated_at: 0,
            started_at: None,
            finished_at: None,
            parent: None,
            turn: 0,
            rank_ms: 0,
        };
        for id in 0..n {
            g.add_job(&row(id), 0);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for id in 1..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let p = (seed % id as u64) as i64;
            g.graph.add_edge(NodeIndex::new(p as usize), NodeIndex::new(id as usize), ());
        }
        let bytes = g.heap_bytes();
        let grew = before.zip(rss()).map(|(b, a)| a.saturating_sub(b) / 1_000_000);
        println!(
            "a 1,000,000-job run with {} edges: {} MB in the graphs by capacity; the resident set grew {grew:?} MB",
            g.edges(),
            bytes / 1_000_000
        );
        assert!(bytes <= 300_000_000, "{bytes} bytes");
        // Ranking it (transient arrays) works and is bounded too.
        let (ranked, _) = g.rank(|_| 10);
        assert_eq!(ranked.len(), n as usize);
        assert!(g.critical_ms >= 10);
    }
}
