//! `mycelium graph <run>`: the run's data-flow graph as Graphviz dot or JSON.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::json;

use super::error::bail;
use super::lookup;
use super::render::write_json;
use super::{Context, Result};
use crate::coordinator::{DEFAULT_DURATION_MS, ranks_and_path};
use crate::model::{Job, JobId, JobState, Param, RunId};
use crate::storage::{Edge, JobQuery, Store};

/// Arguments of `mycelium graph`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The run (`12` or `r12`).
    pub(crate) run: String,
    /// `dot` (Graphviz) or `json`; `--json` implies json.
    #[arg(long, default_value = "dot")]
    pub(crate) format: String,
    /// Mark the critical path (bold red in dot; `critical_path` in JSON)
    /// and give each job's duration (measured, or its task's median, or a
    /// default) and rank (the longest remaining path, in ms).
    #[arg(long)]
    pub(crate) critical_path: bool,
}

/// Where a job's duration comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Its own successful attempt.
    Measured,
    /// Its task's median over recent successful attempts.
    Median,
    /// Nothing measured yet: [`DEFAULT_DURATION_MS`].
    Default,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Median => "median",
            Source::Default => "default",
        }
    }
}

/// The critical path of a run, with each job's duration and rank.
struct Critical {
    /// Per job of the run: (duration ms, where it comes from, rank ms).
    jobs: HashMap<JobId, (u64, Source, u64)>,
    /// The path, first job first.
    path: Vec<JobId>,
}

impl Critical {
    /// Computes it over the run's own jobs (producers of other runs are
    /// shown but not ranked).
    fn of(store: &Store, run: RunId, jobs: &[Job], edges: &[Edge]) -> Result<Self> {
        let own: Vec<&Job> = jobs.iter().filter(|j| j.run == run).collect();
        let tasks: Vec<(String, String)> =
            own.iter().map(|j| (j.elf.clone(), j.task.clone())).collect::<BTreeSet<_>>().into_iter().collect();
        let medians = store.task_durations(&tasks).context("read the tasks' durations")?;
        let durations: Vec<(JobId, u64, Source)> = own
            .iter()
            .map(|j| match (j.state, j.started_at, j.finished_at) {
                (JobState::Succeeded, Some(s), Some(f)) => (j.id, u64::try_from(f - s).unwrap_or(0), Source::Measured),
                _ => match medians.get(&(j.elf.clone(), j.task.clone())) {
                    Some(m) => (j.id, *m, Source::Median),
                    None => (j.id, DEFAULT_DURATION_MS, Source::Default),
                },
            })
            .collect();
        let weighted: Vec<(JobId, u64)> = durations.iter().map(|(id, d, _)| (*id, *d)).collect();
        let pairs: Vec<(JobId, JobId)> = edges.iter().map(|e| (e.producer, e.consumer)).collect();
        let (ranks, path) = ranks_and_path(&weighted, &pairs);
        let jobs =
            durations.into_iter().map(|(id, d, src)| (id, (d, src, ranks.get(&id).copied().unwrap_or(d)))).collect();
        Ok(Self { jobs, path })
    }
}

/// The fill color of a job in `state`.
fn color(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "gray90",
        JobState::Ready => "lightblue",
        JobState::Claimed => "gold",
        JobState::Waiting => "khaki",
        JobState::Succeeded => "palegreen",
        JobState::Failed => "salmon",
        JobState::UpstreamFailed => "orange",
        JobState::Cancelled => "gray70",
    }
}

/// `text` as the inside of a dot string.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Prints the graph of a run.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let format = if json { "json" } else { args.format.as_str() };
    if format != "dot" && format != "json" {
        bail!("`{}` is not a graph format: expected dot or json", args.format);
    }
    let run = lookup::run(store, &args.run)?;
    let mut jobs = store.jobs(&JobQuery { run: Some(run.id), ..JobQuery::default() }).context("read the run's jobs")?;
    let edges = Edge::pairs(&store.deps(run.id).context("read the run's edges")?);
    // Producers in other runs (a reference to an existing job) are shown too.
    let known: BTreeSet<_> = jobs.iter().map(|j| j.id).collect();
    let outside: BTreeSet<_> = edges.iter().map(|e| e.producer).filter(|p| !known.contains(p)).collect();
    for id in outside {
        if let Some(job) = store.job(id).with_context(|| format!("read job {id}"))? {
            jobs.push(job);
        }
    }
    let critical = if args.critical_path { Some(Critical::of(store, run.id, &jobs, &edges)?) } else { None };
    if format == "json" {
        let nodes: Vec<_> = jobs
            .iter()
            .map(|j| {
                let mut node = json!({
                    "id": j.id, "run": j.run, "key": j.key, "elf": j.elf, "task": j.task,
                    "state": j.state, "attempt": j.attempt, "ran_sha": j.ran_sha, "parent": j.parent,
                });
                if let Some((d, src, rank)) = critical.as_ref().and_then(|c| c.jobs.get(&j.id))
                    && let Some(map) = node.as_object_mut()
                {
                    map.insert("duration_ms".into(), json!(d));
                    map.insert("duration".into(), json!(src.as_str()));
                    map.insert("rank_ms".into(), json!(rank));
                }
                node
            })
            .collect();
        let edges: Vec<_> =
            edges.iter().map(|e| json!({ "from": e.producer, "to": e.consumer, "paths": e.paths })).collect();
        let mut doc = json!({ "run": run.id, "nodes": nodes, "edges": edges });
        if let (Some(c), Some(map)) = (&critical, doc.as_object_mut()) {
            let length = c.path.first().and_then(|id| c.jobs.get(id)).map_or(0, |(_, _, r)| *r);
            map.insert("critical_path".into(), json!(c.path));
            map.insert("critical_path_ms".into(), json!(length));
        }
        return write_json(out, &doc);
    }
    let on_path: HashSet<JobId> = critical.as_ref().map(|c| c.path.iter().copied().collect()).unwrap_or_default();
    let path_edges: HashSet<(JobId, JobId)> =
        critical.as_ref().map(|c| c.path.windows(2).map(|w| (w[0], w[1])).collect()).unwrap_or_default();
    writeln!(out, "digraph \"run {}\" {{", run.id)?;
    writeln!(out, "  label=\"run {} {}: {}\";", run.id, escape(&run.name), run.state)?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, style=filled, fontname=\"monospace\"];")?;
    for j in &jobs {
        // With --critical-path: the timing on the label's last line, the
        // path bold red.
        let (timing, bold) = match critical.as_ref().and_then(|c| c.jobs.get(&j.id)) {
            Some((d, src, rank)) => (
                format!("\\n{d} ms ({}), rank {rank} ms", src.as_str()),
                if on_path.contains(&j.id) { ", color=red, penwidth=3" } else { "" },
            ),
            None => (String::new(), ""),
        };
        writeln!(out, "  {}", node(j, j.run != run.id, &timing, bold))?;
    }
    let params = parameters(store, &jobs);
    for e in &edges {
        let consumer = params.get(&e.consumer).map(Vec::as_slice);
        let labels: Vec<String> = e.paths.iter().map(|p| describe_path(p, consumer)).collect();
        let bold = if path_edges.contains(&(e.producer, e.consumer)) { ", color=red, penwidth=3" } else { "" };
        writeln!(out, "  j{} -> j{} [label=\"{}\"{bold}];", e.producer, e.consumer, escape(&labels.join(", ")))?;
    }
    // A flow's children hang off the flow, dashed: started by its commands.
    for j in &jobs {
        if let Some(parent) = j.parent {
            writeln!(out, "  j{parent} -> j{} [style=dashed, arrowhead=empty, label=\"started\"];", j.id)?;
        }
    }
    if let Some(c) = &critical {
        let length = c.path.first().and_then(|id| c.jobs.get(id)).map_or(0, |(_, _, r)| *r);
        let path: Vec<String> = c.path.iter().map(ToString::to_string).collect();
        writeln!(out, "  // critical path ({length} ms): {}", path.join(" -> "))?;
    }
    writeln!(out, "}}")?;
    Ok(())
}

/// The dot line of a job node; jobs of another run are dashed. `more` ends
/// the label (already escaped); `attrs` are more attributes (`, k=v`).
fn node(j: &Job, outside: bool, more: &str, attrs: &str) -> String {
    let label = format!("{} {}/{}\\n{}{more}", j.id, escape(&j.elf), escape(&j.task), j.state);
    let style = if outside { "\"filled,dashed\"" } else { "filled" };
    format!("j{} [label=\"{label}\", fillcolor=\"{}\", style={style}{attrs}];", j.id, color(j.state))
}

/// The parameters of each job's task, from the version it ran or was
/// compiled against, when recorded.
fn parameters(store: &Store, jobs: &[Job]) -> std::collections::HashMap<crate::model::JobId, Vec<Param>> {
    let mut by_sha = std::collections::HashMap::new();
    let mut out = std::collections::HashMap::new();
    for j in jobs {
        let Some(sha) = j.ran_sha.as_ref().or(j.expected_sha.as_ref()) else { continue };
        let params = by_sha
            .entry(sha.clone())
            .or_insert_with(|| store.task_version(sha).ok().flatten().map(|v| v.signature.params))
            .clone();
        if let Some(p) = params {
            out.insert(j.id, p);
        }
    }
    out
}

/// What an argument path means, for people: `/1/xs/0` of a task whose second
/// parameter is `rows` reads `rows.xs[0]`; without the signature, `arg 1.xs[0]`.
pub(crate) fn describe_path(path: &str, params: Option<&[Param]>) -> String {
    let mut tokens = path.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~"));
    let Some(first) = tokens.next() else { return "all arguments".to_owned() };
    let mut out = match (first.parse::<usize>(), params) {
        (Ok(i), Some(ps)) if i < ps.len() => ps[i].name.clone(),
        (Ok(i), _) => format!("arg {i}"),
        (Err(_), _) => first,
    };
    for t in tokens {
        if t.parse::<usize>().is_ok() {
            out.push_str(&format!("[{t}]"));
        } else {
            out.push('.');
            out.push_str(&t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_parameters() {
        let ps = vec![Param { name: "a".into(), ty: "u64".into() }, Param { name: "rows".into(), ty: "Rows".into() }];
        assert_eq!(describe_path("/1/xs/0", Some(&ps)), "rows.xs[0]");
        assert_eq!(describe_path("/0", Some(&ps)), "a");
        assert_eq!(describe_path("/1/xs/0", None), "arg 1.xs[0]");
        assert_eq!(describe_path("/0/a~1b", None), "arg 0.a/b");
        assert_eq!(describe_path("", None), "all arguments");
    }
}
