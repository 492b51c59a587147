//! The graph of a run, derived from the mycelium with petgraph.

use std::collections::HashMap;

use petgraph::algo::is_cyclic_directed;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::{JobId, JobState, RunId};
use crate::storage::{self, JobQuery, Store};

/// What auditing a run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Jobs in the graph.
    pub jobs: usize,
    /// Edges in the graph.
    pub edges: usize,
    /// Pending jobs whose producers all succeeded: they should be ready.
    pub stuck: Vec<JobId>,
    /// Jobs whose recorded unmet count disagrees with the graph.
    pub miscounted: Vec<JobId>,
    /// Whether the graph has a cycle (it never should).
    pub cyclic: bool,
}

impl Audit {
    /// Whether the run's graph is consistent.
    pub fn is_clean(&self) -> bool {
        self.stuck.is_empty() && self.miscounted.is_empty() && !self.cyclic
    }
}

/// Builds `run`'s graph from the store and checks it against the job states.
pub fn audit_run(store: &Store, run: RunId) -> Result<Audit, storage::Error> {
    let jobs = store.jobs(&JobQuery { run: Some(run), ..Default::default() })?;
    let deps = store.deps(run)?;
    let mut graph = DiGraph::<JobId, String>::with_capacity(jobs.len(), deps.len());
    let mut nodes: HashMap<JobId, NodeIndex> = HashMap::with_capacity(jobs.len());
    let mut states: HashMap<JobId, (JobState, u32)> = HashMap::with_capacity(jobs.len());
    for j in &jobs {
        nodes.insert(j.id, graph.add_node(j.id));
        states.insert(j.id, (j.state, j.unmet));
    }
    let mut external: HashMap<JobId, JobState> = HashMap::new();
    for d in &deps {
        if let (Some(&p), Some(&c)) = (nodes.get(&d.producer), nodes.get(&d.consumer)) {
            graph.add_edge(p, c, d.path.clone());
        } else if !nodes.contains_key(&d.producer) {
            let state = store.job(d.producer)?.map(|j| j.state).unwrap_or(JobState::Pending);
            external.insert(d.producer, state);
        }
    }
    let mut audit =
        Audit { jobs: jobs.len(), edges: deps.len(), cyclic: is_cyclic_directed(&graph), ..Audit::default() };
    let mut producers: HashMap<JobId, Vec<JobId>> = HashMap::new();
    for d in &deps {
        let list = producers.entry(d.consumer).or_default();
        if !list.contains(&d.producer) {
            list.push(d.producer);
        }
    }
    for j in &jobs {
        if j.state != JobState::Pending {
            continue;
        }
        let unmet = producers
            .get(&j.id)
            .map(|ps| {
                ps.iter()
                    .filter(|p| {
                        let s = states.get(p).map(|s| s.0).or_else(|| external.get(p).copied());
                        s != Some(JobState::Succeeded)
                    })
                    .count()
            })
            .unwrap_or(0);
        if unmet == 0 {
            audit.stuck.push(j.id);
        }
        if unmet as u32 != j.unmet {
            audit.miscounted.push(j.id);
        }
    }
    Ok(audit)
}
