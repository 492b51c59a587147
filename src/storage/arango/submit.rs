//! Submitting a run: checked here, written by one transaction.
//!
//! Ids are reserved first (one AQL query under the writer lock), so that
//! references are bound to ids here, exactly, and the arguments travel to the
//! server as JSON text that no JavaScript ever parses. The `submit`
//! transaction then checks the producers that already exist and writes the
//! run, its jobs, edges and events at once; a rejected submission writes
//! nothing (its reserved ids stay unused).

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::DiGraph;
use serde_json::{Value, json};

use super::ArangoStore;
use super::aql;
use crate::model::{JobId, JobSpec, RunId, Submission, Submitted};
use crate::refs::{self, Producer};
use crate::storage::validate;
use crate::storage::{Error, Readied, Result};

/// A job checked and prepared before any round trip.
struct Prepared<'a> {
    spec: &'a JobSpec,
    key: String,
    /// (where in the arguments, producer) for every reference.
    refs: Vec<(String, Producer)>,
}

impl ArangoStore {
    pub(super) fn submit_run(&self, s: &Submission) -> Result<(Submitted, Readied)> {
        let (prepared, order) = prepare(s, self.limits.max_payload)?;
        if let Some(key) = &s.run.idempotency_key
            && let Some(done) = self.existing_run(key)?
        {
            return Ok((done, Readied::new()));
        }
        let reserved = self.query_one("reserve ids", &aql::reserve(prepared.len()))?;
        let base = reserved.get("job").and_then(Value::as_f64).map(|v| v as i64);
        let run = reserved.get("run").and_then(Value::as_f64).map(|v| v as i64 + 1);
        let (Some(base), Some(run)) = (base, run) else {
            return Err(Error::backend("reserve ids", std::io::Error::other(format!("unexpected answer {reserved}"))));
        };
        let ids: Vec<JobId> = (0..prepared.len()).map(|i| JobId(base + 1 + i as i64)).collect();
        let params = params(s, &prepared, &order, RunId(run), &ids)?;
        let answer = self.transaction("submit a run", "submit", params)?;
        if let Some(id) = answer.get("unknown_job").and_then(Value::as_f64) {
            return Err(Error::UnknownJob(JobId(id as i64)));
        }
        if answer.get("existing").and_then(Value::as_bool) == Some(true) {
            // A racing submission with the same key won under the lock.
            let run = answer.get("run").and_then(Value::as_f64).map_or(0, |v| v as i64);
            let jobs = answer
                .get("jobs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).map(|v| JobId(v as i64)).collect())
                .unwrap_or_default();
            return Ok((Submitted { run: RunId(run), jobs, existing: true, ready: 0 }, Readied::new()));
        }
        let readied: Readied = serde_json::from_value(answer.get("readied").cloned().unwrap_or_else(|| json!({})))
            .map_err(|e| Error::backend("decode the submit answer", e))?;
        let ready = readied.values().sum();
        Ok((Submitted { run: RunId(run), jobs: ids, existing: false, ready }, readied))
    }

    fn existing_run(&self, key: &str) -> Result<Option<Submitted>> {
        let found = self.query_one("look up an idempotency key", &aql::run_by_idempotency_key(key))?;
        let Some(run) = found.get("run").and_then(Value::as_f64) else { return Ok(None) };
        let jobs = found
            .get("jobs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).map(|v| JobId(v as i64)).collect())
            .unwrap_or_default();
        Ok(Some(Submitted { run: RunId(run as i64), jobs, existing: true, ready: 0 }))
    }
}

/// The `submit` transaction's parameters: jobs in dependency order with
/// their references bound to `ids`.
fn params(s: &Submission, prepared: &[Prepared<'_>], order: &[usize], run: RunId, ids: &[JobId]) -> Result<Value> {
    let keys: HashMap<&str, JobId> = prepared.iter().zip(ids).map(|(p, id)| (p.key.as_str(), *id)).collect();
    let bind = |producer: &Producer| -> Result<JobId, Error> {
        match producer {
            Producer::Job(id) => Ok(*id),
            Producer::Key(k) => keys.get(k.as_str()).copied().ok_or_else(|| {
                Error::invalid("reference", format!("unknown key `{k}`"), "use a key of this submission")
            }),
        }
    };
    let mut existing: Vec<i64> = Vec::new();
    let mut jobs = Vec::with_capacity(order.len());
    for &i in order {
        let p = &prepared[i];
        let mut args = p.spec.args.clone();
        refs::bind(&mut args, &mut |producer: &Producer| bind(producer))?;
        let mut producers: Vec<i64> = Vec::new();
        let mut deps = Vec::with_capacity(p.refs.len());
        for (at, producer) in &p.refs {
            let pid = bind(producer)?;
            if let Producer::Job(id) = producer
                && !existing.contains(&id.0)
            {
                existing.push(id.0);
            }
            deps.push(json!([at, pid.0]));
            if !producers.contains(&pid.0) {
                producers.push(pid.0);
            }
        }
        let args = serde_json::to_string(&args).map_err(|e| Error::backend("encode arguments", e))?;
        jobs.push(json!({
            "id": ids[i].0, "key": p.spec.key, "elf": p.spec.elf, "task": p.spec.task, "args": args,
            "deps": deps, "producers": producers, "priority": p.spec.priority, "retry": p.spec.retry,
            "timeout_ms": p.spec.timeout_ms, "expected_sha": p.spec.expected_sha,
        }));
    }
    Ok(json!({
        "run": {
            "id": run.0, "name": s.run.name, "labels": s.run.labels, "created_by": s.run.created_by,
            "idem_key": s.run.idempotency_key,
        },
        "jobs": jobs,
        "existing": existing,
    }))
}

/// Validates the submission and orders its jobs so that every producer in
/// the submission comes before its consumers. Pure: touches no store.
fn prepare(s: &Submission, max_payload: usize) -> Result<(Vec<Prepared<'_>>, Vec<usize>)> {
    if s.jobs.is_empty() {
        return Err(Error::invalid("submission", "it has no jobs", "call at least one task before submitting"));
    }
    let mut keys: HashMap<String, usize> = HashMap::with_capacity(s.jobs.len());
    let mut prepared = Vec::with_capacity(s.jobs.len());
    for (i, spec) in s.jobs.iter().enumerate() {
        let key = spec.key.clone().unwrap_or_else(|| i.to_string());
        let what = || format!("job `{key}` ({}/{})", spec.elf, spec.task);
        validate::names(spec, what)?;
        if keys.insert(key.clone(), i).is_some() {
            return Err(Error::invalid(
                what(),
                format!("key `{key}` is used twice"),
                "give every job of a run its own key",
            ));
        }
        let size = serde_json::to_vec(&spec.args).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > max_payload {
            return Err(Error::TooLarge { what: format!("the arguments of {}", what()), size, limit: max_payload });
        }
        if spec.retry.max_attempts == 0 {
            return Err(Error::invalid(what(), "max_attempts is 0", "allow at least one attempt"));
        }
        let found = refs::scan(&spec.args)
            .map_err(|e| Error::invalid(format!("arguments of {}", what()), e.to_string(), "fix the reference"))?;
        prepared.push(Prepared { spec, key, refs: found.into_iter().map(|r| (r.at, r.producer)).collect() });
    }
    let mut graph = DiGraph::<usize, ()>::with_capacity(prepared.len(), 0);
    let nodes: Vec<_> = (0..prepared.len()).map(|i| graph.add_node(i)).collect();
    for (i, p) in prepared.iter().enumerate() {
        for (at, producer) in &p.refs {
            if let Producer::Key(k) = producer {
                let Some(&j) = keys.get(k) else {
                    return Err(Error::invalid(
                        format!("arguments of job `{}` ({}/{})", p.key, p.spec.elf, p.spec.task),
                        format!("the reference at `{at}` names job `{k}`, which is not in this submission"),
                        "reference a job of the same submission by its key, or an existing job by its id",
                    ));
                };
                graph.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    let order = match toposort(&graph, None) {
        Ok(order) => order.into_iter().map(|n| graph[n]).collect(),
        Err(cycle) => return Err(Error::Cycle(cycle_path(&prepared, &keys, graph[cycle.node_id()]))),
    };
    Ok((prepared, order))
}

/// Follows key references from `start` back to `start`, for the message.
fn cycle_path(prepared: &[Prepared<'_>], keys: &HashMap<String, usize>, start: usize) -> Vec<String> {
    fn dfs(
        prepared: &[Prepared<'_>],
        keys: &HashMap<String, usize>,
        at: usize,
        start: usize,
        seen: &mut Vec<usize>,
    ) -> bool {
        for (_, p) in &prepared[at].refs {
            if let Producer::Key(k) = p
                && let Some(&next) = keys.get(k)
            {
                if next == start {
                    return true;
                }
                if !seen.contains(&next) {
                    seen.push(next);
                    if dfs(prepared, keys, next, start, seen) {
                        return true;
                    }
                    seen.pop();
                }
            }
        }
        false
    }
    let mut path = vec![start];
    dfs(prepared, keys, start, start, &mut path);
    path.push(start);
    path.reverse();
    path.iter().map(|&i| format!("`{}`", prepared[i].key)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunSpec;

    fn sub(jobs: Vec<JobSpec>) -> Submission {
        Submission { run: RunSpec::named("t"), jobs }
    }

    #[test]
    fn references_bind_to_reserved_ids_in_dependency_order() {
        let s = sub(vec![
            JobSpec::new("e", "t", json!([{"$output": "b"}, {"$output": 40}])).with_key("a"),
            JobSpec::new("e", "t", json!({"x": [{"$output": 40, "path": "/v"}]})).with_key("b"),
        ]);
        let (prepared, order) = prepare(&s, 1 << 20).expect("valid");
        assert_eq!(order, vec![1, 0], "the producer comes first");
        let p = params(&s, &prepared, &order, RunId(3), &[JobId(11), JobId(12)]).expect("params");
        let jobs = p["jobs"].as_array().expect("jobs");
        assert_eq!(jobs[0]["id"], 12);
        assert_eq!(jobs[1]["args"], r#"[{"$output":12},{"$output":40}]"#, "arguments travel as exact JSON text");
        assert_eq!(jobs[1]["deps"], json!([["/0", 12], ["/1", 40]]));
        assert_eq!(jobs[1]["producers"], json!([12, 40]));
        assert_eq!(jobs[0]["producers"], json!([40]));
        assert_eq!(p["existing"], json!([40]), "existing producers are checked by the transaction");
        assert_eq!(p["run"]["id"], 3);
    }

    #[test]
    fn bad_submissions_are_refused_before_any_round_trip() {
        for (jobs, needle) in [
            (vec![], "no jobs"),
            (vec![JobSpec::new("", "t", json!([]))], "elf name"),
            (vec![JobSpec::new("e", "t", json!([{"$output": "nope"}]))], "`nope`"),
            (vec![JobSpec::new("e", "t", json!([{"$output": 1, "extra": 2}]))], "`extra`"),
            (vec![JobSpec::new("e", "t", json!(["x".repeat(100)]))], "max_payload"),
        ] {
            let err = prepare(&sub(jobs), 64).err().expect("refused").to_string();
            assert!(err.contains(needle), "{err}");
        }
        let cycle = sub(vec![
            JobSpec::new("e", "t", json!([{"$output": "b"}])).with_key("a"),
            JobSpec::new("e", "t", json!([{"$output": "a"}])).with_key("b"),
        ]);
        assert!(matches!(prepare(&cycle, 1 << 20), Err(Error::Cycle(_))));
    }
}
