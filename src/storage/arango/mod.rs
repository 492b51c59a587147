//! The mycelium on ArangoDB, shared by processes on many machines.
//!
//! One database holds the collections `tasks`, `task_names`, `elves`,
//! `runs`, `jobs`, `deps` (an edge collection, producer -> consumer, in the
//! named graph `jobgraph`), `results`, `failures`, `events`, `leaders` and
//! `meta`, each validated by the JSON Schema `schemas/` holds for it.
//!
//! * **Atomicity.** Every write is one server-side operation: the claim and
//!   the id reservation are single AQL queries; every other write is one
//!   JavaScript transaction (see `actions.rs` for why).
//! * **One writer at a time.** Each write locks the `meta` collection
//!   exclusively (the counters live there). On a single server and in a
//!   OneShard database this serialises writers like SQLite's writer gate:
//!   event `seq` numbers follow commit order, write skew cannot happen, and
//!   writers queue instead of failing with write-write conflicts (which are
//!   still retried with jittered backoff, as are lock timeouts).
//! * **Ids.** Jobs, runs, failures and events get integers from the
//!   `meta/counters` document, incremented under that lock (documents are
//!   keyed by them).
//! * **Clocks.** Leases and timestamps come from the server's clock.
//! * **Payloads** are stored as JSON text, so integers of any size survive.

mod actions;
mod aql;
mod client;
mod config;
mod docs;
mod errors;
mod lifecycle;
mod open;
mod read;
mod schema;
mod store;
mod submit;

pub use config::{
    Config, Credentials, DEFAULT_DATABASE, DEFAULT_USER, PASSWORD_ENV, PASSWORD_FILE_ENV, Secret, USER_ENV, redact_url,
};
pub use open::{ArangoStore, drop_database};
