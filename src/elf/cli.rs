//! The command line of every elf binary: `run` (the default), `tasks`,
//! `replay <job>`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::FalseyValueParser;
use clap::{Parser, Subcommand};

use super::runner::{self, Done};
use super::service::{Elf, Options, serve};
use crate::model::{Claimed, JobId, Lease};
use crate::storage;

/// What `--help` says about the settings that have no flag.
const ENV_HELP: &str = "\
Every flag falls back to the environment variable named beside it. Settings
only the environment gives:
  MYCELIUM_DOORBELL        host:port of the coordinator's TCP doorbell (without
                           it: the unix socket beside an SQLite store)
  MYCELIUM_DOORBELL_TOKEN  the token that doorbell asks for
  MYCELIUM_ARANGO_USER, MYCELIUM_ARANGO_PASSWORD, MYCELIUM_ARANGO_PASSWORD_FILE
                           ArangoDB credentials the --store URL leaves out";

#[derive(Debug, Parser)]
#[command(about = "A mycelium elf: serves its tasks from the store", after_help = ENV_HELP)]
struct Cli {
    /// The store's URL.
    #[arg(long, global = true, env = "MYCELIUM_URL", hide_env_values = true, default_value = storage::DEFAULT_URL)]
    store: String,
    #[command(subcommand)]
    command: Option<Command>,
    /// Jobs run at once.
    #[arg(long, env = "MYCELIUM_SLOTS", default_value_t = 8)]
    slots: u32,
    /// Lease length in milliseconds (heartbeats every third of it); the
    /// store's default when left out (10 s on the embedded store).
    #[arg(long, env = "MYCELIUM_LEASE_TTL_MS")]
    lease_ttl_ms: Option<u64>,
    /// How often an idle elf looks for work when nothing woke it, in
    /// milliseconds; the store's default when left out (10 ms on the
    /// embedded store, 1-2 s on a remote one).
    #[arg(long, env = "MYCELIUM_POLL_MS")]
    poll_ms: Option<u64>,
    /// How long a stopping elf lets running jobs finish before it releases
    /// them to other elves, in milliseconds.
    #[arg(long, env = "MYCELIUM_GRACE_MS", default_value_t = 10_000)]
    grace_ms: u64,
    /// What to log to stderr: a default level and `target=level` pairs
    /// (`info`, `warn,mycelium=debug`).
    #[arg(long, global = true, env = "MYCELIUM_LOG", default_value = "warn")]
    log: String,
    /// Also print every caught panic to stderr, as Rust's default hook does
    /// (the failure record has it either way).
    #[arg(long, global = true, env = "MYCELIUM_PANIC_STDERR", value_parser = FalseyValueParser::new())]
    panic_stderr: bool,
    /// Read the debug information for tracebacks at the first failure, not
    /// in the background at start: saves the memory it takes (tens of MB)
    /// in an elf that never fails, and costs that first failure the time
    /// to read it (about half a second).
    #[arg(long, global = true, env = "MYCELIUM_LAZY_SYMBOLS", value_parser = FalseyValueParser::new())]
    lazy_symbols: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the tasks until SIGINT or SIGTERM (the default).
    Run,
    /// List the tasks this binary serves, with their versions.
    Tasks,
    /// Record this elf's task and flow versions and declarations
    /// (receivers' subscriptions, queues, schedules) in the store without
    /// serving: a deploy step, after which emissions are kept for its
    /// receivers.
    Register,
    /// Run a recorded job's task here, with its recorded inputs, and print the
    /// outcome; for a flow, replay its history (writing nothing) and say where
    /// it ends and how long the replay took.
    Replay {
        /// The job (as `mycelium failure` shows it).
        job: JobId,
        /// Print the flow replay's figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// An elf binary's whole `main`: parses the command line and runs it.
pub fn main(elf: Elf) -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, elf.name());
    super::panic::echo_to_stderr(cli.panic_stderr);
    if cli.lazy_symbols {
        super::frames::skip_warm_up();
    }
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
                super::frames::warm_up(elf.tasks());
                let options = Options {
                    slots: cli.slots.max(1),
                    lease_ttl: cli.lease_ttl_ms.map(|ms| Duration::from_millis(ms.max(300))),
                    poll: cli.poll_ms.map(|ms| Duration::from_millis(ms.max(1))),
                    grace: Duration::from_millis(cli.grace_ms),
                    ..Options::default()
                };
                let store = storage::Store::open(&cli.store)?;
                serve(&elf, store, &options, stop_signal()).await.map_err(anyhow::Error::from)
            }
            Command::Tasks => {
                for t in elf.tasks() {
                    println!("{}/{} {} {}:{}", elf.name(), t.info.name, t.info.sha().short(), t.info.file, t.info.line);
                }
                for f in elf.flows() {
                    let i = f.info;
                    println!("{}/{} {} {}:{} (flow)", elf.name(), i.name, i.sha().short(), i.file, i.line);
                }
                Ok(())
            }
            Command::Replay { job, json } => {
                super::frames::warm_up(elf.tasks());
                replay(&elf, &cli.store, job, json).await
            }
            Command::Register => register(&elf, &cli.store),
        }
    });
    finish_tracing();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr what `filter` lets through (`warn` when it does not
/// parse). The filter is a list of `target=level` and a default `level`
/// (`tracing_subscriber`'s `Targets`, which needs no regex engine). Built
/// with the `otel` feature and given an OTLP endpoint, it also exports the
/// info-level spans (one per job, with its run and job ids) with
/// OpenTelemetry, as `service`, whatever the log filter.
pub(crate) fn init_tracing(filter: &str, service: &str) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: Targets = filter.parse().unwrap_or_else(|e| {
        eprintln!("warning: --log `{filter}` is not a log filter ({e}); logging warnings only");
        Targets::new().with_default(LevelFilter::WARN)
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(targets);
    let registry = tracing_subscriber::registry().with(fmt);
    #[cfg(feature = "otel")]
    let registry = registry
        .with(crate::otel::layer(service).map(|l| l.with_filter(Targets::new().with_default(LevelFilter::INFO))));
    #[cfg(not(feature = "otel"))]
    let _ = service;
    let _ = registry.try_init();
}

/// Sends the spans not exported yet (the `otel` feature), at exit.
pub(crate) fn finish_tracing() {
    #[cfg(feature = "otel")]
    crate::otel::shutdown();
}

/// Resolves on SIGINT or SIGTERM. Called inside a runtime, it takes the
/// signals over at once, not when first polled: a SIGTERM that comes just
/// after the elf says it is ready (as from a launcher stopping at once) is
/// then a request to drain, never the default death.
pub(crate) fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let eager = tokio::runtime::Handle::try_current()
        .ok()
        .and_then(|_| Some((signal(SignalKind::terminate()).ok()?, signal(SignalKind::interrupt()).ok()?)));
    async move {
        let (mut term, mut int) = match eager {
            Some(s) => s,
            None => match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(t), Ok(i)) => (t, i),
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            },
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

/// Records the elf's task versions and declarations without serving.
fn register(elf: &Elf, url: &str) -> anyhow::Result<()> {
    let store = storage::Store::open(url)?;
    let versions: Vec<_> =
        elf.tasks().iter().map(|t| t.info.version()).chain(elf.flows().iter().map(|f| f.version())).collect();
    let d = elf.declarations()?;
    store.record_tasks(&versions)?;
    store.declare(&d)?;
    let names = |v: Vec<String>| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
    println!(
        "registered elf {}: {} task and flow version(s); receives {}; consumes {}; schedules {}",
        elf.name(),
        versions.len(),
        names(d.subscriptions.iter().map(|s| format!("{} ({})", s.signal, s.task)).collect()),
        names(d.queues.iter().map(|q| q.name.clone()).collect()),
        names(d.schedules.iter().map(|s| format!("{} ({})", s.name, s.spec.describe())).collect()),
    );
    Ok(())
}

/// Runs `job`'s task locally with its recorded inputs; writes nothing. A
/// flow replays its history.
async fn replay(elf: &Elf, url: &str, job: JobId, json: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let store = storage::Store::open_existing(url).with_context(|| format!("open store `{url}`"))?;
    let j =
        store.job(job)?.with_context(|| format!("job {job} does not exist (list jobs with `mycelium run <run>`)"))?;
    if j.elf != elf.name() {
        anyhow::bail!("job {job} belongs to elf `{}`, not `{}`: replay it with that elf's binary", j.elf, elf.name());
    }
    if let Some(def) = elf.flows().iter().find(|f| f.info.name == j.task) {
        super::panic::install_hook();
        let r = crate::flow::replay::replay(def, &store, &j).await?;
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "replayed flow job {job} ({}) with version {}: {} command(s) against a history of {}, {} new",
                r.flow,
                def.info.sha().short(),
                r.commands,
                r.history,
                r.new
            );
            println!("it {} (read {:.2} ms, replay {:.2} ms)", r.ending, r.read_ms, r.replay_ms);
        }
        return Ok(());
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
    let cx = crate::agent::Context::replay(job, j.run, j.attempt);
    match runner::run(task, &claimed, &sha, cx).await {
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
        Done::Flow(_) => anyhow::bail!("job {job} is a flow, not a task"),
    }
}
