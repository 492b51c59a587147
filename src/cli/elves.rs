//! `mycelium elves`: the elf instances the mycelium knows.

use std::io::Write;

use clap::Args as ClapArgs;

use super::render::{Table, age, write_json};
use super::{Context, Result};
use crate::model::{ElfState, now_ms};
use crate::storage::Store;

/// Arguments of `mycelium elves`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Only instances in this state: running, stopped or lost.
    #[arg(long)]
    pub(crate) state: Option<String>,
}

/// Lists elf instances, most recently started first.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let state: Option<ElfState> = args.state.as_deref().map(str::parse).transpose().map_err(super::Error::Message)?;
    let mut elves = store.elves().context("read the elf instances")?;
    elves.retain(|e| state.is_none_or(|s| e.state == s));
    if json {
        return write_json(out, &elves);
    }
    if elves.is_empty() {
        writeln!(out, "no elf instances (an elf registers when it starts)")?;
        return Ok(());
    }
    let now = now_ms();
    let mut table =
        Table::new(&["elf", "instance", "launched as", "host", "pid", "state", "slots", "heartbeat", "tasks"]);
    for e in &elves {
        table.row(vec![
            e.elf.clone(),
            e.instance.0.chars().take(8).collect(),
            e.label.clone().unwrap_or_else(|| "-".to_owned()),
            e.host.clone(),
            e.pid.to_string(),
            e.state.as_str().to_owned(),
            e.slots.to_string(),
            age(now, e.heartbeat_at),
            e.tasks.len().to_string(),
        ]);
    }
    table.write(out)?;
    Ok(())
}
