//! `mycelium failures`: failed attempts, listed or grouped by signature.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args as ClapArgs;
use serde::Serialize;

use super::error::bail;
use super::lookup::{self, TaskRef};
use super::render::{Table, age, first_line, parse_duration, write_json};
use super::{Context, Result};
use crate::model::{Failure, FailureId, FailureKind, Millis, now_ms};
use crate::storage::{FailureQuery, Store};

/// Arguments of `mycelium failures`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Only of this run.
    #[arg(long)]
    pub(crate) run: Option<String>,
    /// Only of this task, `elf/task`.
    #[arg(long)]
    pub(crate) task: Option<String>,
    /// Only of this elf.
    #[arg(long)]
    pub(crate) elf: Option<String>,
    /// Only of this kind: error, panic, timeout, lease_expired, elf_lost, bad_input, upstream_failed.
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// Only this recent: 30m, 1h, 2d, ...
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Group equal failures (same signature) with a count.
    #[arg(long)]
    pub(crate) group: bool,
    /// At most this many failures (listing only; grouping reads them all).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
}

/// Equal failures, by signature.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Group {
    /// The signature they share.
    pub(crate) signature: String,
    /// How many.
    pub(crate) count: u64,
    /// The elf.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// Their kinds.
    pub(crate) kinds: Vec<FailureKind>,
    /// When the first failed.
    pub(crate) first_seen: Millis,
    /// When the last failed.
    pub(crate) last_seen: Millis,
    /// The most recent one.
    pub(crate) example: FailureId,
    /// Its message.
    pub(crate) message: String,
}

/// The query the arguments describe.
fn query(store: &Store, args: &Args) -> Result<FailureQuery> {
    let mut q = FailureQuery::default();
    if let Some(run) = &args.run {
        q.run = Some(lookup::run(store, run)?.id);
    }
    if let Some(task) = &args.task {
        let t = TaskRef::parse(task)?;
        if t.sha.is_some() {
            bail!("--task takes elf/task without a version, not `{task}`");
        }
        if args.elf.as_ref().is_some_and(|e| *e != t.elf) {
            bail!("--task `{task}` and --elf `{}` name different elves", args.elf.as_deref().unwrap_or(""));
        }
        q.elf = Some(t.elf);
        q.task = Some(t.task);
    } else {
        q.elf = args.elf.clone();
    }
    q.kind = args.kind.as_deref().map(str::parse).transpose().map_err(super::Error::Message)?;
    if let Some(since) = &args.since {
        q.since = Some(now_ms() - parse_duration(since)?);
    }
    if !args.group {
        q.limit = Some(args.limit);
    }
    Ok(q)
}

/// Lists or groups failures.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let q = query(store, &args)?;
    let failures = store.failures(&q).context("read the failures")?;
    let now = now_ms();
    if args.group {
        let groups = group(&failures);
        if json {
            return write_json(out, &groups);
        }
        if groups.is_empty() {
            writeln!(out, "no failures")?;
            return Ok(());
        }
        let mut table = Table::new(&["count", "task", "kinds", "first", "last", "example", "signature", "message"]);
        for g in &groups {
            let kinds: Vec<_> = g.kinds.iter().map(|k| k.as_str()).collect();
            table.row(vec![
                g.count.to_string(),
                format!("{}/{}", g.elf, g.task),
                kinds.join(","),
                age(now, g.first_seen),
                age(now, g.last_seen),
                g.example.to_string(),
                g.signature.clone(),
                first_line(&g.message, 60),
            ]);
        }
        table.write(out)?;
        return Ok(());
    }
    if json {
        return write_json(out, &failures);
    }
    if failures.is_empty() {
        writeln!(out, "no failures")?;
        return Ok(());
    }
    let mut table = Table::new(&["id", "job", "task", "kind", "attempt", "age", "message"]);
    for f in &failures {
        table.row(vec![
            f.id.to_string(),
            f.job.to_string(),
            format!("{}/{}", f.elf, f.task),
            f.report.kind.as_str().to_owned(),
            f.attempt.to_string(),
            age(now, f.at),
            first_line(&f.report.message, 72),
        ]);
    }
    table.write(out)?;
    if failures.len() == args.limit as usize {
        writeln!(out, "(the {} most recent; --limit shows more)", args.limit)?;
    }
    Ok(())
}

/// Groups `failures` (most recent first) by signature, largest group first.
pub(crate) fn group(failures: &[Failure]) -> Vec<Group> {
    let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
    for f in failures {
        let g = groups.entry(&f.signature).or_insert_with(|| Group {
            signature: f.signature.clone(),
            count: 0,
            elf: f.elf.clone(),
            task: f.task.clone(),
            kinds: Vec::new(),
            first_seen: f.at,
            last_seen: f.at,
            example: f.id,
            message: f.report.message.clone(),
        });
        g.count += 1;
        g.first_seen = g.first_seen.min(f.at);
        if f.at > g.last_seen {
            g.last_seen = f.at;
            g.example = f.id;
            g.message = f.report.message.clone();
        }
        if !g.kinds.contains(&f.report.kind) {
            g.kinds.push(f.report.kind);
        }
    }
    let mut groups: Vec<_> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)));
    groups
}
