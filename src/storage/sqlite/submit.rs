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
use crate::storage::{Error, Readied, Result, validate};

/// A job checked and prepared outside the transaction.
struct Prepared<'a> {
    spec: &'a JobSpec,
    /// The arguments as stored, when they hold no reference (serialized once).
    text: Option<String>,
    /// (where in the arguments, producer) for every reference.
    refs: Vec<(String, Producer)>,
    /// Index into the submission's distinct retry policies.
    retry: usize,
}

/// The jobs of a submission, checked, with their insertion order.
struct Plan<'a> {
    jobs: Vec<Prepared<'a>>,
    /// Producers before consumers.
    order: Vec<usize>,
    /// The distinct retry policies, as stored.
    policies: Vec<String>,
    /// Jobs by explicit key.
    keys: HashMap<&'a str, usize>,
}

impl Plan<'_> {
    /// The job a key names: an explicit key, or a keyless job's index.
    fn resolve(&self, key: &str) -> Option<usize> {
        self.keys
            .get(key)
            .copied()
            .or_else(|| key.parse::<usize>().ok().filter(|i| self.jobs.get(*i).is_some_and(|p| p.spec.key.is_none())))
    }

    fn key_of(&self, i: usize) -> String {
        self.jobs[i].spec.key.clone().unwrap_or_else(|| i.to_string())
    }
}

impl SqliteStore {
    pub(super) fn submit_run(&self, s: &Submission) -> Result<(Submitted, Readied)> {
        let plan = prepare(s, self.limits.max_payload)?;
        self.write("submit a run", |tx| insert(tx, s, &plan))
    }
}

/// Validates the submission and orders its jobs so that every producer in
/// the submission comes before its consumers. Pure: touches no store.
fn prepare(s: &Submission, max_payload: usize) -> Result<Plan<'_>> {
    if s.jobs.is_empty() {
        return Err(Error::invalid("submission", "it has no jobs", "call at least one task before submitting"));
    }
    let n = s.jobs.len();
    let mut plan = Plan { jobs: Vec::with_capacity(n), order: Vec::new(), policies: Vec::new(), keys: HashMap::new() };
    let mut last_policy: Option<(&crate::model::RetryPolicy, usize)> = None;
    for (i, spec) in s.jobs.iter().enumerate() {
        let what =
            || format!("job `{}` ({}/{})", spec.key.clone().unwrap_or_else(|| i.to_string()), spec.elf, spec.task);
        validate::names(spec, what)?;
        if let Some(key) = &spec.key {
            let shadows_index = key.parse::<usize>().ok().is_some_and(|j| j < n && j != i && s.jobs[j].key.is_none());
            if plan.keys.insert(key.as_str(), i).is_some() || shadows_index {
                return Err(Error::invalid(
                    what(),
                    format!("key `{key}` is used twice (a job without a key is known by its index)"),
                    "give every job of a run its own key",
                ));
            }
        }
        if spec.retry.max_attempts == 0 {
            return Err(Error::invalid(what(), "max_attempts is 0", "allow at least one attempt"));
        }
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
        // Most jobs of a run share one policy: encode each distinct one once.
        let retry = match last_policy {
            Some((p, idx)) if *p == spec.retry => idx,
            _ => {
                plan.policies
                    .push(serde_json::to_string(&spec.retry).map_err(|e| Error::backend("encode a retry policy", e))?);
                plan.policies.len() - 1
            }
        };
        last_policy = Some((&spec.retry, retry));
        plan.jobs.push(Prepared { spec, text: refs.is_empty().then_some(text), refs, retry });
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
                        "reference a job of the same submission by its key, or an existing job by its id",
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
    // Depth-first search for a path of key references returning to `start`.
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

fn insert(tx: &Transaction<'_>, s: &Submission, plan: &Plan<'_>) -> Result<(Submitted, Readied)> {
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
    for p in &plan.jobs {
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
    let n = plan.jobs.len();
    tx.execute(
        "INSERT INTO runs(name, labels, created_by, created_at, state, idem_key, total, open, failed) \
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, 0)",
        params![s.run.name, labels, origin, now, s.run.idempotency_key, n as i64],
    )?;
    let run = RunId(tx.last_insert_rowid());
    tx.prepare_cached("INSERT INTO events(at, kind, run, data) VALUES (?1, 'run_created', ?2, ?3)")?
        .execute(params![now, run.0, format!("{{\"name\":{}}}", Value::from(s.run.name.as_str()))])?;

    // Ids follow submission order: we hold the write lock, so nobody else
    // inserts between reading the highest id and inserting.
    let base: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get(0))?;
    let id_of = |i: usize| JobId(base + 1 + i as i64);

    let mut states: Vec<Option<JobState>> = vec![None; n];
    let mut ready_per_elf: HashMap<&str, u32> = HashMap::new();
    let mut finals = 0u64;
    let mut insert_job = tx.prepare_cached(
        "INSERT INTO jobs(id, run, key, elf, task, args, state, unmet, ndeps, priority, max_attempts, retry, \
         timeout_ms, expected_sha, created_at, updated_at, finished_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16)",
    )?;
    let mut insert_dep = tx.prepare_cached("INSERT INTO deps(consumer, path, producer) VALUES (?1, ?2, ?3)")?;
    let bind = |producer: &Producer| -> Result<JobId, Error> {
        match producer {
            Producer::Job(id) => Ok(*id),
            Producer::Key(k) => plan.resolve(k).map(id_of).ok_or_else(|| {
                Error::invalid("reference", format!("unknown key `{k}`"), "use a key of this submission")
            }),
        }
    };
    for &i in &plan.order {
        let p = &plan.jobs[i];
        let id = id_of(i);
        let mut producers: Vec<JobId> = Vec::new();
        let bound;
        let args_text = match &p.text {
            Some(text) => text.as_str(),
            None => {
                let mut args = p.spec.args.clone();
                refs::bind(&mut args, &mut |pr: &Producer| bind(pr))?;
                for (at, producer) in &p.refs {
                    let pid = bind(producer)?;
                    insert_dep.execute(params![id.0, at, pid.0])?;
                    if !producers.contains(&pid) {
                        producers.push(pid);
                    }
                }
                bound = serde_json::to_string(&args).map_err(|e| Error::backend("encode arguments", e))?;
                bound.as_str()
            }
        };
        let mut unmet = 0u32;
        let mut upstream_failed = false;
        for pid in &producers {
            let local = usize::try_from(pid.0 - base - 1).ok().filter(|j| *j < n);
            let state = match local {
                Some(j) => states[j].unwrap_or(JobState::Pending),
                None => existing.get(pid).copied().unwrap_or(JobState::Pending),
            };
            match state {
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
        states[i] = Some(state);
        if state == JobState::Ready {
            *ready_per_elf.entry(p.spec.elf.as_str()).or_default() += 1;
        }
        if state.is_final() {
            finals += 1;
        }
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
            plan.policies[p.retry],
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
    let readied: Readied = ready_per_elf.into_iter().map(|(e, c)| (e.to_owned(), c)).collect();
    let ready = readied.values().sum();
    Ok((Submitted { run, jobs: (0..n).map(id_of).collect(), existing: false, ready }, readied))
}
