//! The command line of every elf binary: `run` (the default), `tasks`,
//! `replay <job>`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::runner::{self, Done};
use super::service::{Elf, Options, serve};
use crate::model::{Claimed, JobId, Lease};
use crate::storage;

#[derive(Debug, Parser)]
#[command(about = "A mycelium elf: serves its tasks from the store")]
struct Cli {
    /// The store (env MYCELIUM_URL).
    #[arg(long, global = true, env = "MYCELIUM_URL", hide_env_values = true, default_value = storage::DEFAULT_URL)]
    store: String,
    #[command(subcommand)]
    command: Option<Command>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 8)]
    slots: u32,
    /// Lease length in milliseconds (heartbeats every third of it).
    #[arg(long, default_value_t = 30_000)]
    lease_ttl_ms: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the tasks until SIGINT or SIGTERM (the default).
    Run,
    /// List the tasks this binary serves, with their versions.
    Tasks,
    /// Run a recorded job's task here, with its recorded inputs, and print the outcome.
    Replay {
        /// The job (as `mycelium failure` shows it).
        job: JobId,
    },
}

/// An elf binary's whole `main`: parses the command line and runs it.
pub fn main(elf: Elf) -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => {
                let options = Options {
                    store: cli.store,
                    slots: cli.slots.max(1),
                    lease_ttl: Duration::from_millis(cli.lease_ttl_ms.max(300)),
                    ..Options::default()
                };
                serve(&elf, &options, stop_signal()).await.map_err(anyhow::Error::from)
            }
            Command::Tasks => {
                for t in elf.tasks() {
                    println!("{}/{} {} {}:{}", elf.name(), t.info.name, t.info.sha().short(), t.info.file, t.info.line);
                }
                Ok(())
            }
            Command::Replay { job } => replay(&elf, &cli.store, job).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MYCELIUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs `job`'s task locally with its recorded inputs; writes nothing.
async fn replay(elf: &Elf, url: &str, job: JobId) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = storage::open(url).with_context(|| format!("open store `{url}`"))?;
    let j =
        store.job(job)?.with_context(|| format!("job {job} does not exist (list jobs with `mycelium run <run>`)"))?;
    if j.elf != elf.name() {
        anyhow::bail!("job {job} belongs to elf `{}`, not `{}`: replay it with that elf's binary", j.elf, elf.name());
    }
    let task =
        elf.find(&j.task).with_context(|| format!("this binary of elf `{}` has no task `{}`", elf.name(), j.task))?;
    let producers: Vec<JobId> =
        store.deps(j.run)?.into_iter().filter(|d| d.consumer == job).map(|d| d.producer).collect();
    let inputs: HashMap<JobId, serde_json::Value> = store.results(&producers)?.into_iter().collect();
    let sha = task.info.sha();
    if let Some(ran) = &j.ran_sha
        && *ran != sha
    {
        println!("note: the job ran version {}; this binary has version {}", ran.short(), sha.short());
    }
    let claimed = Claimed {
        lease: Lease { job, epoch: 0 },
        run: j.run,
        task: j.task.clone(),
        args: j.args.clone(),
        inputs: inputs.into_iter().collect(),
        attempt: j.attempt,
        max_attempts: j.retry.max_attempts,
        timeout_ms: j.timeout_ms,
        lease_until: 0,
    };
    super::panic::install_hook();
    println!("replaying job {job}: {}/{} version {}", j.elf, j.task, sha.short());
    match runner::run(task, &claimed, &sha).await {
        Done::Value(v) => {
            println!("succeeded: {}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        Done::Failed(report) => {
            println!("failed ({}): {}", report.kind, report.message);
            for c in &report.causes {
                println!("  caused by: {c}");
            }
            for f in report.frames.iter().filter(|f| f.of_interest) {
                println!("  at {} ({}:{})", f.function, f.file.as_deref().unwrap_or("?"), f.line.unwrap_or(0));
            }
            anyhow::bail!("the replayed job failed")
        }
    }
}
