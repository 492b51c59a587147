//! What the store is asked: queries, limits, dependency edges.

use serde::{Deserialize, Serialize};

use crate::model::{FailureKind, JobId, JobState, Millis, RunId, RunState};

/// Size limits a store enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest arguments or result of one job, in bytes of JSON.
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload: 16 * 1024 * 1024 }
    }
}

/// A dependency edge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep {
    /// The job whose result is consumed.
    pub producer: JobId,
    /// The job that consumes it.
    pub consumer: JobId,
    /// Where in the consumer's arguments the value goes (a JSON pointer).
    pub path: String,
}

/// One producer→consumer pair of a graph, with every place in the
/// consumer's arguments that the producer's result feeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The job whose result is consumed.
    pub producer: JobId,
    /// The job that consumes it.
    pub consumer: JobId,
    /// Where in the consumer's arguments (JSON pointers), in order.
    pub paths: Vec<String>,
}

impl Edge {
    /// The pairs of `deps` (one edge per reference site), each once, in the
    /// order of their first reference.
    pub fn pairs(deps: &[Dep]) -> Vec<Edge> {
        let mut out: Vec<Edge> = Vec::new();
        let mut index: std::collections::HashMap<(JobId, JobId), usize> = std::collections::HashMap::new();
        for d in deps {
            match index.get(&(d.producer, d.consumer)) {
                Some(&i) => out[i].paths.push(d.path.clone()),
                None => {
                    index.insert((d.producer, d.consumer), out.len());
                    out.push(Edge { producer: d.producer, consumer: d.consumer, paths: vec![d.path.clone()] });
                }
            }
        }
        out
    }
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobQuery {
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only in these states (any when empty).
    pub states: Vec<JobState>,
    /// Only of this elf.
    pub elf: Option<String>,
    /// Only of this task.
    pub task: Option<String>,
    /// Only with an id above this (for paging).
    pub after: Option<JobId>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    /// Only in this state.
    pub state: Option<RunState>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which failures to list.
#[derive(Clone, Debug, Default)]
pub struct FailureQuery {
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only of this job.
    pub job: Option<JobId>,
    /// Only of this elf.
    pub elf: Option<String>,
    /// Only of this task.
    pub task: Option<String>,
    /// Only of this kind.
    pub kind: Option<FailureKind>,
    /// Only at or after this time.
    pub since: Option<Millis>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only events with a `seq` above this (the cursor).
    pub after: i64,
    /// Only of this run.
    pub run: Option<RunId>,
    /// Only of this job.
    pub job: Option<JobId>,
    /// At most this many.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edge_per_pair_with_every_path() {
        let d = |p: i64, c: i64, path: &str| Dep { producer: JobId(p), consumer: JobId(c), path: path.into() };
        // [[m, m, m], [m]]: four references, one pair.
        let deps = vec![d(1, 2, "/0/0"), d(1, 2, "/0/1"), d(1, 2, "/0/2"), d(1, 2, "/1/0"), d(3, 2, "/2")];
        let edges = Edge::pairs(&deps);
        assert_eq!(edges.len(), 2);
        assert_eq!(edges[0].paths, vec!["/0/0", "/0/1", "/0/2", "/1/0"]);
        assert_eq!((edges[1].producer, edges[1].paths.clone()), (JobId(3), vec!["/2".to_owned()]));
    }
}
