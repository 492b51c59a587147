//! The storage conformance suite, stamped out for ArangoDB twice:
//!
//! * `stand_in`: against the strict ArangoDB stand-in of `tests/arango/`
//!   (node, standard library only), always, in `cargo test --workspace`. It
//!   parses and checks every query the backend sends and enforces locks,
//!   conflicts, cursors in small batches, schemas and unique indexes as a
//!   real server does (see `tests/arango/README.md`).
//! * `real`: against a real server, when `MYCELIUM_ARANGO_URL` names one,
//!   e.g. `MYCELIUM_ARANGO_URL=arangodb://root:pw@localhost:8529`. Each of
//!   its tests is `#[ignore]`d, so that without a server they show as
//!   ignored, never as passed; run them with `-- --ignored` (the live check,
//!   `scripts/arango-live-check.sh`, does). With `--ignored` but without the
//!   variable they fail, naming it.
//!
//! Every case gets a database of its own, dropped when the case ends.

use std::io::Write;

use mycelium::storage::arango::{Config, drop_database};

/// The variable naming the real server under test.
pub(crate) const URL_ENV: &str = "MYCELIUM_ARANGO_URL";

/// The stand-in's root password in these tests.
pub(crate) const PASSWORD: &str = "stand-in-secret";

/// A database of its own for one case, dropped with the guard.
pub(crate) struct Scratch {
    config: Config,
}

impl Scratch {
    /// A fresh database `<prefix>_<random>` on the server `base` names:
    /// its store URL (with credentials, for child processes) and the guard.
    pub(crate) fn on(base: &str, prefix: &str) -> (String, Scratch) {
        let base = Config::parse(base).unwrap_or_else(|e| panic!("not an ArangoDB URL: {e}"));
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let config = base.with_database(&name).unwrap_or_else(|e| panic!("{e}"));
        (config.to_url(), Scratch { config })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&self.config) {
            let _ = writeln!(std::io::stderr(), "could not drop test database `{}`: {e}", self.config.database);
        }
    }
}

/// The options of the stand-in each case gets (see `tests/arango/server.js`).
pub(crate) const STAND_IN_OPTIONS: &[&str] = &[
    "--quiet",
    // The deprecated PUT /_api/cursor/{id} is removed in ArangoDB 4.0.
    "--put-cursor",
    "refuse",
    // Every result of more than 50 rows comes in several batches.
    "--max-batch-size",
    "50",
    // A writer SIGKILLed inside a transaction holds the writer lock until the
    // server expires the transaction (C11); docker-compose.yml, the live check
    // and CI set arangod's --transaction.streaming-idle-timeout as low.
    "--idle-timeout-ms",
    "2000",
];

/// The suite against the strict stand-in: one server per case (a node
/// process, started in half a second), so that cases running in parallel
/// never share its single thread.
pub(crate) mod stand_in {
    use crate::arango_standin::StandIn;
    use crate::util::MYCELIUM;

    /// A store URL on a fresh stand-in, and the server (stopped when dropped).
    pub(crate) fn fresh() -> (String, StandIn) {
        let server = StandIn::start(super::PASSWORD, super::STAND_IN_OPTIONS)
            .unwrap_or_else(|e| panic!("cannot start the ArangoDB stand-in: {e}"));
        (format!("{}/?database=conformance", server.credentials_url()), server)
    }

    mycelium::conformance_suite!(
        #[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
        crate::conformance_arango::stand_in::fresh(),
        MYCELIUM
    );
}

/// The suite against a real server (`MYCELIUM_ARANGO_URL`).
pub(crate) mod real {
    use super::{Scratch, URL_ENV};
    use crate::util::MYCELIUM;

    /// The real server's URL; a test run with `--ignored` without it fails.
    pub(crate) fn server_url() -> String {
        match std::env::var(URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!(
                "{URL_ENV} is not set: these tests need a real ArangoDB 3.11 or 3.12 server, e.g. \
                 {URL_ENV}=arangodb://root:<password>@localhost:8529 (scripts/arango-live-check.sh starts one \
                 with docker)"
            ),
        }
    }

    /// A fresh database on the real server.
    pub(crate) fn fresh() -> (String, Scratch) {
        Scratch::on(&server_url(), "mycelium_test")
    }

    mycelium::conformance_suite!(
        #[ignore = "needs MYCELIUM_ARANGO_URL: a real ArangoDB server (scripts/arango-live-check.sh)"]
        crate::conformance_arango::real::fresh(),
        MYCELIUM
    );
}
