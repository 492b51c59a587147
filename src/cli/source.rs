//! `mycelium source <elf>/<task>[@sha]`: the recorded source of a task
//! version, the list of versions, or the diff of two.

use std::io::Write;

use clap::Args as ClapArgs;

use super::Result;
use super::diff;
use super::error::bail;
use super::lookup::{self, TaskRef};
use super::render::{Table, age, write_json, write_source};
use crate::model::{TaskVersion, now_ms};
use crate::storage::Store;

/// Arguments of `mycelium source`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The task, `elf/task`, optionally `@sha-prefix` (the latest version without one).
    pub(crate) task: String,
    /// List every recorded version.
    #[arg(long, conflicts_with = "diff")]
    pub(crate) list: bool,
    /// Print the line diff of two versions (sha prefixes), A to B.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub(crate) diff: Option<Vec<String>>,
}

/// Shows task source.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let task = TaskRef::parse(&args.task)?;
    if args.list {
        return list(store, &task, out, json);
    }
    if let Some(pair) = &args.diff {
        let [a, b] = pair.as_slice() else {
            bail!("--diff takes two versions, A and B");
        };
        for sha in [a, b] {
            TaskRef::parse(&format!("{}@{sha}", task.name()))?;
        }
        let a = lookup::version(store, &task, Some(a))?;
        let b = lookup::version(store, &task, Some(b))?;
        if json {
            return write_json(out, &[a, b]);
        }
        let name = |v: &TaskVersion| format!("{}@{} ({}:{})", task.name(), v.sha.short(), v.file, v.line);
        let changed = diff::unified(out, (&name(&a), &a.source, a.line), (&name(&b), &b.source, b.line), 3)?;
        if !changed {
            writeln!(out, "(no difference)")?;
        }
        return Ok(());
    }
    let version = lookup::version(store, &task, None)?;
    if json {
        return write_json(out, &version);
    }
    writeln!(out, "{}  {}", task.name(), version.sha)?;
    writeln!(out, "{}:{}  first seen {}", version.file, version.line, age(now_ms(), version.first_seen))?;
    writeln!(out)?;
    write_source(out, &version.source, version.line, None)?;
    Ok(())
}

/// Lists the versions of a task, oldest first.
fn list(store: &Store, task: &TaskRef, out: &mut dyn Write, json: bool) -> Result<()> {
    let versions = lookup::versions(store, &task.elf, &task.task)?;
    if json {
        return write_json(out, &versions);
    }
    let now = now_ms();
    let latest = versions.last().map(|v| v.sha.clone());
    let mut table = Table::new(&["sha", "first seen", "file:line", ""]);
    for v in &versions {
        let mark = if Some(&v.sha) == latest.as_ref() { "latest" } else { "" };
        table.row(vec![
            v.sha.short().to_owned(),
            age(now, v.first_seen),
            format!("{}:{}", v.file, v.line),
            mark.to_owned(),
        ]);
    }
    table.write(out)?;
    Ok(())
}
