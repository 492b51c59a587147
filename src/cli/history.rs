//! `mycelium history <run|job>`: the event log of a run or a job.

use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::Value;

use super::lookup;
use super::render::{Table, age, first_line, write_json};
use super::{Context, Result};
use crate::model::now_ms;
use crate::storage::{EventQuery, Store};

/// Events read per page.
const PAGE: u32 = 1000;

/// Arguments of `mycelium history`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// `r12` for run 12, `j34` for job 34; a bare number is a run.
    pub(crate) target: String,
}

/// A one-line summary of an event's data: `key=value` pairs.
fn summary(data: &Value) -> String {
    let text = match data {
        Value::Null => String::new(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    first_line(&text, 80)
}

/// Prints the event log.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let mut query = EventQuery { limit: PAGE, ..EventQuery::default() };
    let what = if args.target.trim().starts_with('j') {
        let job = lookup::job(store, &args.target)?;
        query.job = Some(job.id);
        format!("job {} ({}/{}, run {})", job.id, job.elf, job.task, job.run)
    } else {
        let run = lookup::run(store, &args.target)?;
        query.run = Some(run.id);
        format!("run {} \"{}\"", run.id, run.name)
    };
    let mut events = Vec::new();
    loop {
        let page = store.events(&query).context("read the event log")?;
        let Some(last) = page.last() else { break };
        query.after = last.seq;
        let full = page.len() == PAGE as usize;
        events.extend(page);
        if !full {
            break;
        }
    }
    if json {
        return write_json(out, &events);
    }
    writeln!(out, "history of {what}: {} events", events.len())?;
    let now = now_ms();
    let mut table = Table::new(&["seq", "time", "kind", "job", "state", "data"]);
    for e in &events {
        table.row(vec![
            e.seq.to_string(),
            age(now, e.at),
            e.kind.as_str().to_owned(),
            e.job.map_or("-".to_owned(), |j| j.to_string()),
            e.state.map_or("-".to_owned(), |s| s.as_str().to_owned()),
            summary(&e.data),
        ]);
    }
    table.write(out)?;
    Ok(())
}
