//! The mycelium on ArangoDB (3.11 or 3.12), shared by processes on many
//! machines: the narrow seam of [`crate::storage`] over AQL and Stream
//! Transactions, with no server-side JavaScript.
//!
//! One database holds the collections `tasks`, `task_names`, `elves`,
//! `runs`, `jobs`, `deps` (an edge collection, producer -> consumer, in the
//! named graph `jobgraph`), `results`, `failures`, `events`, `leaders`,
//! `tokens`, flows' `flow_steps` and `flow_signals`, the agents' `catalog`
//! and `meta`, each validated by the JSON Schema `schemas/` holds for it.
//!
//! * **Reads** are AQL queries, their cursors read to the end by this
//!   module (`db`); a read of several queries runs in one read-only Stream
//!   Transaction, so it sees one snapshot.
//! * **Writes** run in a Stream Transaction that holds `meta` exclusively:
//!   one writer at a time, like SQLite's writer gate (`backend`). The
//!   lifecycle's writes are buffered and sent as one AQL query before the
//!   next read and before the commit (`write`).
//! * **Ids and `seq`** come from `meta/counters`, moved forward under that
//!   lock, so event `seq` numbers follow commit order.
//! * **Time** is the server's (`clock`): leases are measured on one clock
//!   whatever the clients' clocks say.
//! * **Payloads** are stored as JSON text (`docs`), so integers of any
//!   size survive.
//! * **Every query text** is a constant of `aql`, listed for the test
//!   that runs the strict stand-in's checker over all of them.
//!
//! URLs: `arangodb://user:password@host:8529/database` (`?tls=true` for
//! HTTPS) or `http(s)://host:8529/?database=name`; see [`Config`].

mod agents;
mod aql;
mod backend;
mod clock;
mod config;
mod db;
mod docs;
mod errors;
mod flows;
mod retention;
mod schema;
mod setup;
mod transport;
mod view;
mod write;

pub use config::{
    Config, Credentials, DEFAULT_DATABASE, DEFAULT_USER, PASSWORD_ENV, PASSWORD_FILE_ENV, Secret, USER_ENV,
};

use super::Result;
use super::registry::{OpenMode, Registration};
use super::seam::Backend;

pub(crate) const REGISTRATION: Registration = Registration {
    schemes: &["arangodb", "http", "https"],
    example: "arangodb://user:password@host:8529/database",
    open,
    check: |url| Config::parse(url).map(drop),
};

fn open(url: &str, mode: OpenMode) -> Result<Box<dyn Backend>> {
    let config = Config::parse(url)?;
    Ok(Box::new(backend::ArangoBackend::open(&config, mode)?))
}

/// Drops the database `config` names (tests and benchmarks make one per
/// case); one that does not exist is not an error.
pub fn drop_database(config: &Config) -> Result<()> {
    setup::drop_database(config)
}

/// Every AQL query the backend can send, as (name, text, bind parameter
/// names): for tests that check them all against the stand-in's checker.
pub fn queries() -> &'static [(&'static str, &'static str, &'static [&'static str])] {
    aql::ALL
}

/// The collections of the mycelium and, for edge collections, the
/// collections their edges join: what the checker needs to know.
pub fn collections() -> Vec<(&'static str, bool)> {
    schema::COLLECTIONS.iter().map(|c| (c.name, c.edge)).collect()
}

/// The claim's query (for the live check's EXPLAIN) and the name of the
/// index it must use with no sort step.
pub fn claim_query() -> (&'static str, &'static str) {
    (aql::CLAIMABLE, "jobs_claim")
}

/// The timer scan's query (flows' due timers, for the live check's EXPLAIN),
/// the name of the index it must use with no sort step, and the bound that
/// keeps jobs that do not wait out of its range (its `@earliest`).
pub fn timer_query() -> (&'static str, &'static str, i64) {
    (aql::DUE, "jobs_waiting", flows::EARLIEST)
}
