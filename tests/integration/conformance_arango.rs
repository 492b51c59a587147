//! The storage conformance suite, stamped out for ArangoDB.
//!
//! It runs when `MYCELIUM_ARANGO_URL` names a server, e.g.
//! `MYCELIUM_ARANGO_URL=arangodb://root:pw@localhost:8529` (credentials may
//! also come from `MYCELIUM_ARANGO_USER` / `MYCELIUM_ARANGO_PASSWORD`, which
//! keeps them off the probes' command lines). Every case gets a database of
//! its own, created on first use and dropped when the case ends.
//!
//! Without the variable, `arango_conformance_suite` writes one loud line
//! straight to stderr (past the test harness's capture) and every case
//! returns at once: no server can be installed on the development machines
//! or in CI, and a build script that left the cases out altogether would
//! add a build step to every build of the crate.
//!
//! `stand_in` runs the same suite, always, against a stand-in server (node
//! and `src/storage/arango/fake_server.js`): it checks the store's side of
//! the protocol end to end, not ArangoDB itself.

use std::io::Write;

use mycelium::storage::arango::{Config, drop_database};

use crate::util::MYCELIUM;

/// The variable naming the server under test.
const URL_ENV: &str = "MYCELIUM_ARANGO_URL";

/// A database of its own for one case, dropped with the guard.
pub(crate) struct FreshDatabase {
    config: Config,
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(e) = drop_database(&self.config) {
            let _ = writeln!(std::io::stderr(), "could not drop test database `{}`: {e}", self.config.database);
        }
    }
}

/// A fresh database on the server under test, or `None` without one.
pub(crate) fn fresh() -> Option<(String, FreshDatabase)> {
    let url = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty())?;
    let base = Config::parse(&url).unwrap_or_else(|e| panic!("{URL_ENV} is not an ArangoDB URL: {e}"));
    let name = format!("mycelium_test_{}", uuid::Uuid::new_v4().simple());
    let config = base.with_database(&name).unwrap_or_else(|e| panic!("{e}"));
    Some((config.to_url(), FreshDatabase { config }))
}

mycelium::conformance_suite!(
    match crate::conformance_arango::fresh() {
        Some(fresh) => fresh,
        None => return,
    },
    MYCELIUM
);

#[test]
fn arango_conformance_suite() {
    if !std::env::var(URL_ENV).is_ok_and(|u| !u.trim().is_empty()) {
        let _ = writeln!(
            std::io::stderr(),
            "\n=== ArangoDB conformance suite SKIPPED: {URL_ENV} is not set (start one with `docker compose up arangodb`, \
             then MYCELIUM_ARANGO_URL=arangodb://root:$ARANGO_ROOT_PASSWORD@localhost:8529) ===\n"
        );
    }
}

/// The same suite against a stand-in server (`src/storage/arango/fake_server.js`,
/// run by node): an in-memory imitation of the HTTP API that runs the
/// store's JavaScript transactions for real and mirrors its AQL queries. It
/// is not ArangoDB; it checks the store's side (HTTP client, token renewal,
/// request and answer shapes, decoding, the lifecycle end to end) on every
/// machine, where no server can be installed.
mod stand_in {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Mutex, OnceLock};

    use mycelium::storage::arango::Config;

    use crate::util::MYCELIUM;

    const PASSWORD: &str = "stand-in";

    /// The running stand-in (it exits when its stdin, held here, closes
    /// with the test binary) and its base URL.
    fn server() -> Option<&'static str> {
        static SERVER: OnceLock<Option<(Mutex<Child>, String)>> = OnceLock::new();
        SERVER
            .get_or_init(|| {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/storage/arango/fake_server.js");
                let mut child = match Command::new("node")
                    .arg(script)
                    .env("FAKE_ARANGO_PASSWORD", PASSWORD)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "\n=== ArangoDB stand-in suite SKIPPED: cannot run node ({e}) ===\n"
                        );
                        return None;
                    }
                };
                let stdout = child.stdout.take().expect("piped stdout");
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).expect("the stand-in's first line");
                let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("stand-in said {line:?}"));
                Some((Mutex::new(child), format!("http://root:{PASSWORD}@127.0.0.1:{port}")))
            })
            .as_ref()
            .map(|(_, url)| url.as_str())
    }

    /// A fresh database on the stand-in.
    pub(crate) fn fresh() -> Option<(String, ())> {
        let base = Config::parse(server()?).expect("the stand-in's URL");
        let name = format!("stand_in_{}", uuid::Uuid::new_v4().simple());
        Some((base.with_database(&name).expect("a database name").to_url(), ()))
    }

    mycelium::conformance_suite!(
        match crate::conformance_arango::stand_in::fresh() {
            Some(fresh) => fresh,
            None => return,
        },
        MYCELIUM
    );
}
