//! The `mycelium` command line: its arguments and the dispatch to each
//! subcommand.

use std::io::Write;
use std::process::ExitCode;

use crate::Store;
use crate::cli::{self, exit};
use clap::{Parser, Subcommand};

/// mycelium: durable orchestration of machine elves.
#[derive(Debug, Parser)]
#[command(name = "mycelium", version, about, after_help = exit::HELP)]
struct Cli {
    /// The store (env MYCELIUM_URL).
    #[arg(long, global = true, env = "MYCELIUM_URL", hide_env_values = true, default_value = crate::storage::DEFAULT_URL)]
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
    /// Cancels a run's jobs that have not ended (or one job: j34).
    Cancel(cli::ops::CancelArgs),
    /// Retries failed jobs (j34) or a run's failed jobs (r12), and what could not run because of them (a flow resumes from its history).
    Retry(cli::ops::RetryArgs),
    /// Signals with their receivers; --schema prints one's JSON Schema.
    Signals(cli::signals::Args),
    /// Emits a signal: one job per subscribed receiver.
    Emit(cli::signals::EmitArgs),
    /// Calls the receivers of a signal and prints their answers (RPC).
    Call(cli::signals::CallArgs),
    /// Queues: ls, show, dead, requeue, purge, send, publish.
    Queue(cli::queue::Args),
    /// Schedules with their next fire times; pause, resume, trigger, add, rm.
    Schedules(cli::schedules::Args),
    /// Starts a task or flow as a run of one job, with JSON arguments.
    Start(cli::start::Args),
    /// A flow's history: its commands, what they saw, what it waits for.
    Flow(cli::flow::Args),
    /// Sends a signal to a flow.
    Signal(cli::signal::Args),
    /// The lines a flow wrote to its inboxes; --follow until it ends.
    Inbox(cli::inbox::Args),
    /// Deletes finished runs older than an age (--older-than 7d) with their
    /// jobs, results and events, and gives the space back.
    Gc(cli::gc::Args),
    /// Runs the coordinator until SIGINT or SIGTERM.
    Coordinator(cli::coordinator::Args),
    /// Runs a benchmark.
    Bench(cli::bench::Args),
    /// Starts and supervises the processes of a manifest (default mycelium.toml).
    Launch(crate::launch::Args),
    /// How `launch` starts each process (tied to the launcher's life).
    #[command(hide = true)]
    LaunchExec(crate::launch::exec::Args),
    /// Serves the HTTP API, event stream, webhooks, metrics and dashboard.
    Serve(crate::serve::cli::ServeArgs),
    /// API tokens of `serve`: create, list, revoke.
    Token(crate::serve::cli::TokenArgs),
    /// Store actions for the conformance suite's multi-process cases.
    #[command(hide = true)]
    Probe(cli::probe::Probe),
}

/// Runs an inspection or operation command against the store.
fn inspect(url: &str, command: Command, json: bool) -> cli::Result<()> {
    // Only looks (or operates on what exists): a mistyped path must not
    // create an empty store.
    let store = Store::open_existing(url)?;
    let store = &store;
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
        Command::Signals(a) => cli::signals::list(store, a, out, json),
        Command::Emit(a) => cli::signals::emit(store, a, out, json),
        Command::Call(a) => cli::signals::call(store, a, out, json),
        Command::Queue(a) => cli::queue::run(store, a, out, json),
        Command::Schedules(a) => cli::schedules::run(store, a, out, json),
        Command::Start(a) => cli::start::run(store, a, out, json),
        Command::Flow(a) => cli::flow::run(store, a, out, json),
        Command::Signal(a) => cli::signal::run(store, a, out, json),
        Command::Inbox(a) => cli::inbox::run(store, a, out, json),
        Command::Gc(a) => cli::gc::run(store, a, out, json),
        Command::Token(a) => crate::serve::cli::token(store, a, out, json),
        Command::Coordinator(_)
        | Command::Bench(_)
        | Command::Probe(_)
        | Command::Serve(_)
        | Command::Launch(_)
        | Command::LaunchExec(_) => Ok(()),
    }?;
    out.flush()?;
    Ok(())
}

/// Parses the command line, runs the command, and maps its outcome to the
/// process exit code.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` end well; a wrong command line is a
            // usage error, whose message clap writes.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    let result = match cli.command {
        Command::Coordinator(a) => cli::coordinator::run(&cli.store, a),
        Command::Bench(a) => cli::bench::run(&cli.store, a),
        Command::Probe(p) => cli::probe::run(&cli.store, p),
        Command::Launch(a) => crate::launch::run(a),
        Command::LaunchExec(a) => return crate::launch::exec::run(a),
        Command::Serve(a) => crate::serve::cli::serve(&cli.store, a),
        command => inspect(&cli.store, command, cli.json),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            let code = e.code();
            // A closed pipe (`mycelium runs | head`) is no failure to report.
            if code != exit::OK {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}
