//! `mycelium coordinator`.

use std::time::Duration;

use clap::Args as ClapArgs;

use super::{Context, Result};
use crate::coordinator::{Options, serve};

/// Arguments of `mycelium coordinator`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// How often to reap expired leases and renew leadership, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub(crate) tick_ms: u64,
    /// Also listen for remote elves' doorbells on this TCP address (e.g. 0.0.0.0:7474).
    #[arg(long)]
    pub(crate) doorbell_tcp: Option<String>,
    /// The token remote doorbell peers must present (env MYCELIUM_DOORBELL_TOKEN).
    #[arg(long, env = "MYCELIUM_DOORBELL_TOKEN", default_value = "", hide_env_values = true)]
    pub(crate) doorbell_token: String,
    /// Delete finished runs this long after they end (`7d`, `12h`), with
    /// their jobs, results and events, checking every 10 minutes; kept
    /// forever when left out.
    #[arg(long, value_name = "AGE")]
    pub(crate) retain: Option<String>,
    /// How often to audit (and repair) the graphs of unfinished runs, in
    /// milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub(crate) audit_ms: u64,
    /// The most jobs the leader holds in its in-memory graphs, in all runs
    /// (about 75 bytes each); a run that would go over is scheduled without
    /// the coordinator's rank updates.
    #[arg(long, env = "MYCELIUM_GRAPH_MAX_JOBS", default_value_t = crate::coordinator::DEFAULT_GRAPH_MAX_JOBS)]
    pub(crate) graph_max_jobs: u64,
}

/// Runs the coordinator until SIGINT or SIGTERM.
pub(crate) fn run(store: &str, args: Args) -> Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    let retain = match &args.retain {
        Some(age) => {
            let ms = super::render::parse_duration(age).context("--retain")?;
            Some(Duration::from_millis(u64::try_from(ms).context("--retain: a negative age")?))
        }
        None => None,
    };
    let options = Options {
        retain,
        tick: Duration::from_millis(args.tick_ms.max(10)),
        audit_every: Duration::from_millis(args.audit_ms.max(10)),
        graph_max_jobs: args.graph_max_jobs,
        doorbell_tcp: args.doorbell_tcp,
        doorbell_token: args.doorbell_token,
        ..Options::default()
    };
    let store = crate::storage::Store::open(store)?;
    // The signal handlers are installed before the coordinator says it is
    // ready (a SIGTERM right after "ready" must stop it cleanly).
    runtime.block_on(async { serve(store, &options, crate::elf::stop_signal()).await })?;
    Ok(())
}
