//! Planning a submission: validation, key resolution, cycle detection and
//! insertion order. Pure: touches no store.

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::DiGraph;

use crate::model::{JobSpec, RetryPolicy};
use crate::refs::{self, Producer};
use crate::storage::{Error, Result};

/// A job checked and prepared outside the transaction.
pub(super) struct Prepared<'a> {
    pub(super) spec: &'a JobSpec,
    /// The arguments as stored, when they hold no reference (serialized once).
    pub(super) text: Option<String>,
    /// (where in the arguments, producer) for every reference.
    pub(super) refs: Vec<(String, Producer)>,
}

/// The jobs of a submission, checked, with their insertion order.
pub(super) struct Plan<'a> {
    pub(super) jobs: Vec<Prepared<'a>>,
    /// Producers before consumers.
    pub(super) order: Vec<usize>,
    /// Jobs by explicit key.
    keys: HashMap<&'a str, usize>,
}

impl Plan<'_> {
    /// The job a key names: an explicit key, or a keyless job's index.
    pub(super) fn resolve(&self, key: &str) -> Option<usize> {
        self.keys
            .get(key)
            .copied()
            .or_else(|| key.parse::<usize>().ok().filter(|i| self.jobs.get(*i).is_some_and(|p| p.spec.key.is_none())))
    }

    /// The name of job `i` in messages: its key, or its index.
    pub(super) fn key_of(&self, i: usize) -> String {
        self.jobs[i].spec.key.clone().unwrap_or_else(|| i.to_string())
    }
}

/// Refuses elf and task names a binary could not declare; `what` names the job.
pub(crate) fn check_names(spec: &JobSpec, what: impl Fn() -> String) -> Result<()> {
    for (field, name) in [("elf", &spec.elf), ("task", &spec.task)] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
            return Err(Error::invalid(
                what(),
                format!("{field} name `{name}` is empty or has characters other than letters, digits, _ - . :"),
                format!("name the {field} as its elf binary declares it"),
            ));
        }
    }
    Ok(())
}

/// Checks a retry policy; `what` names the job.
pub(crate) fn check_policy(policy: &RetryPolicy, what: impl Fn() -> String) -> Result<()> {
    if policy.max_attempts == 0 {
        return Err(Error::invalid(what(), "max_attempts is 0", "allow at least one attempt"));
    }
    Ok(())
}

/// Validates the submission and orders its jobs so that every producer in
/// the submission comes before its consumers.
pub(super) fn prepare(jobs: &[JobSpec], max_payload: usize) -> Result<Plan<'_>> {
    if jobs.is_empty() {
        return Err(Error::invalid("submission", "it has no jobs", "call at least one task before submitting"));
    }
    let n = jobs.len();
    let mut plan = Plan { jobs: Vec::with_capacity(n), order: Vec::new(), keys: HashMap::new() };
    for (i, spec) in jobs.iter().enumerate() {
        let what =
            || format!("job `{}` ({}/{})", spec.key.clone().unwrap_or_else(|| i.to_string()), spec.elf, spec.task);
        check_names(spec, what)?;
        if let Some(key) = &spec.key {
            let shadows_index = key.parse::<usize>().ok().is_some_and(|j| j < n && j != i && jobs[j].key.is_none());
            if plan.keys.insert(key.as_str(), i).is_some() || shadows_index {
                return Err(Error::invalid(
                    what(),
                    format!("key `{key}` is used twice (a job without a key is known by its index)"),
                    "give every job of a run its own key",
                ));
            }
        }
        check_policy(&spec.retry, what)?;
        let text = serde_json::to_string(&spec.args).map_err(|e| Error::backend("encode arguments", e))?;
        if text.len() > max_payload {
            return Err(Error::TooLarge {
                what: format!("the arguments of {}", what()),
                size: text.len(),
                limit: max_payload,
            });
        }
        let refs: Vec<(String, Producer)> = if text.contains(refs::OUTPUT) {
            refs::scan(&spec.args)
                .map_err(|e| Error::invalid(format!("arguments of {}", what()), e.to_string(), "fix the reference"))?
                .into_iter()
                .map(|r| (r.at, r.producer))
                .collect()
        } else {
            Vec::new()
        };
        plan.jobs.push(Prepared { spec, text: refs.is_empty().then_some(text), refs });
    }
    // Order by dependencies among the submitted jobs; reject cycles.
    let mut edges = Vec::new();
    for (i, p) in plan.jobs.iter().enumerate() {
        for (at, producer) in &p.refs {
            if let Producer::Key(k) = producer {
                let Some(j) = plan.resolve(k) else {
                    return Err(Error::invalid(
                        format!("arguments of job `{}` ({}/{})", plan.key_of(i), p.spec.elf, p.spec.task),
                        format!("the reference at `{at}` names job `{k}`, which is not in this submission"),
                        "reference a job of the same submission (or chunk) by its key, or an existing job, such as \
                         one of an earlier chunk of an open run, by its id",
                    ));
                };
                edges.push((j, i));
            }
        }
    }
    if edges.is_empty() {
        plan.order = (0..n).collect();
        return Ok(plan);
    }
    let mut graph = DiGraph::<usize, ()>::with_capacity(n, edges.len());
    let nodes: Vec<_> = (0..n).map(|i| graph.add_node(i)).collect();
    for (j, i) in edges {
        graph.add_edge(nodes[j], nodes[i], ());
    }
    match toposort(&graph, None) {
        Ok(order) => plan.order = order.into_iter().map(|node| graph[node]).collect(),
        Err(cycle) => {
            let start = graph[cycle.node_id()];
            return Err(Error::Cycle(cycle_path(&plan, start)));
        }
    }
    Ok(plan)
}

/// Follows references from `start` back to `start`, for the error message.
fn cycle_path(plan: &Plan<'_>, start: usize) -> Vec<String> {
    fn dfs(plan: &Plan<'_>, at: usize, start: usize, seen: &mut Vec<usize>) -> bool {
        for (_, p) in &plan.jobs[at].refs {
            if let Producer::Key(k) = p
                && let Some(next) = plan.resolve(k)
            {
                if next == start {
                    return true;
                }
                if !seen.contains(&next) {
                    seen.push(next);
                    if dfs(plan, next, start, seen) {
                        return true;
                    }
                    seen.pop();
                }
            }
        }
        false
    }
    let mut path = vec![start];
    dfs(plan, start, start, &mut path);
    path.push(start);
    // References point from consumer to producer; show data flow order.
    path.reverse();
    path.iter().map(|&i| format!("`{}`", plan.key_of(i))).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{RunSpec, Submission};

    fn sub(jobs: Vec<JobSpec>) -> Submission {
        Submission { run: RunSpec::named("t"), jobs }
    }

    #[test]
    fn producers_come_before_consumers() {
        let s = sub(vec![
            JobSpec::new("e", "t", json!([{"$output": "b"}])).with_key("a"),
            JobSpec::new("e", "t", json!([1])).with_key("b"),
        ]);
        let plan = prepare(&s.jobs, 1 << 20).expect("valid");
        assert_eq!(plan.order, vec![1, 0]);
    }

    #[test]
    fn cycles_name_their_jobs_in_data_flow_order() {
        let s = sub(vec![
            JobSpec::new("e", "t", json!([{"$output": "c"}])).with_key("a"),
            JobSpec::new("e", "t", json!([{"$output": "a"}])).with_key("b"),
            JobSpec::new("e", "t", json!([{"$output": "b"}])).with_key("c"),
        ]);
        let Err(Error::Cycle(path)) = prepare(&s.jobs, 1 << 20) else { panic!("a cycle must be refused") };
        assert_eq!(path.len(), 4, "{path:?}");
        assert_eq!(path.first(), path.last());
    }

    #[test]
    fn bad_input_names_itself() {
        for (jobs, needle) in [
            (vec![JobSpec::new("", "t", json!([]))], "elf name"),
            (
                vec![JobSpec::new("e", "t", json!([])).with_key("k"), JobSpec::new("e", "t", json!([])).with_key("k")],
                "`k`",
            ),
            (vec![JobSpec::new("e", "t", json!([{"$output": "nope"}]))], "`nope`"),
            (vec![], "no jobs"),
        ] {
            let err = prepare(&sub(jobs).jobs, 1 << 20).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(needle), "`{err}` should name `{needle}`");
        }
        let big = sub(vec![JobSpec::new("e", "t", json!(["x".repeat(100)]))]);
        assert!(matches!(prepare(&big.jobs, 50), Err(Error::TooLarge { .. })));
    }
}
