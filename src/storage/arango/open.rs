//! Connecting to ArangoDB, creating the mycelium on first use, and the
//! plumbing every call shares: AQL queries, transactions and retries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arangors::client::ClientExt;
use arangors::{ClientError, Database, GenericConnection};
use serde_json::{Value, json};
use url::Url;

use super::aql::{self, Query};
use super::client::{self, HttpClient, Shared};
use super::config::Config;
use super::errors::{
    self, COLLECTION_NOT_FOUND, CONFLICT, DATABASE_NOT_FOUND, DUPLICATE_DATABASE, DUPLICATE_NAME, GRAPH_DUPLICATE,
    UNIQUE_VIOLATED,
};
use super::{actions, schema};
use crate::storage::{Error, Limits, Result};

/// Retries of an operation that met write conflicts or a lock timeout.
const RETRIES: u32 = 12;
/// The first retry's delay; it doubles, with jitter, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// The ArangoDB backend of the mycelium.
pub struct ArangoStore {
    pub(super) shown: String,
    pub(super) limits: Limits,
    db: Database<HttpClient>,
    config: Config,
}

impl fmt::Debug for ArangoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArangoStore").field("url", &self.shown).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl ArangoStore {
    /// Connects to the server, creating the database, its collections,
    /// indexes and graph when they are missing. Credentials missing from the
    /// URL come from the environment (see [`Config::credentials`]).
    pub fn open(config: Config) -> Result<Self> {
        let credentials = config.credentials(|k| std::env::var(k).ok())?;
        let shared = Shared::new(&config, Some(credentials));
        let shown = config.redacted();
        let conn = connect(&shared, &config).map_err(|e| errors::to_storage(&shown, "connect", e))?;
        let db = match client::scoped(&shared, || conn.db(&config.database)) {
            Ok(db) => db,
            Err(e) if errors::error_num(&e) == Some(DATABASE_NOT_FOUND) => {
                create_database(&conn, &config).map_err(|e| errors::to_storage(&shown, "create the database", e))?;
                client::scoped(&shared, || conn.db(&config.database))
                    .map_err(|e| errors::to_storage(&shown, "open the database", e))?
            }
            Err(e) => return Err(errors::to_storage(&shown, "open the database", e)),
        };
        let store = Self { shown, limits: Limits { max_payload: config.max_payload }, db, config };
        store.setup()?;
        Ok(store)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates what is missing, unless the layout version says all is there.
    fn setup(&self) -> Result<()> {
        let found = match self.db.aql_query::<Value>(aql::layout().to_aql()) {
            Ok(rows) => rows.into_iter().next().unwrap_or(Value::Null),
            Err(e) if errors::error_num(&e) == Some(COLLECTION_NOT_FOUND) => Value::Null,
            Err(e) => return Err(errors::to_storage(&self.shown, "read the layout version", e)),
        };
        let version = found.get(0).and_then(Value::as_f64).map(|v| v as u32);
        if let Some(v) = version
            && v > schema::VERSION
        {
            return Err(Error::NewerSchema { store: self.shown.clone(), found: v, supported: schema::VERSION });
        }
        if version == Some(schema::VERSION) && found.get(1) == Some(&Value::Bool(true)) {
            return Ok(());
        }
        // Processes racing to create the same things may meet conflicts:
        // everything is idempotent, so run it again.
        let mut attempt = 0;
        loop {
            match self.create_layout() {
                Ok(()) => return Ok(()),
                Err(e) if errors::is_retryable(&e) && attempt < 3 => attempt += 1,
                Err(e) => return Err(errors::to_storage(&self.shown, "create the collections", e)),
            }
        }
    }

    fn create_layout(&self) -> Result<(), ClientError> {
        for c in schema::COLLECTIONS {
            match self.call(Method::Post, "_api/collection", &c.create_body()) {
                Ok(_) => {}
                Err(e) if errors::error_num(&e) == Some(DUPLICATE_NAME) => {
                    // Made by an older build or a racing process: refresh the rule.
                    if let Some(schema) = c.schema_property() {
                        self.call(
                            Method::Put,
                            &format!("_api/collection/{}/properties", c.name),
                            &json!({ "schema": schema }),
                        )?;
                    }
                }
                Err(e) => return Err(e),
            }
            for index in c.indexes {
                match self.call(Method::Post, &format!("_api/index?collection={}", c.name), &index.create_body()) {
                    Ok(_) => {}
                    Err(e) if errors::error_num(&e) == Some(DUPLICATE_NAME) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        match self.call(Method::Post, "_api/gharial", &schema::graph_body()) {
            Ok(_) => {}
            Err(e) if matches!(errors::error_num(&e), Some(GRAPH_DUPLICATE | DUPLICATE_NAME)) => {}
            Err(e) => return Err(e),
        }
        // Two queries: AQL may not read a collection after writing it.
        let counters = Query {
            text: r#"INSERT @counters INTO meta OPTIONS { overwriteMode: "ignore" }"#.to_owned(),
            binds: vec![("counters", schema::counters())],
        };
        self.db.aql_query::<Value>(counters.to_aql())?;
        // Written last: other processes skip setup once they see it.
        let version = Query {
            text: r#"UPSERT { _key: "schema" } INSERT { _key: "schema", version: @version }
  UPDATE { version: MAX([OLD.version, @version]) } IN meta"#
                .to_owned(),
            binds: vec![("version", json!(schema::VERSION))],
        };
        match self.db.aql_query::<Value>(version.to_aql()) {
            // A racing process wrote it first.
            Err(e) if matches!(errors::error_num(&e), Some(UNIQUE_VIOLATED | CONFLICT)) => Ok(()),
            other => other.map(drop),
        }
    }

    /// A request to the database's HTTP API, outside any transaction.
    fn call(&self, method: Method, path: &str, body: &Value) -> Result<Value, ClientError> {
        let url = self.db.url().join(path).map_err(|e| ClientError::HttpClient(e.to_string()))?;
        send(&self.db.session(), method, url, body)
    }

    /// Runs an AQL query, retrying write conflicts; every row as JSON.
    pub(super) fn query(&self, context: &str, q: &Query) -> Result<Vec<Value>> {
        self.retrying(context, || self.db.aql_query::<Value>(q.to_aql()))
    }

    /// The first row of a query (`null` when it returned none).
    pub(super) fn query_one(&self, context: &str, q: &Query) -> Result<Value> {
        Ok(self.query(context, q)?.into_iter().next().unwrap_or(Value::Null))
    }

    /// Runs the JavaScript operation `op` as one transaction; its result.
    pub(super) fn transaction(&self, context: &str, op: &str, params: Value) -> Result<Value> {
        let body = actions::body(op, params);
        self.retrying(context, || {
            let mut answer = self.call(Method::Post, "_api/transaction", &body)?;
            Ok(answer.get_mut("result").map(Value::take).unwrap_or(Value::Null))
        })
    }

    /// Runs `f` until it succeeds or fails with something other than a
    /// write conflict or lock timeout, backing off with jitter in between.
    fn retrying<T>(&self, context: &str, mut f: impl FnMut() -> Result<T, ClientError>) -> Result<T> {
        let mut delay = FIRST_BACKOFF;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if errors::is_retryable(&e) && attempt < RETRIES => {
                    attempt += 1;
                    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).max(1);
                    std::thread::sleep(Duration::from_millis(rand::random_range(ms / 2..=ms)));
                    delay = (delay * 2).min(MAX_BACKOFF);
                    tracing::debug!(
                        context,
                        attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "retrying after a write conflict"
                    );
                }
                Err(e) => return Err(errors::to_storage(&self.shown, context, e)),
            }
        }
    }
}

/// The HTTP methods the store uses outside arangors' typed API.
#[derive(Clone, Copy, Debug)]
enum Method {
    Post,
    Put,
    Delete,
}

fn send(session: &HttpClient, method: Method, url: Url, body: &Value) -> Result<Value, ClientError> {
    let text = body.to_string();
    let response = match method {
        Method::Post => session.post(url, text)?,
        Method::Put => session.put(url, text)?,
        Method::Delete => session.delete(url, text)?,
    };
    parse(response.body())
}

/// An ArangoDB answer: its JSON, or the error it carries.
pub(super) fn parse(text: &str) -> Result<Value, ClientError> {
    let v: Value = serde_json::from_str(text)?;
    if v.get("error").and_then(Value::as_bool) == Some(true) {
        return Err(ClientError::Arango(serde_json::from_value(v)?));
    }
    Ok(v)
}

fn connect(shared: &Arc<Shared>, config: &Config) -> Result<GenericConnection<HttpClient>, ClientError> {
    client::scoped(shared, || GenericConnection::<HttpClient>::establish_without_auth(config.endpoint.as_str()))
}

/// Creates the database (through `_system`); a racing creator is fine.
fn create_database(conn: &GenericConnection<HttpClient>, config: &Config) -> Result<(), ClientError> {
    let url = conn.url().join("_db/_system/_api/database").map_err(|e| ClientError::HttpClient(e.to_string()))?;
    let body = database_body(config);
    match send(&conn.session(), Method::Post, url, &body) {
        Ok(_) => Ok(()),
        Err(e) if errors::error_num(&e) == Some(DUPLICATE_DATABASE) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The body of `POST /_api/database`.
pub(super) fn database_body(config: &Config) -> Value {
    if config.one_shard {
        json!({ "name": config.database, "options": { "sharding": "single" } })
    } else {
        json!({ "name": config.database })
    }
}

/// Drops the database `config` names (for tests that made one per case).
/// A database that does not exist is not an error.
pub fn drop_database(config: &Config) -> Result<()> {
    let shown = config.redacted();
    let credentials = config.credentials(|k| std::env::var(k).ok())?;
    let shared = Shared::new(config, Some(credentials));
    let conn = connect(&shared, config).map_err(|e| errors::to_storage(&shown, "connect", e))?;
    let url = conn
        .url()
        .join(&format!("_db/_system/_api/database/{}", config.database))
        .map_err(|e| Error::backend("build a URL", e))?;
    match send(&conn.session(), Method::Delete, url, &Value::Null) {
        Ok(_) => Ok(()),
        Err(e) if errors::error_num(&e) == Some(DATABASE_NOT_FOUND) => Ok(()),
        Err(e) => Err(errors::to_storage(&shown, "drop the database", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ErrorKind;
    use crate::storage::arango::errors::tests::arango;

    #[test]
    fn answers_with_errors_become_arango_errors() {
        assert_eq!(parse(r#"{"error":false,"code":200,"result":[1]}"#).expect("ok")["result"], json!([1]));
        let e = parse(r#"{"error":true,"code":409,"errorNum":1200,"errorMessage":"conflict"}"#).expect_err("error");
        assert_eq!(errors::error_num(&e), Some(1200));
        assert!(matches!(parse("<html>"), Err(ClientError::Serde(_))));
        let _ = arango(409, 1200, "x");
    }

    #[test]
    fn one_shard_databases_ask_for_single_sharding() {
        let c = Config::parse("arangodb://h/db?one_shard=true").expect("valid");
        assert_eq!(database_body(&c), json!({ "name": "db", "options": { "sharding": "single" } }));
        let c = Config::parse("arangodb://h/db").expect("valid");
        assert_eq!(database_body(&c), json!({ "name": "db" }));
    }

    #[test]
    fn an_unreachable_server_is_unavailable_and_names_the_redacted_store() {
        let c = Config::parse("arangodb://root:hunter2@127.0.0.1:9/db?connect_timeout_ms=300&timeout_ms=1000")
            .expect("valid");
        let err = ArangoStore::open(c).expect_err("nothing listens on port 9");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        let text = err.to_string();
        assert!(text.contains("arangodb://root@127.0.0.1:9/db") && !text.contains("hunter2"), "{text}");
    }
}
