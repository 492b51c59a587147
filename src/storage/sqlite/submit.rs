//! Submitting a run: jobs, edges and events in one transaction.

use std::collections::{BTreeMap, HashMap};

use petgraph::algo::toposort;
use petgraph::graph::DiGraph;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;

use super::SqliteStore;
use super::lifecycle::{JobEvent, close_jobs, job_event};
use crate::model::{JobId, JobSpec, JobState, RunId, Submission, Submitted, now_ms};
use crate::refs::{self, Producer};
use crate::storage::{Error, Readied, Result};

/// A job checked and prepared outside the transaction.
struct Prepared<'a> {
    spec: &'a JobSpec,
    key: String,
    args: Value,
    /// (where in the arguments, producer) for every reference.
    refs: Vec<(String, Producer)>,
    retry: String,
}

impl SqliteStore {
    pub(super) fn submit_run(&self, s: &Submission) -> Result<(Submitted, Readied)> {
        let (prepared, order) = prepare(s, self.limits.max_payload)?;
        self.write("submit a run", |tx| insert(tx, s, &prepared, &order))
    }
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
        for (field, name) in [("elf", &spec.elf), ("task", &spec.task)] {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
                return Err(Error::invalid(
                    what(),
                    format!("{field} name `{name}` is empty or has characters other than letters, digits, _ - . :"),
                    format!("name the {field} as its elf binary declares it"),
                ));
            }
        }
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
        let retry = serde_json::to_string(&spec.retry).map_err(|e| Error::backend("encode a retry policy", e))?;
        prepared.push(Prepared {
            spec,
            key,
            args: spec.args.clone(),
            refs: found.into_iter().map(|r| (r.at, r.producer)).collect(),
            retry,
        });
    }
    // Order by dependencies among the submitted jobs; reject cycles.
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
        Err(cycle) => {
            let start = graph[cycle.node_id()];
            return Err(Error::Cycle(cycle_path(&prepared, &keys, start)));
        }
    };
    Ok((prepared, order))
}

/// Follows references from `start` back to `start`, for the error message.
fn cycle_path(prepared: &[Prepared<'_>], keys: &HashMap<String, usize>, start: usize) -> Vec<String> {
    // Depth-first search for a path of key references returning to `start`.
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
    // References point from consumer to producer; show data flow order.
    path.reverse();
    path.iter().map(|&i| format!("`{}`", prepared[i].key)).collect()
}

fn insert(
    tx: &Transaction<'_>,
    s: &Submission,
    prepared: &[Prepared<'_>],
    order: &[usize],
) -> Result<(Submitted, Readied)> {
    if let Some(key) = &s.run.idempotency_key {
        let existing: Option<i64> =
            tx.query_row("SELECT id FROM runs WHERE idem_key = ?1", [key], |r| r.get(0)).optional()?;
        if let Some(run) = existing {
            let mut stmt = tx.prepare("SELECT id FROM jobs WHERE run = ?1 ORDER BY id")?;
            let jobs = stmt.query_map([run], |r| Ok(JobId(r.get(0)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            return Ok((Submitted { run: RunId(run), jobs, existing: true, ready: 0 }, Readied::new()));
        }
    }
    let now = now_ms();
    // Existing producers: they must exist; their state decides the consumer's.
    let mut existing: HashMap<JobId, JobState> = HashMap::new();
    for p in prepared {
        for (_, producer) in &p.refs {
            if let Producer::Job(id) = producer
                && !existing.contains_key(id)
            {
                let state: Option<String> =
                    tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id.0], |r| r.get(0)).optional()?;
                let state = state.ok_or(Error::UnknownJob(*id))?;
                existing.insert(
                    *id,
                    state.parse().map_err(|e: String| Error::backend("read a job state", std::io::Error::other(e)))?,
                );
            }
        }
    }
    let labels = serde_json::to_string(&s.run.labels).map_err(|e| Error::backend("encode labels", e))?;
    let origin = serde_json::to_string(&s.run.created_by).map_err(|e| Error::backend("encode the origin", e))?;
    let n = prepared.len() as i64;
    tx.execute(
        "INSERT INTO runs(name, labels, created_by, created_at, state, idem_key, total, open, failed) \
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, 0)",
        params![s.run.name, labels, origin, now, s.run.idempotency_key, n],
    )?;
    let run = RunId(tx.last_insert_rowid());
    tx.prepare_cached("INSERT INTO events(at, kind, run, data) VALUES (?1, 'run_created', ?2, ?3)")?
        .execute(params![now, run.0, format!("{{\"name\":{}}}", Value::from(s.run.name.as_str()))])?;

    // Ids follow submission order: we hold the write lock, so nobody else
    // inserts between reading the highest id and inserting.
    let base: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get(0))?;
    let ids: Vec<JobId> = (0..n).map(|i| JobId(base + 1 + i)).collect();
    let keys: HashMap<&str, JobId> = prepared.iter().zip(&ids).map(|(p, id)| (p.key.as_str(), *id)).collect();

    let mut states: HashMap<JobId, JobState> = HashMap::with_capacity(prepared.len());
    let mut readied = Readied::new();
    let mut finals = 0u64;
    let mut insert_job = tx.prepare_cached(
        "INSERT INTO jobs(id, run, key, elf, task, args, state, unmet, ndeps, priority, max_attempts, retry, \
         timeout_ms, expected_sha, created_at, updated_at, finished_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16)",
    )?;
    let mut insert_dep = tx.prepare_cached("INSERT INTO deps(consumer, path, producer) VALUES (?1, ?2, ?3)")?;
    for &i in order {
        let p = &prepared[i];
        let id = ids[i];
        let mut args = p.args.clone();
        let mut bind = |producer: &Producer| -> Result<JobId, Error> {
            match producer {
                Producer::Job(id) => Ok(*id),
                Producer::Key(k) => keys.get(k.as_str()).copied().ok_or_else(|| {
                    Error::invalid("reference", format!("unknown key `{k}`"), "use a key of this submission")
                }),
            }
        };
        refs::bind(&mut args, &mut bind)?;
        let mut producers: Vec<JobId> = Vec::with_capacity(p.refs.len());
        for (at, producer) in &p.refs {
            let pid = bind(producer)?;
            insert_dep.execute(params![id.0, at, pid.0])?;
            if !producers.contains(&pid) {
                producers.push(pid);
            }
        }
        let mut unmet = 0u32;
        let mut upstream_failed = false;
        for pid in &producers {
            match states.get(pid).or_else(|| existing.get(pid)).copied().unwrap_or(JobState::Pending) {
                JobState::Succeeded => {}
                JobState::Failed | JobState::UpstreamFailed | JobState::Cancelled => upstream_failed = true,
                _ => unmet += 1,
            }
        }
        let state = if upstream_failed {
            JobState::UpstreamFailed
        } else if unmet == 0 {
            JobState::Ready
        } else {
            JobState::Pending
        };
        states.insert(id, state);
        if state == JobState::Ready {
            *readied.entry(p.spec.elf.clone()).or_default() += 1;
        }
        if state.is_final() {
            finals += 1;
        }
        let args_text = serde_json::to_string(&args).map_err(|e| Error::backend("encode arguments", e))?;
        insert_job.execute(params![
            id.0,
            run.0,
            p.spec.key,
            p.spec.elf,
            p.spec.task,
            args_text,
            state.as_str(),
            unmet,
            producers.len() as i64,
            p.spec.priority,
            p.spec.retry.max_attempts,
            p.retry,
            p.spec.timeout_ms.map(|t| t as i64),
            p.spec.expected_sha.as_ref().map(|s| s.as_str()),
            now,
            state.is_final().then_some(now),
        ])?;
        job_event(tx, &JobEvent { at: now, run, job: id, state, data: None })?;
    }
    drop(insert_job);
    drop(insert_dep);
    if finals > 0 {
        close_jobs(tx, now, &BTreeMap::from([(run, (finals, finals))]))?;
    }
    let ready = readied.values().sum();
    Ok((Submitted { run, jobs: ids, existing: false, ready }, readied))
}
