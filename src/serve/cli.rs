//! The command line of the server: `mycelium serve` and `mycelium token`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

use super::server::{Options, serve as run_server};
use super::token;
use crate::cli::Context as _;

/// Arguments of `mycelium serve`.
#[derive(Debug, ClapArgs)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub(crate) listen: SocketAddr,
    /// Let requests from loopback addresses in without a token (with the
    /// operator scope). Behind a proxy on the same machine every request
    /// comes from loopback: do not use it there.
    #[arg(long)]
    pub(crate) allow_loopback_without_token: bool,
    /// A JSON file mapping webhooks (`POST /hooks/<name>`) to actions.
    #[arg(long, value_name = "FILE")]
    pub(crate) hooks: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = Options::default().max_body)]
    pub(crate) max_body_bytes: usize,
}

/// Runs the server until SIGINT or SIGTERM.
pub(crate) fn serve(store: &str, args: ServeArgs) -> crate::cli::Result<()> {
    crate::elf::cli::init_tracing(&std::env::var("MYCELIUM_LOG").unwrap_or_else(|_| "warn".into()), "mycelium-serve");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    let store = crate::storage::Store::open(store)?;
    let options = Options {
        listen: args.listen,
        allow_loopback_without_token: args.allow_loopback_without_token,
        hooks: args.hooks,
        max_body: args.max_body_bytes,
        ..Options::default()
    };
    let served = runtime.block_on(run_server(store, options, crate::elf::stop_signal()));
    crate::elf::cli::finish_tracing();
    served.map_err(crate::cli::Error::other)
}

/// Arguments of `mycelium token`.
#[derive(Debug, ClapArgs)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Creates a token and prints its secret (shown once; only its sha256 is stored).
    Create {
        /// `read` (everything GET) or `operator` (also submit, cancel, retry, start and
        /// signal flows, emit, operate queues and schedules, serve jobs).
        #[arg(long)]
        scope: String,
        /// A name to list and revoke it by.
        #[arg(long)]
        name: String,
    },
    /// Lists tokens (never their secrets).
    List,
    /// Revokes a token: it stops working at once.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Creates, lists or revokes API tokens.
pub(crate) fn token(
    store: &crate::storage::Store,
    args: TokenArgs,
    out: &mut dyn Write,
    json: bool,
) -> crate::cli::Result<()> {
    match args.command {
        TokenCommand::Create { scope, name } => token::create(store, &scope, &name, out, json),
        TokenCommand::List => token::list(store, out, json),
        TokenCommand::Revoke { name } => token::revoke(store, &name, out, json),
    }
}
