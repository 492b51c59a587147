//! The `mycelium` command: coordinator, inspection and operations.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mycelium: durable orchestration of machine elves.
#[derive(Debug, Parser)]
#[command(name = "mycelium", version, about)]
struct Cli {
    /// The store (env MYCELIUM_URL).
    #[arg(long, global = true, env = "MYCELIUM_URL", default_value = mycelium::storage::DEFAULT_URL)]
    store: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the coordinator: reaps expired leases, checkpoints, audits run graphs.
    Coordinator(mycelium::cli::coordinator::Args),
    /// Store actions for the conformance suite's multi-process cases.
    #[command(hide = true)]
    Probe(mycelium::cli::probe::Probe),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Coordinator(a) => mycelium::cli::coordinator::run(&cli.store, a),
        Command::Probe(p) => mycelium::cli::probe::run(&cli.store, p),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
