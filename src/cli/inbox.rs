//! `mycelium inbox <flow> [name] [--follow]`: the lines a flow wrote.

use std::io::Write;
use std::time::Duration;

use clap::Args as ClapArgs;

use super::render::write_json;
use super::{Context, Result};
use crate::storage::Store;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(100);

/// Arguments of `mycelium inbox`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The flow: a job (`j34`), `r12`, or the run's idempotency key.
    pub(crate) flow: String,
    /// Only this inbox (`stdout`); every inbox when left out.
    pub(crate) name: Option<String>,
    /// Print new lines as they come, until the flow ends.
    #[arg(long)]
    pub(crate) follow: bool,
}

/// Prints a flow's inbox lines.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let job = super::flow::target(store, &args.flow)?;
    let mut from = 0u32;
    loop {
        let lines = store.inbox(job.id, args.name.as_deref(), from).context("read the flow's inbox")?;
        for l in &lines {
            if json {
                write_json(out, l)?;
            } else if args.name.is_some() {
                writeln!(out, "{}", l.line)?;
            } else {
                writeln!(out, "{}: {}", l.inbox, l.line)?;
            }
            from = l.step + 1;
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        let state = store.job(job.id).context("read the flow")?.map(|j| j.state);
        if state.is_none_or(|s| s.is_final()) {
            // One last look: lines committed with the flow's end.
            let rest = store.inbox(job.id, args.name.as_deref(), from).context("read the flow's inbox")?;
            for l in &rest {
                if json {
                    write_json(out, l)?;
                } else if args.name.is_some() {
                    writeln!(out, "{}", l.line)?;
                } else {
                    writeln!(out, "{}: {}", l.inbox, l.line)?;
                }
            }
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}
