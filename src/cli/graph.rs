//! `mycelium graph <run>`: the run's data-flow graph as Graphviz dot or JSON.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::json;

use super::error::bail;
use super::lookup;
use super::render::write_json;
use super::{Context, Result};
use crate::model::{Job, JobState, Param};
use crate::storage::{Edge, JobQuery, Store};

/// Arguments of `mycelium graph`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The run (`12` or `r12`).
    pub(crate) run: String,
    /// `dot` (Graphviz) or `json`; `--json` implies json.
    #[arg(long, default_value = "dot")]
    pub(crate) format: String,
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
    if format == "json" {
        let nodes: Vec<_> = jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.id, "run": j.run, "key": j.key, "elf": j.elf, "task": j.task,
                    "state": j.state, "attempt": j.attempt, "ran_sha": j.ran_sha, "parent": j.parent,
                })
            })
            .collect();
        let edges: Vec<_> =
            edges.iter().map(|e| json!({ "from": e.producer, "to": e.consumer, "paths": e.paths })).collect();
        return write_json(out, &json!({ "run": run.id, "nodes": nodes, "edges": edges }));
    }
    writeln!(out, "digraph \"run {}\" {{", run.id)?;
    writeln!(out, "  label=\"run {} {}: {}\";", run.id, escape(&run.name), run.state)?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, style=filled, fontname=\"monospace\"];")?;
    for j in &jobs {
        writeln!(out, "  {}", node(j, j.run != run.id))?;
    }
    let params = parameters(store, &jobs);
    for e in &edges {
        let consumer = params.get(&e.consumer).map(Vec::as_slice);
        let labels: Vec<String> = e.paths.iter().map(|p| describe_path(p, consumer)).collect();
        writeln!(out, "  j{} -> j{} [label=\"{}\"];", e.producer, e.consumer, escape(&labels.join(", ")))?;
    }
    // A flow's children hang off the flow, dashed: started by its commands.
    for j in &jobs {
        if let Some(parent) = j.parent {
            writeln!(out, "  j{parent} -> j{} [style=dashed, arrowhead=empty, label=\"started\"];", j.id)?;
        }
    }
    writeln!(out, "}}")?;
    Ok(())
}

/// The dot line of a job node; jobs of another run are dashed.
fn node(j: &Job, outside: bool) -> String {
    let label = format!("{} {}/{}\\n{}", j.id, escape(&j.elf), escape(&j.task), j.state);
    let style = if outside { "\"filled,dashed\"" } else { "filled" };
    format!("j{} [label=\"{label}\", fillcolor=\"{}\", style={style}];", j.id, color(j.state))
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
