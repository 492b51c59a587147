//! `mycelium coordinator`.

use std::time::Duration;

use clap::Args as ClapArgs;

use crate::coordinator::{Options, serve};

/// Arguments of `mycelium coordinator`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// How often to reap expired leases and renew leadership, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub tick_ms: u64,
    /// Also listen for remote elves' doorbells on this TCP address (e.g. 0.0.0.0:7474).
    #[arg(long)]
    pub doorbell_tcp: Option<String>,
    /// The token remote doorbell peers must present (env MYCELIUM_DOORBELL_TOKEN).
    #[arg(long, env = "MYCELIUM_DOORBELL_TOKEN", default_value = "", hide_env_values = true)]
    pub doorbell_token: String,
}

/// Runs the coordinator until SIGINT or SIGTERM.
pub fn run(store: &str, args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let options =
        Options { store: store.to_owned(), tick: Duration::from_millis(args.tick_ms.max(10)), ..Options::default() };
    runtime.block_on(serve(&options, crate::elf::stop_signal()))?;
    Ok(())
}
