//! `mycelium run <id>`: one run, its jobs and edges; or, with `--follow`,
//! its progress until it ends.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::json;

use super::lookup;
use super::render::{Table, age, short_sha, span, write_json};
use super::{Context, Result};
use crate::model::{JobState, Run, RunState, now_ms};
use crate::storage::{JobQuery, Store};

/// How often `--follow` looks at the run.
const POLL: Duration = Duration::from_millis(200);

/// Arguments of `mycelium run`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The run (`12` or `r12`).
    pub(crate) run: String,
    /// Print progress until the run ends; exit 4 if it ends failed or cancelled.
    #[arg(long)]
    pub(crate) follow: bool,
}

/// Shows a run, or follows it.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let run = lookup::run(store, &args.run)?;
    if args.follow {
        return follow(store, run, out, json);
    }
    let jobs = store.jobs(&JobQuery { run: Some(run.id), ..JobQuery::default() }).context("read the run's jobs")?;
    let edges = crate::storage::Edge::pairs(&store.deps(run.id).context("read the run's edges")?);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for j in &jobs {
        *counts.entry(j.state.as_str()).or_default() += 1;
    }
    let unserved = if run.state.is_final() { Vec::new() } else { store.unserved(run.id).context("read the elves")? };
    if json {
        return write_json(
            out,
            &json!({ "run": run, "counts": counts, "jobs": jobs, "edges": edges, "unserved": unserved }),
        );
    }
    let now = now_ms();
    writeln!(out, "run {} \"{}\": {}", run.id, run.name, run.status())?;
    if run.status() == "open" {
        writeln!(
            out,
            "  open      not sealed: its driver may still add jobs (a driver that died leaves it so; \
             `mycelium cancel {}` ends it)",
            run.id
        )?;
    }
    let by = &run.created_by;
    writeln!(out, "  created   {} by {} pid {} ({})", age(now, run.created_at), by.host, by.pid, by.program)?;
    writeln!(out, "  duration  {}", span(now, Some(run.created_at), run.finished_at))?;
    if !run.labels.is_empty() {
        let labels: Vec<_> = run.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "  labels    {}", labels.join(" "))?;
    }
    let per_state: Vec<_> =
        JobState::ALL.iter().filter_map(|s| counts.get(s.as_str()).map(|n| format!("{n} {s}"))).collect();
    writeln!(out, "  jobs      {}: {}", jobs.len(), per_state.join(", "))?;
    writeln!(out)?;
    // Flows' children show the flow that started them.
    let parents = jobs.iter().any(|j| j.parent.is_some());
    let mut header = vec!["id", "key", "task", "state", "attempt", "ran", "duration"];
    if parents {
        header.push("parent");
    }
    let mut table = Table::new(&header);
    for j in &jobs {
        let mut row = vec![
            j.id.to_string(),
            j.key.clone().unwrap_or_else(|| "-".to_owned()),
            format!("{}/{}", j.elf, j.task),
            j.state.as_str().to_owned(),
            format!("{}/{}", j.attempt, j.max_attempts),
            short_sha(j.ran_sha.as_ref()),
            span(now, j.started_at, j.finished_at),
        ];
        if parents {
            row.push(j.parent.map_or_else(|| "-".to_owned(), |p| p.to_string()));
        }
        table.row(row);
    }
    table.write(out)?;
    if !edges.is_empty() {
        writeln!(out)?;
        let mut table = Table::new(&["producer", "", "consumer", "feeds"]);
        for e in &edges {
            let feeds: Vec<String> = e.paths.iter().map(|p| super::graph::describe_path(p, None)).collect();
            table.row(vec![e.producer.to_string(), "->".to_owned(), e.consumer.to_string(), feeds.join(", ")]);
        }
        table.write(out)?;
    }
    if run.failed > 0 {
        writeln!(out, "\nfailures: mycelium failures --run {}", run.id)?;
    }
    for u in &unserved {
        writeln!(out, "\nwaiting: {}", u.advice())?;
    }
    Ok(())
}

/// The progress line of `run`.
fn progress(run: &Run) -> String {
    let succeeded = run.total.saturating_sub(run.open + run.failed);
    format!("run {}: {succeeded}/{} succeeded, {} failed, {} open", run.id, run.total, run.failed, run.open)
}

/// Prints progress until the run is final.
fn follow(store: &Store, mut run: Run, out: &mut dyn Write, json: bool) -> Result<()> {
    let mut last = String::new();
    loop {
        let line = progress(&run);
        if line != last {
            if json {
                let value = json!({
                    "run": run.id, "state": run.state, "total": run.total,
                    "succeeded": run.total.saturating_sub(run.open + run.failed),
                    "failed": run.failed, "open": run.open,
                });
                writeln!(out, "{value}")?;
            } else {
                let pad = last.chars().count().saturating_sub(line.chars().count());
                write!(out, "\r{line}{}", " ".repeat(pad))?;
            }
            out.flush()?;
            last = line;
        }
        if run.state.is_final() {
            break;
        }
        std::thread::sleep(POLL);
        let id = run.id;
        run = store
            .run(id)
            .with_context(|| format!("read run {id}"))?
            .ok_or_else(|| super::Error::not_found(format!("run {id} disappeared from the store")))?;
    }
    if !json {
        let took = span(now_ms(), Some(run.created_at), run.finished_at);
        writeln!(out, "\nrun {} {} after {took}", run.id, run.state)?;
    }
    match run.state {
        RunState::Failed | RunState::Cancelled => Err(super::Error::run_failed(format!(
            "run {} ended {} (see `mycelium failures --run {}`)",
            run.id, run.state, run.id
        ))),
        _ => Ok(()),
    }
}
