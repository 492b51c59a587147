//! `mycelium graph <run>`: the run's data-flow graph as Graphviz dot or JSON.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use serde_json::json;

use super::lookup;
use super::render::write_json;
use crate::model::{Job, JobState};
use crate::storage::{JobQuery, Store};

/// Arguments of `mycelium graph`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The run (`12` or `r12`).
    pub run: String,
    /// `dot` (Graphviz) or `json`; `--json` implies json.
    #[arg(long, default_value = "dot")]
    pub format: String,
}

/// The fill color of a job in `state`.
fn color(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "gray90",
        JobState::Ready => "lightblue",
        JobState::Claimed => "gold",
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
pub fn run(store: &dyn Store, args: Args, out: &mut dyn Write, json: bool) -> anyhow::Result<()> {
    let format = if json { "json" } else { args.format.as_str() };
    if format != "dot" && format != "json" {
        bail!("`{}` is not a graph format: expected dot or json", args.format);
    }
    let run = lookup::run(store, &args.run)?;
    let mut jobs = store.jobs(&JobQuery { run: Some(run.id), ..JobQuery::default() }).context("read the run's jobs")?;
    let edges = store.deps(run.id).context("read the run's edges")?;
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
                    "state": j.state, "attempt": j.attempt, "ran_sha": j.ran_sha,
                })
            })
            .collect();
        let edges: Vec<_> =
            edges.iter().map(|e| json!({ "from": e.producer, "to": e.consumer, "path": e.path })).collect();
        return write_json(out, &json!({ "run": run.id, "nodes": nodes, "edges": edges }));
    }
    writeln!(out, "digraph \"run {}\" {{", run.id)?;
    writeln!(out, "  label=\"run {} {}: {}\";", run.id, escape(&run.name), run.state)?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, style=filled, fontname=\"monospace\"];")?;
    for j in &jobs {
        writeln!(out, "  {}", node(j, j.run != run.id))?;
    }
    for e in &edges {
        let path = if e.path.is_empty() { "/" } else { e.path.as_str() };
        writeln!(out, "  j{} -> j{} [label=\"{}\"];", e.producer, e.consumer, escape(path))?;
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
