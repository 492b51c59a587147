//! `mycelium runs`: the orchestrations, most recent first.

use std::io::Write;

use clap::Args as ClapArgs;

use super::render::{Table, age, span, write_json};
use super::{Context, Result};
use crate::model::{RunState, now_ms};
use crate::storage::{RunQuery, Store};

/// Arguments of `mycelium runs`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Only runs in this state: running, succeeded, failed or cancelled.
    #[arg(long)]
    pub(crate) state: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: u32,
}

/// Lists runs.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let state: Option<RunState> = args.state.as_deref().map(str::parse).transpose().map_err(super::Error::Message)?;
    let runs = store.runs(&RunQuery { state, limit: Some(args.limit) }).context("read the runs")?;
    if json {
        return write_json(out, &runs);
    }
    if runs.is_empty() {
        let which = state.map_or(String::new(), |s| format!(" {s}"));
        writeln!(out, "no{which} runs (a driver creates one when it submits an orchestration)")?;
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&["id", "name", "state", "jobs", "open", "failed", "created", "duration"]);
    for r in &runs {
        table.row(vec![
            r.id.to_string(),
            r.name.clone(),
            r.status().to_owned(),
            r.total.to_string(),
            r.open.to_string(),
            r.failed.to_string(),
            age(now, r.created_at),
            span(now, Some(r.created_at), r.finished_at),
        ]);
    }
    table.write(out)?;
    Ok(())
}
