//! The `mycelium` command: coordinator, inspection and operations.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mycelium::Store;
use mycelium::cli::{self, exit};

/// mycelium: durable orchestration of machine elves.
#[derive(Debug, Parser)]
#[command(name = "mycelium", version, about, after_help = exit::HELP)]
struct Cli {
    /// The store (env MYCELIUM_URL).
    #[arg(long, global = true, env = "MYCELIUM_URL", hide_env_values = true, default_value = mycelium::storage::DEFAULT_URL)]
    store: String,
    /// Print JSON instead of human tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Elf instances: which are running, where, how busy.
    Elves(cli::elves::Args),
    /// Runs, most recent first.
    Runs(cli::runs::Args),
    /// One run: its jobs and edges; with --follow, its progress until it ends.
    Run(cli::run::Args),
    /// A run's graph, as Graphviz dot or JSON.
    Graph(cli::graph::Args),
    /// The recorded source of a task version; --list, --diff A B.
    Source(cli::source::Args),
    /// Failed attempts, listed or grouped by signature.
    Failures(cli::failures::Args),
    /// One failure: traceback beside the source that ran, inputs, attempts, lineage.
    Failure(cli::failure::Args),
    /// The event log of a run (r12, or 12) or a job (j34).
    History(cli::history::Args),
    /// Cancels a run's jobs that have not ended.
    Cancel(cli::ops::CancelArgs),
    /// Retries a failed job (not available yet).
    Retry(cli::ops::RetryArgs),
    /// Runs the coordinator until SIGINT or SIGTERM.
    Coordinator(cli::coordinator::Args),
    /// Runs a benchmark.
    Bench(cli::bench::Args),
    /// Store actions for the conformance suite's multi-process cases.
    #[command(hide = true)]
    Probe(cli::probe::Probe),
}

/// Runs an inspection or operation command against the store.
fn inspect(url: &str, command: Command, json: bool) -> anyhow::Result<()> {
    let store = mycelium::open(url)?;
    let store: &dyn Store = store.as_ref();
    let mut stdout = std::io::stdout().lock();
    let out: &mut dyn Write = &mut stdout;
    match command {
        Command::Elves(a) => cli::elves::run(store, a, out, json),
        Command::Runs(a) => cli::runs::run(store, a, out, json),
        Command::Run(a) => cli::run::run(store, a, out, json),
        Command::Graph(a) => cli::graph::run(store, a, out, json),
        Command::Source(a) => cli::source::run(store, a, out, json),
        Command::Failures(a) => cli::failures::run(store, a, out, json),
        Command::Failure(a) => cli::failure::run(store, a, out, json),
        Command::History(a) => cli::history::run(store, a, out, json),
        Command::Cancel(a) => cli::ops::cancel(store, a, out, json),
        Command::Retry(a) => cli::ops::retry(store, a, out, json),
        Command::Coordinator(_) | Command::Bench(_) | Command::Probe(_) => Ok(()),
    }?;
    out.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Coordinator(a) => cli::coordinator::run(&cli.store, a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Probe(p) => cli::probe::run(&cli.store, p),
        command => inspect(&cli.store, command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::code_of(&e))
        }
    }
}
