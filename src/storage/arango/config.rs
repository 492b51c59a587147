//! The ArangoDB store URL and credentials.
//!
//! Accepted forms:
//!
//! * `arangodb://user:password@host:8529/database` (plain HTTP; add
//!   `?tls=true` for HTTPS);
//! * `http://user:password@host:8529/?database=db` and `https://...`.
//!
//! Credentials left out of the URL come from `MYCELIUM_ARANGO_USER` and
//! `MYCELIUM_ARANGO_PASSWORD`, or the password from the file named by
//! `MYCELIUM_ARANGO_PASSWORD_FILE` (a Docker or Kubernetes secret). A
//! password is never printed: [`Config`]'s `Debug`, [`Config::redacted`] and
//! every error show `***` in its place.

use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::storage::{Error, Limits, Result};

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "mycelium";
/// The user when neither the URL nor the environment names one.
pub const DEFAULT_USER: &str = "root";
/// Environment variable naming the user.
pub const USER_ENV: &str = "MYCELIUM_ARANGO_USER";
/// Environment variable holding the password.
pub const PASSWORD_ENV: &str = "MYCELIUM_ARANGO_PASSWORD";
/// Environment variable naming a file that holds the password.
pub const PASSWORD_FILE_ENV: &str = "MYCELIUM_ARANGO_PASSWORD_FILE";

const DEFAULT_PORT: u16 = 8529;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the server keeps one request waiting for the writer lock by
/// default; never more than a third of the request timeout (see
/// [`Config::lock_timeout`]).
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// A password: compared and cloned, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the places that send it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where an ArangoDB mycelium lives and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The server's base URL (`http(s)://host:port/`), without credentials.
    pub endpoint: Url,
    /// The database holding the mycelium (created on first use).
    pub database: String,
    /// The user, when the URL names one.
    pub user: Option<String>,
    /// The password, when the URL holds one.
    pub password: Option<Secret>,
    /// Largest arguments or result, in bytes.
    pub max_payload: usize,
    /// Longest a request may take, connecting included.
    pub timeout: Duration,
    /// Longest connecting may take.
    pub connect_timeout: Duration,
    /// How long the server keeps one request to begin a write waiting for
    /// the writer lock (the `lockTimeout` of its Stream Transaction); the
    /// client asks again after error 18, with backoff, for as long as it
    /// retries anything. Always strictly below `timeout`, so that the server
    /// gives up waiting before the client gives up on the answer; and short,
    /// because a begin whose client died while it waited is granted the lock
    /// all the same, and holds it until the server expires the transaction.
    pub lock_timeout: Duration,
    /// Pretend this machine's clock is off by this many milliseconds: a test
    /// aid (conformance case C13). It changes nothing a client does, since
    /// leases and timers are measured on the server's clock.
    pub clock_skew_ms: i64,
    /// Create the database as a OneShard database (`sharding: "single"`), so
    /// that a cluster runs every query on one leader with single-server
    /// guarantees. Ignored by a single server.
    pub one_shard: bool,
    /// Whether the URL was written `arangodb://` (for [`Config::redacted`]).
    arangodb_scheme: bool,
}

/// The user and password to log in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// The password (empty when none was given anywhere).
    pub password: Secret,
}

impl Config {
    /// Parses an `arangodb://`, `http://` or `https://` store URL.
    pub fn parse(url: &str) -> Result<Self> {
        let shown = crate::storage::redact(url);
        let bad = |problem: String| Error::BadUrl { url: shown.clone(), problem };
        let parsed = Url::parse(url).map_err(|e| bad(format!("it cannot be parsed: {e}")))?;
        let arangodb_scheme = parsed.scheme() == "arangodb";
        if !matches!(parsed.scheme(), "arangodb" | "http" | "https") {
            return Err(bad(format!("`{}` is not an ArangoDB scheme", parsed.scheme())));
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("it names no host".into()))?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
        let user = match parsed.username() {
            "" => None,
            u => Some(decode(u).map_err(|_| bad("the user name is not valid UTF-8".into()))?),
        };
        let password = match parsed.password() {
            None => None,
            Some(p) => Some(Secret(decode(p).map_err(|_| bad("the password is not valid UTF-8".into()))?)),
        };
        let path = parsed.path().trim_matches('/');
        let mut database = None;
        if arangodb_scheme {
            if path.contains('/') {
                return Err(bad(format!("`{path}` is not a database name (arangodb://host:8529/<database>)")));
            }
            if !path.is_empty() {
                database = Some(decode(path).map_err(|_| bad("the database name is not valid UTF-8".into()))?);
            }
        } else if !path.is_empty() {
            return Err(bad(format!(
                "it has the path `/{path}`; name the database with ?database=<name> (a path prefix is not supported)"
            )));
        }
        let mut tls = parsed.scheme() == "https";
        let mut config = Config {
            endpoint: Url::parse("http://localhost/").map_err(|e| bad(e.to_string()))?,
            database: String::new(),
            user,
            password,
            max_payload: Limits::default().max_payload,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            clock_skew_ms: 0,
            one_shard: false,
            arangodb_scheme,
        };
        let mut lock_timeout = None;
        for (key, value) in parsed.query_pairs() {
            let millis = |v: &str| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| bad(format!("{key} `{v}` is not a positive number of milliseconds")))
            };
            let flag = |v: &str| match v {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(bad(format!("{key} `{v}` is not true or false"))),
            };
            match key.as_ref() {
                "database" if !arangodb_scheme => database = Some(value.into_owned()),
                "tls" if arangodb_scheme => tls = flag(&value)?,
                "max_payload" => {
                    config.max_payload = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("max_payload `{value}` is not a positive number of bytes")))?;
                }
                "timeout_ms" => config.timeout = millis(&value)?,
                "connect_timeout_ms" => config.connect_timeout = millis(&value)?,
                "lock_timeout_ms" => lock_timeout = Some(millis(&value)?),
                "clock_skew_ms" => {
                    config.clock_skew_ms =
                        value.parse::<i64>().ok().filter(|n| n.unsigned_abs() <= 366 * 24 * 3600 * 1000).ok_or_else(
                            || bad(format!("clock_skew_ms `{value}` is not a number of milliseconds within a year")),
                        )?;
                }
                "one_shard" => config.one_shard = flag(&value)?,
                _ => {
                    return Err(bad(format!(
                        "unknown option `{key}` (known: {}max_payload=<bytes>, timeout_ms=<ms>, \
                         connect_timeout_ms=<ms>, lock_timeout_ms=<ms>, one_shard=true|false, clock_skew_ms=<ms>)",
                        if arangodb_scheme { "tls=true|false, " } else { "database=<name>, " }
                    )));
                }
            }
        }
        match lock_timeout {
            Some(lock) if lock >= config.timeout => {
                return Err(bad(format!(
                    "lock_timeout_ms {} is not below timeout_ms {}: the server must give up waiting for a lock before \
                     the client gives up on its answer (lower lock_timeout_ms or raise timeout_ms)",
                    lock.as_millis(),
                    config.timeout.as_millis()
                )));
            }
            Some(lock) => config.lock_timeout = lock,
            None => config.lock_timeout = DEFAULT_LOCK_TIMEOUT.min(config.timeout / 3),
        }
        let database = database.unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        check_database_name(&database).map_err(bad)?;
        config.database = database;
        let port = parsed.port().unwrap_or(if arangodb_scheme || !tls { DEFAULT_PORT } else { 443 });
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
        let scheme = if tls { "https" } else { "http" };
        config.endpoint =
            Url::parse(&format!("{scheme}://{host}:{port}/")).map_err(|e| bad(format!("bad host `{host}`: {e}")))?;
        Ok(config)
    }

    /// The URL without the password, for messages and `Store::url`.
    pub fn redacted(&self) -> String {
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        let host = self.endpoint.host_str().unwrap_or("?");
        let port = self.endpoint.port_or_known_default().unwrap_or(DEFAULT_PORT);
        if self.arangodb_scheme {
            let tls = if self.endpoint.scheme() == "https" { "?tls=true" } else { "" };
            format!("arangodb://{user}{host}:{port}/{}{tls}", self.database)
        } else {
            format!("{}://{user}{host}:{port}/?database={}", self.endpoint.scheme(), self.database)
        }
    }

    /// The user and password: from the URL, else from the environment (as
    /// read by `env`), else the defaults (`root`, empty password).
    pub fn credentials(&self, env: impl Fn(&str) -> Option<String>) -> Result<Credentials> {
        let user = self.user.clone().or_else(|| env(USER_ENV)).unwrap_or_else(|| DEFAULT_USER.to_owned());
        let password = match (&self.password, env(PASSWORD_ENV), env(PASSWORD_FILE_ENV)) {
            (Some(p), _, _) => p.clone(),
            (None, Some(p), _) => Secret(p),
            (None, None, Some(file)) => {
                let text = std::fs::read_to_string(&file).map_err(|e| Error::BadUrl {
                    url: self.redacted(),
                    problem: format!("cannot read the password file `{file}` named by {PASSWORD_FILE_ENV}: {e}"),
                })?;
                Secret(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            (None, None, None) => Secret(String::new()),
        };
        Ok(Credentials { user, password })
    }

    /// The same configuration for another database (tests use one per case).
    pub fn with_database(&self, database: &str) -> Result<Self> {
        check_database_name(database).map_err(|problem| Error::BadUrl { url: self.redacted(), problem })?;
        Ok(Self { database: database.to_owned(), ..self.clone() })
    }

    /// The URL of this configuration, password included when it has one: for
    /// handing the same store to a child process. Never print it.
    pub fn to_url(&self) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let auth = match (&self.user, &self.password) {
            (Some(u), Some(p)) => format!("{}:{}@", enc(u), enc(p.expose())),
            (Some(u), None) => format!("{}@", enc(u)),
            (None, Some(p)) => format!("{}:{}@", enc(DEFAULT_USER), enc(p.expose())),
            (None, None) => String::new(),
        };
        let host = self.endpoint.host_str().unwrap_or("localhost");
        let port = self.endpoint.port_or_known_default().unwrap_or(DEFAULT_PORT);
        let mut options = vec![format!("database={}", self.database)];
        if self.max_payload != Limits::default().max_payload {
            options.push(format!("max_payload={}", self.max_payload));
        }
        if self.timeout != DEFAULT_TIMEOUT {
            options.push(format!("timeout_ms={}", self.timeout.as_millis()));
        }
        if self.connect_timeout != DEFAULT_CONNECT_TIMEOUT {
            options.push(format!("connect_timeout_ms={}", self.connect_timeout.as_millis()));
        }
        if self.lock_timeout != DEFAULT_LOCK_TIMEOUT.min(self.timeout / 3) {
            options.push(format!("lock_timeout_ms={}", self.lock_timeout.as_millis()));
        }
        if self.clock_skew_ms != 0 {
            options.push(format!("clock_skew_ms={}", self.clock_skew_ms));
        }
        if self.one_shard {
            options.push("one_shard=true".to_owned());
        }
        format!("{}://{auth}{host}:{port}/?{}", self.endpoint.scheme(), options.join("&"))
    }
}

/// ArangoDB's traditional database names: a letter, then up to 63 letters,
/// digits, `_` or `-`.
fn check_database_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a database name (a letter, then up to 63 letters, digits, `_` or `-`)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn arangodb_urls_parse() {
        let c = Config::parse("arangodb://alice:s%40cret@db.example:8530/orchard").expect("valid");
        assert_eq!(c.endpoint.as_str(), "http://db.example:8530/");
        assert_eq!(c.database, "orchard");
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.password, Some(Secret::new("s@cret")));
        let c = Config::parse("arangodb://arangodb?tls=true&timeout_ms=1500&one_shard=true").expect("valid");
        assert_eq!(c.endpoint.as_str(), "https://arangodb:8529/");
        assert_eq!((c.database.as_str(), c.timeout, c.one_shard), ("mycelium", Duration::from_millis(1500), true));
        assert_eq!((c.user, c.password), (None, None));
    }

    #[test]
    fn http_urls_parse() {
        let c = Config::parse("https://root:pw@10.0.0.7/?database=m1&max_payload=1024").expect("valid");
        assert_eq!(c.endpoint.as_str(), "https://10.0.0.7/", "the default port is implied");
        assert_eq!((c.database.as_str(), c.max_payload), ("m1", 1024));
        let c = Config::parse("http://[::1]:8529").expect("valid");
        assert_eq!(c.endpoint.as_str(), "http://[::1]:8529/");
        assert_eq!(c.database, DEFAULT_DATABASE);
    }

    #[test]
    fn bad_urls_name_the_problem_and_never_the_password() {
        for (url, needle) in [
            ("arangodb://u:hunter2@h/a/b", "not a database name"),
            ("arangodb://u:hunter2@h/9lives", "`9lives` is not a database name"),
            ("http://u:hunter2@h/db", "?database=<name>"),
            ("http://u:hunter2@h/?tls=true", "unknown option `tls`"),
            ("arangodb://u:hunter2@h/?database=x", "unknown option `database`"),
            ("arangodb://u:hunter2@h/?timeout_ms=0", "timeout_ms `0`"),
            ("arangodb://u:hunter2@h/?one_shard=maybe", "one_shard `maybe`"),
            ("arangodb://u:hunter2@/db", "host"),
            ("arangodb://u:hunter2@h/db?timeout_ms=2000&lock_timeout_ms=2000", "not below timeout_ms 2000"),
            ("arangodb://u:hunter2@h/db?clock_skew_ms=soon", "clock_skew_ms `soon`"),
        ] {
            let err = Config::parse(url).expect_err(url).to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: the error shows the password: {err}");
            assert!(err.contains("u:***@"), "{url}: {err}");
        }
    }

    #[test]
    fn redaction_hides_passwords_everywhere() {
        let c = Config::parse("arangodb://root:hunter2@arangodb:8529/mycelium").expect("valid");
        assert_eq!(c.redacted(), "arangodb://root@arangodb:8529/mycelium");
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        let c = Config::parse("https://root:hunter2@h:8530/?database=x").expect("valid");
        assert_eq!(c.redacted(), "https://root@h:8530/?database=x");
        assert_eq!(crate::storage::redact("http://a:b:c@h/x?p=1"), "http://a:***@h/x?p=1");
        let creds = c.credentials(no_env).expect("creds");
        assert!(!format!("{creds:?}").contains("hunter2"));
    }

    #[test]
    fn credentials_come_from_url_then_env_then_file() {
        let c = Config::parse("arangodb://h/db").expect("valid");
        let creds = c.credentials(no_env).expect("creds");
        assert_eq!((creds.user.as_str(), creds.password.expose()), ("root", ""));
        let env = |k: &str| match k {
            USER_ENV => Some("bob".to_owned()),
            PASSWORD_ENV => Some("from-env".to_owned()),
            _ => None,
        };
        let creds = c.credentials(env).expect("creds");
        assert_eq!((creds.user.as_str(), creds.password.expose()), ("bob", "from-env"));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.display().to_string();
        let env = |k: &str| (k == PASSWORD_FILE_ENV).then(|| path.clone());
        assert_eq!(c.credentials(env).expect("creds").password.expose(), "from-file");
        let env = |k: &str| (k == PASSWORD_FILE_ENV).then(|| "/nonexistent/pw".to_owned());
        let err = c.credentials(env).expect_err("missing file").to_string();
        assert!(err.contains("/nonexistent/pw") && err.contains(PASSWORD_FILE_ENV), "{err}");
        let with_url = Config::parse("arangodb://carol:url-pw@h/db").expect("valid");
        assert_eq!(with_url.credentials(env).expect("creds").password.expose(), "url-pw");
    }

    #[test]
    fn lock_waits_stay_below_the_request_timeout() {
        let c = Config::parse("arangodb://h/db").expect("valid");
        assert_eq!((c.timeout, c.lock_timeout), (Duration::from_secs(30), Duration::from_secs(1)));
        let c = Config::parse("arangodb://h/db?timeout_ms=1500").expect("valid");
        assert_eq!(c.lock_timeout, Duration::from_millis(500));
        let c = Config::parse("arangodb://h/db?timeout_ms=5000&lock_timeout_ms=4999").expect("valid");
        assert_eq!(c.lock_timeout, Duration::from_millis(4999));
    }

    #[test]
    fn to_url_round_trips() {
        let c = Config::parse("arangodb://u:p%2Fw@h:9/db?timeout_ms=700&lock_timeout_ms=300&clock_skew_ms=-300000")
            .expect("valid");
        let again = Config::parse(&c.to_url()).expect("valid");
        assert_eq!(
            (again.endpoint, again.database, again.user, again.password, again.timeout),
            (c.endpoint.clone(), c.database.clone(), c.user.clone(), c.password.clone(), c.timeout)
        );
        assert_eq!((again.lock_timeout, again.clock_skew_ms), (c.lock_timeout, c.clock_skew_ms));
        let other = c.with_database("t_1").expect("valid");
        assert_eq!(other.database, "t_1");
        assert!(c.with_database("bad name").is_err());
    }
}
