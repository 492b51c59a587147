//! `mycelium serve`: the JSON HTTP API over the store, the event stream, the
//! elf protocol over HTTP, inbound webhooks, Prometheus metrics and the
//! dashboard, from one process.
//!
//! # Layout
//!
//! * `server`: options, the router and the listener.
//! * `db`: the one door to the store (every call goes through it).
//! * `api/`: the endpoints, one file per resource, and the table that
//!   builds both the router and the OpenAPI document (`openapi`).
//! * `auth`: bearer tokens and scopes; `token`: the CLI's token commands.
//! * `sse`: the event log as server-sent events, resumable from a cursor.
//! * `hooks`: inbound webhooks mapped to actions by a JSON file.
//! * `metrics`: `/metrics` in the Prometheus text format.
//! * `graph`: the layered layout of a run's graph, summarised when large.
//! * `assets`: the dashboard's files, embedded in the binary.

mod api;
mod assets;
mod auth;
pub(crate) mod cli;
mod db;
mod error;
mod graph;
mod hooks;
mod metrics;
mod openapi;
mod server;
mod sse;
mod token;

pub use openapi::document as openapi_document;

/// Reads the webhooks file at `path` as `mycelium serve --hooks` would, with
/// `env` (then this process's environment) for the secrets it names: what
/// `mycelium launch --check` says of a `[serve]` table's `hooks`.
pub(crate) fn check_hooks(
    path: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    hooks::Hooks::check(path, |k| env.get(k).cloned().or_else(|| std::env::var(k).ok())).map(|_| ())
}
pub use server::{Options, serve};
