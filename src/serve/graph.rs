//! The layout of a run's graph for drawing: jobs in layers (a job's layer
//! is the longest chain of producers before it), ordered within a layer by
//! their producers' rows. A run with more jobs than the cap is summarised:
//! one node per task, with its jobs counted by state, so that a page never
//! draws (or freezes on) tens of thousands of nodes.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{Job, JobId, JobState, Run, RunId};
use crate::storage::Dep;

/// What the nodes stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// One node per job.
    Jobs,
    /// One node per task (the run has more jobs than the cap).
    Tasks,
}

/// A run's graph, laid out.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Graph {
    /// The run.
    pub(crate) run: RunId,
    /// Jobs or tasks.
    pub(crate) mode: Mode,
    /// The run's jobs in all.
    pub(crate) total_jobs: usize,
    /// The most nodes drawn one by one.
    pub(crate) cap: usize,
    /// Said to people when the graph is summarised or cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// How many layers.
    pub(crate) layers: u32,
    /// The run's jobs by state.
    pub(crate) counts: BTreeMap<String, u64>,
    /// The nodes.
    pub(crate) nodes: Vec<Node>,
    /// The edges between drawn nodes.
    pub(crate) edges: Vec<Edge>,
}

/// A node: a job, or a task's jobs.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Node {
    /// `j<id>` for a job, `t:<elf>/<task>` for a task.
    pub(crate) id: String,
    /// What to write in it.
    pub(crate) label: String,
    /// Its layer (column), from 0.
    pub(crate) layer: u32,
    /// Its row within the layer, from 0.
    pub(crate) row: u32,
    /// The elf.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// The job, in job mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job: Option<JobId>,
    /// The job's state in job mode; the most telling state of the task's
    /// jobs in task mode (failed over claimed over ready over pending over
    /// succeeded).
    pub(crate) state: JobState,
    /// In task mode, its jobs by state.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) counts: BTreeMap<String, u64>,
}

/// An edge between drawn nodes.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Edge {
    /// The producer's node.
    pub(crate) from: String,
    /// The consumer's node.
    pub(crate) to: String,
    /// How many job edges it stands for.
    pub(crate) count: u64,
}

/// How telling a state is when a task's jobs are summed up.
fn weight(s: JobState) -> u8 {
    match s {
        JobState::Failed => 7,
        JobState::UpstreamFailed => 6,
        JobState::Claimed => 5,
        JobState::Ready => 4,
        JobState::Pending => 3,
        JobState::Cancelled => 2,
        _ => 1,
    }
}

/// Each job's layer: the longest chain of producers (in the run) before it.
fn layers(jobs: &[Job], deps: &[Dep]) -> HashMap<JobId, u32> {
    let index: HashMap<JobId, usize> = jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    let mut indegree = vec![0u32; jobs.len()];
    for d in deps {
        if let (Some(&p), Some(&c)) = (index.get(&d.producer), index.get(&d.consumer))
            && !consumers[p].contains(&c)
        {
            consumers[p].push(c);
            indegree[c] += 1;
        }
    }
    let mut layer = vec![0u32; jobs.len()];
    let mut queue: Vec<usize> = (0..jobs.len()).filter(|&i| indegree[i] == 0).collect();
    while let Some(p) = queue.pop() {
        for &c in &consumers[p] {
            layer[c] = layer[c].max(layer[p] + 1);
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push(c);
            }
        }
    }
    jobs.iter().enumerate().map(|(i, j)| (j.id, layer[i])).collect()
}

/// Lays out `run`'s graph, one node per job up to `cap` jobs, else one per
/// task (at most `cap` tasks).
pub(crate) fn layout(run: &Run, jobs: &[Job], deps: &[Dep], cap: usize) -> Graph {
    let layer_of = layers(jobs, deps);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for j in jobs {
        *counts.entry(j.state.as_str().to_owned()).or_default() += 1;
    }
    let mut graph = Graph {
        run: run.id,
        mode: Mode::Jobs,
        total_jobs: jobs.len(),
        cap,
        note: None,
        layers: layer_of.values().max().map_or(0, |m| m + 1),
        counts,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
    if jobs.len() <= cap {
        for j in jobs {
            graph.nodes.push(Node {
                id: format!("j{}", j.id),
                label: match &j.key {
                    Some(k) => format!("{} {k}", j.id),
                    None => format!("{} {}", j.id, j.task),
                },
                layer: layer_of.get(&j.id).copied().unwrap_or(0),
                row: 0,
                elf: j.elf.clone(),
                task: j.task.clone(),
                job: Some(j.id),
                state: j.state,
                counts: BTreeMap::new(),
            });
        }
        for d in deps.iter().filter(|d| layer_of.contains_key(&d.producer)) {
            *edges.entry((format!("j{}", d.producer), format!("j{}", d.consumer))).or_default() += 1;
        }
    } else {
        graph.mode = Mode::Tasks;
        let mut groups: BTreeMap<(String, String), Node> = BTreeMap::new();
        for j in jobs {
            let layer = layer_of.get(&j.id).copied().unwrap_or(0);
            let node = groups.entry((j.elf.clone(), j.task.clone())).or_insert_with(|| Node {
                id: format!("t:{}/{}", j.elf, j.task),
                label: format!("{}/{}", j.elf, j.task),
                layer,
                row: 0,
                elf: j.elf.clone(),
                task: j.task.clone(),
                job: None,
                state: j.state,
                counts: BTreeMap::new(),
            });
            node.layer = node.layer.min(layer);
            *node.counts.entry(j.state.as_str().to_owned()).or_default() += 1;
            if weight(j.state) > weight(node.state) {
                node.state = j.state;
            }
        }
        let task_of: HashMap<JobId, (&str, &str)> =
            jobs.iter().map(|j| (j.id, (j.elf.as_str(), j.task.as_str()))).collect();
        for d in deps {
            if let (Some(p), Some(c)) = (task_of.get(&d.producer), task_of.get(&d.consumer))
                && p != c
            {
                *edges.entry((format!("t:{}/{}", p.0, p.1), format!("t:{}/{}", c.0, c.1))).or_default() += 1;
            }
        }
        let tasks = groups.len();
        graph.nodes = groups.into_values().collect();
        let mut note = format!("{} jobs: more than {cap}, so drawn as {tasks} task(s), counted by state", jobs.len());
        if tasks > cap {
            graph.nodes.sort_by_key(|n| std::cmp::Reverse(n.counts.values().sum::<u64>()));
            graph.nodes.truncate(cap);
            note.push_str(&format!("; the {cap} largest of {tasks} tasks are drawn"));
        }
        graph.note = Some(note);
        graph.layers = graph.nodes.iter().map(|n| n.layer + 1).max().unwrap_or(0);
    }
    order_rows(&mut graph.nodes, &edges);
    let drawn: std::collections::HashSet<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    graph.edges = edges
        .into_iter()
        .filter(|((f, t), _)| drawn.contains(f.as_str()) && drawn.contains(t.as_str()))
        .map(|((from, to), count)| Edge { from, to, count })
        .collect();
    graph
}

/// Rows within each layer: sources by task and id, then every later node
/// by the mean row of its producers (one barycenter sweep), which keeps
/// edges short without a full crossing minimisation.
fn order_rows(nodes: &mut [Node], edges: &BTreeMap<(String, String), u64>) {
    let mut producers: HashMap<&str, Vec<&str>> = HashMap::new();
    for (from, to) in edges.keys() {
        producers.entry(to.as_str()).or_default().push(from.as_str());
    }
    let max_layer = nodes.iter().map(|n| n.layer).max().unwrap_or(0);
    let mut row_of: HashMap<String, f64> = HashMap::new();
    for layer in 0..=max_layer {
        let mut here: Vec<(f64, String, usize)> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.layer == layer)
            .map(|(i, n)| {
                let rows: Vec<f64> = producers
                    .get(n.id.as_str())
                    .map(|ps| ps.iter().filter_map(|p| row_of.get(*p).copied()).collect())
                    .unwrap_or_default();
                let key = if rows.is_empty() { f64::MAX } else { rows.iter().sum::<f64>() / rows.len() as f64 };
                (key, format!("{}/{}/{:>12}", n.elf, n.task, n.job.map_or(0, |j| j.0)), i)
            })
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (row, (_, _, i)) in here.into_iter().enumerate() {
            nodes[i].row = row as u32;
            row_of.insert(nodes[i].id.clone(), row as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{RetryPolicy, RunState};

    fn job(id: i64, task: &str, state: JobState) -> Job {
        Job {
            id: JobId(id),
            run: RunId(1),
            key: None,
            elf: "e".into(),
            task: task.into(),
            args: json!([]),
            state,
            unmet: 0,
            priority: 0,
            attempt: 0,
            max_attempts: 1,
            lost: 0,
            retry: RetryPolicy::default(),
            timeout_ms: None,
            expected_sha: None,
            ran_sha: None,
            holder: None,
            lease_until: None,
            epoch: 0,
            not_before: 0,
            created_at: 0,
            updated_at: 0,
            started_at: None,
            finished_at: None,
            parent: None,
            turn: 0,
            rank_ms: 0,
        }
    }

    fn run() -> Run {
        Run {
            id: RunId(1),
            name: "r".into(),
            labels: BTreeMap::new(),
            created_by: Default::default(),
            created_at: 0,
            finished_at: None,
            state: RunState::Running,
            total: 0,
            open: 0,
            failed: 0,
            sealed: true,
        }
    }

    fn dep(p: i64, c: i64) -> Dep {
        Dep { producer: JobId(p), consumer: JobId(c), path: "/0".into() }
    }

    #[test]
    fn a_diamond_has_three_layers() {
        let jobs: Vec<_> = (1..=4).map(|i| job(i, "t", JobState::Succeeded)).collect();
        let g = layout(&run(), &jobs, &[dep(1, 2), dep(1, 3), dep(2, 4), dep(3, 4)], 10);
        let layers: Vec<_> = g.nodes.iter().map(|n| (n.id.as_str(), n.layer)).collect();
        assert_eq!(layers, [("j1", 0), ("j2", 1), ("j3", 1), ("j4", 2)]);
        assert_eq!((g.layers, g.edges.len(), g.mode), (3, 4, Mode::Jobs));
        assert_ne!(g.nodes[1].row, g.nodes[2].row);
    }

    #[test]
    fn large_runs_are_summarised_by_task_with_counts() {
        let mut jobs: Vec<_> = (1..=50).map(|i| job(i, "map", JobState::Succeeded)).collect();
        jobs[3].state = JobState::Failed;
        jobs.push(job(51, "reduce", JobState::UpstreamFailed));
        let deps: Vec<_> = (1..=50).map(|i| dep(i, 51)).collect();
        let g = layout(&run(), &jobs, &deps, 10);
        assert_eq!(g.mode, Mode::Tasks);
        assert_eq!(g.nodes.len(), 2);
        let map = g.nodes.iter().find(|n| n.task == "map").expect("map node");
        assert_eq!((map.state, map.counts.get("succeeded")), (JobState::Failed, Some(&49)));
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.edges[0].count, 50);
        assert!(g.note.as_deref().is_some_and(|n| n.contains("51 jobs")), "{:?}", g.note);
    }
}
