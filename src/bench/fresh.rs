//! A fresh, empty store for each benchmark run, of the kind `--store` names:
//! a SQLite file in a temp dir for the embedded store (whatever path the URL
//! gives), a database of its own on the server for ArangoDB (named after the
//! URL's, dropped when the run ends).

use std::path::{Path, PathBuf};

use crate::storage::{self, Error, Result};

/// When set, an embedded store is kept after its run (for looking into
/// what the run wrote), and where is printed.
const KEEP: &str = "MYCELIUM_BENCH_KEEP";

/// A store that exists for one run; removed when dropped (unless
/// `MYCELIUM_BENCH_KEEP` is set).
#[derive(Debug)]
pub(crate) struct FreshStore {
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite(PathBuf),
    #[cfg(feature = "arangodb")]
    Arango(Box<storage::arango::Config>),
}

impl FreshStore {
    /// A fresh store of the kind `store` names (run `run` of a benchmark).
    pub(crate) fn new(store: &str, run: u32) -> Result<FreshStore> {
        let scheme = store.split_once(':').map_or(store, |(s, _)| s);
        match scheme {
            "sqlite" => {
                let dir = std::env::temp_dir().join(format!("mycelium-bench-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::Unwritable { path: dir.clone(), detail: e.to_string() })?;
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                Ok(FreshStore { url, kind: Kind::Sqlite(dir) })
            }
            #[cfg(feature = "arangodb")]
            "arangodb" | "http" | "https" => {
                let base = storage::arango::Config::parse(store)?;
                let name = format!("{}_bench_{run}_{}", base.database, &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let config = base.with_database(&name)?;
                Ok(FreshStore { url: config.to_url(), kind: Kind::Arango(Box::new(config)) })
            }
            _ => Err(storage::Error::BadUrl {
                url: storage::redact(store),
                problem: format!(
                    "`mycelium bench` runs on a fresh sqlite:// store, or on a fresh database of an ArangoDB server, \
                     not on a `{scheme}:` store"
                ),
            }),
        }
    }

    /// Its URL (with credentials: for the processes of the run; never print
    /// it, print [`FreshStore::shown`]).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Its URL without credentials.
    pub(crate) fn shown(&self) -> String {
        storage::redact(&self.url)
    }

    /// Its scheme (`sqlite`, `arangodb`).
    pub(crate) fn scheme(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite(_) => "sqlite",
            #[cfg(feature = "arangodb")]
            Kind::Arango(_) => "arangodb",
        }
    }

    /// The bytes an embedded store's files take on disk (the database, its
    /// write-ahead log and shared memory); None on a server.
    pub(crate) fn bytes_on_disk(&self) -> Option<u64> {
        let dir = self.dir()?;
        let files = std::fs::read_dir(dir).ok()?;
        Some(files.filter_map(|f| f.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
    }

    /// The temp dir of an embedded store.
    pub(crate) fn dir(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Sqlite(dir) => Some(dir),
            #[cfg(feature = "arangodb")]
            Kind::Arango(_) => None,
        }
    }
}

impl Drop for FreshStore {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Sqlite(dir) if std::env::var_os(KEEP).is_some() => {
                eprintln!("kept the benchmark's store in {} ({KEEP} is set)", dir.display());
            }
            Kind::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            #[cfg(feature = "arangodb")]
            Kind::Arango(config) => {
                if let Err(e) = storage::arango::drop_database(config) {
                    tracing::warn!("could not drop benchmark database `{}`: {e}", config.database);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_runs_get_a_temp_file_that_goes_away() {
        let fresh = FreshStore::new("sqlite://ignored.db", 1).expect("fresh");
        let dir = fresh.dir().expect("a dir").to_owned();
        assert!(fresh.url().starts_with("sqlite://") && fresh.url().ends_with("bench.db"), "{}", fresh.url());
        assert!(dir.exists());
        assert_eq!(fresh.bytes_on_disk(), Some(0), "nothing written yet");
        std::fs::write(dir.join("bench.db"), [0u8; 4096]).expect("write");
        assert_eq!(fresh.bytes_on_disk(), Some(4096));
        drop(fresh);
        assert!(!dir.exists());
    }

    #[test]
    fn other_stores_are_refused_by_name() {
        let err = FreshStore::new("memory://x", 1).expect_err("memory").to_string();
        assert!(err.contains("`memory:`"), "{err}");
    }

    #[cfg(feature = "arangodb")]
    #[test]
    fn arangodb_runs_get_a_database_of_their_own() {
        let fresh = FreshStore::new("arangodb://root:pw@db.example:8529/mycelium", 2).expect("fresh");
        let config = storage::arango::Config::parse(fresh.url()).expect("a URL");
        assert!(config.database.starts_with("mycelium_bench_2_"), "{}", config.database);
        assert!(!fresh.shown().contains("pw"), "{}", fresh.shown());
        // Dropping it talks to a server that does not exist: a warning, no panic.
        std::mem::forget(fresh);
    }
}
