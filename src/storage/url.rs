//! Choosing and opening a backend by URL.

use std::path::PathBuf;
use std::sync::Arc;

use super::arango::{self, ArangoStore};
use super::sqlite::{Options, SqliteStore, Synchronous};
use super::{Error, Limits, Result, Store};

/// The store used when none is named: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://mycelium.db";

/// A parsed store URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `sqlite://path` (relative to the working directory) or
    /// `sqlite:///absolute/path`, with optional `?synchronous=full` and
    /// `?max_payload=<bytes>`.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Commit durability.
        synchronous: Synchronous,
        /// Largest arguments or result, in bytes.
        max_payload: usize,
    },
    /// `arangodb://user:password@host:8529/database`, or `http(s)://host:port`
    /// with `?database=`; see [`arango::Config`].
    Arango(arango::Config),
}

impl StoreUrl {
    /// Parses `url`, naming what is wrong when it cannot be used.
    pub fn parse(url: &str) -> Result<Self> {
        // Never echo a password, whatever the scheme.
        let bad = |problem: &str| Error::BadUrl { url: arango::redact_url(url), problem: problem.to_owned() };
        let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("it has no scheme"))?;
        match scheme {
            "sqlite" => {
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
                if path.is_empty() {
                    return Err(bad("it names no file"));
                }
                let mut synchronous = Synchronous::Normal;
                let mut max_payload = Limits::default().max_payload;
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                            synchronous = Synchronous::Normal
                        }
                        Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => synchronous = Synchronous::Full,
                        Some(("max_payload", v)) => {
                            max_payload =
                                v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                                    bad(&format!("max_payload `{v}` is not a positive number of bytes"))
                                })?;
                        }
                        _ => {
                            return Err(bad(&format!(
                                "unknown option `{pair}` (known: synchronous=normal|full, max_payload=<bytes>)"
                            )));
                        }
                    }
                }
                Ok(StoreUrl::Sqlite { path: PathBuf::from(path), synchronous, max_payload })
            }
            "arangodb" | "http" | "https" => Ok(StoreUrl::Arango(arango::Config::parse(url)?)),
            other => Err(bad(&format!("unknown scheme `{other}`"))),
        }
    }
}

/// Opens the store `url` names, creating it when it is a new SQLite file.
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    match StoreUrl::parse(url)? {
        StoreUrl::Sqlite { path, synchronous, max_payload } => {
            let options = Options { synchronous, limits: Limits { max_payload } };
            Ok(Arc::new(SqliteStore::open(path, options)?))
        }
        StoreUrl::Arango(config) => Ok(Arc::new(ArangoStore::open(config)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_parse_with_options() {
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/a.db?synchronous=full&max_payload=10").expect("valid"),
            StoreUrl::Sqlite { path: "/tmp/a.db".into(), synchronous: Synchronous::Full, max_payload: 10 }
        );
        assert_eq!(
            StoreUrl::parse("sqlite://rel/a.db").expect("valid"),
            StoreUrl::Sqlite { path: "rel/a.db".into(), synchronous: Synchronous::Normal, max_payload: 16 << 20 }
        );
    }

    #[test]
    fn arango_urls_parse_and_never_show_the_password() {
        match StoreUrl::parse("arangodb://root:hunter2@arangodb:8529/mycelium").expect("valid") {
            StoreUrl::Arango(c) => {
                assert_eq!((c.endpoint.as_str(), c.database.as_str()), ("http://arangodb:8529/", "mycelium"));
                assert!(!format!("{c:?}").contains("hunter2"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(StoreUrl::parse("https://h/?database=x"), Ok(StoreUrl::Arango(_))));
        let err = StoreUrl::parse("ftp://u:hunter2@h/x").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("ftp://u:***@h/x"), "{err}");
    }

    #[test]
    fn bad_urls_name_the_problem() {
        for (url, needle) in [
            ("nope", "no scheme"),
            ("ftp://x", "unknown scheme `ftp`"),
            ("sqlite://", "names no file"),
            ("sqlite://a.db?x=1", "unknown option `x=1`"),
            ("sqlite://a.db?max_payload=-1", "max_payload `-1`"),
        ] {
            let err = StoreUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains(url), "{url}: {err}");
        }
    }
}
