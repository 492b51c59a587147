//! `mycelium signal <flow> <name> [--data JSON]`: sends a signal to a flow.

use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::Value;

use super::render::write_json;
use super::{Context, Result};
use crate::storage::Store;

/// Arguments of `mycelium signal`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The flow: a job (`j34`), a run whose only open top-level job is the
    /// flow (`r12`), or the run's idempotency key.
    pub(crate) flow: String,
    /// The signal's name, as the flow awaits it (`approve`).
    pub(crate) name: String,
    /// The payload, as JSON (default `null`).
    #[arg(long, default_value = "null")]
    pub(crate) data: String,
}

/// Sends a signal.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let payload: Value = serde_json::from_str(&args.data).with_context(|| {
        format!("--data `{}` is not JSON (quote it for the shell, e.g. --data '{{\"by\": \"ana\"}}')", args.data)
    })?;
    let job = super::flow::target(store, &args.flow)?;
    let sent = store
        .signal(job.id, &args.name, &payload)
        .with_context(|| format!("send signal `{}` to flow job {}", args.name, job.id))?;
    if let Some(endpoint) = crate::doorbell::Endpoint::for_store(store) {
        crate::doorbell::ring(&endpoint, &sent.readied);
    }
    if json {
        return write_json(out, &sent);
    }
    let what =
        if sent.woke { "it was waiting for it and is ready again" } else { "it is kept until the flow waits for it" };
    writeln!(
        out,
        "sent signal `{}` ({}) to flow job {} ({}/{}): {what}",
        args.name, sent.signal, job.id, job.elf, job.task
    )?;
    Ok(())
}
