//! One database of the server, as the backend talks to it: AQL cursors read
//! to the end, and Stream Transactions (begin, commit, abort).
//!
//! Cursors are the project's own: the first batch comes from
//! `POST /_api/cursor`, every next one from `POST /_api/cursor/{id}` with the
//! same transaction header, until `hasMore` is false. arangors fetches next
//! batches with the `PUT` form, deprecated in 3.11 and removed in 4.0, and in
//! a transaction drops the last batch of a multi-batch result; neither is
//! used here.

use std::time::Duration;

use arangors::AqlQuery;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::aql::Query;
use super::schema::{self, META};
use super::transport::HttpClient;
use arangors::ClientError;

/// Rows per cursor batch asked for (arangod's default; a server may send
/// fewer, as the stand-in does, and every next batch is fetched).
const BATCH_SIZE: u32 = 1000;

/// A database of the server.
#[derive(Clone, Debug)]
pub(super) struct Db {
    client: HttpClient,
    /// `http(s)://host:port/_db/<name>/`.
    base: Url,
    /// How long a write transaction waits for the writer lock.
    lock_timeout: Duration,
}

/// One batch of a cursor.
#[derive(Debug, Deserialize)]
struct Batch {
    #[serde(default)]
    result: Vec<Value>,
    #[serde(rename = "hasMore", default)]
    has_more: bool,
    #[serde(default)]
    id: Option<String>,
}

/// What kind of Stream Transaction to begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// Reads only: one consistent snapshot, no locks.
    Read,
    /// Writes: every collection for writing, `meta` exclusively (the writer
    /// lock), waiting for it up to the lock timeout.
    Write,
}

impl Db {
    /// The database at `base` (`.../_db/<name>/`).
    pub(super) fn new(client: HttpClient, base: Url, lock_timeout: Duration) -> Self {
        Self { client, base, lock_timeout }
    }

    /// The URL of `path` in this database.
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::HttpClient(format!("bad path `{path}`: {e}")))
    }

    /// A request to the database's HTTP API, outside any transaction.
    pub(super) fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        self.client.call(method, &self.url(path)?, body, None)
    }

    /// Runs `q` (in the Stream Transaction `trx` when given) and reads its
    /// cursor to the end.
    pub(super) fn query(&self, q: &Query, trx: Option<&str>) -> Result<Vec<Value>, ClientError> {
        let body = AqlQuery::builder().query(q.text).bind_vars(q.binds.clone()).batch_size(BATCH_SIZE).build();
        let body = serde_json::to_value(&body)?;
        let first = self.client.call(Method::POST, &self.url("_api/cursor")?, Some(&body), trx)?;
        let mut batch: Batch = serde_json::from_value(first)?;
        let mut rows = std::mem::take(&mut batch.result);
        while batch.has_more {
            let Some(id) = batch.id.take() else {
                return Err(ClientError::HttpClient(format!(
                    "the server said a cursor of `{}` has more rows but gave no cursor id",
                    q.what
                )));
            };
            let next = self.client.call(Method::POST, &self.url(&format!("_api/cursor/{id}"))?, None, trx)?;
            batch = serde_json::from_value(next)?;
            rows.append(&mut batch.result);
            if batch.has_more && batch.id.is_none() {
                batch.id = Some(id);
            }
        }
        Ok(rows)
    }

    /// The first row of `q` (`null` when it returned none).
    pub(super) fn query_one(&self, q: &Query, trx: Option<&str>) -> Result<Value, ClientError> {
        Ok(self.query(q, trx)?.into_iter().next().unwrap_or(Value::Null))
    }

    /// Begins a Stream Transaction; its id.
    pub(super) fn begin(&self, access: Access) -> Result<String, ClientError> {
        let body = match access {
            Access::Read => json!({ "collections": { "read": schema::names() } }),
            Access::Write => json!({
                "collections": { "write": schema::written(), "exclusive": [META] },
                "allowImplicit": false,
                // Seconds; strictly below the request timeout (Config).
                "lockTimeout": self.lock_timeout.as_secs_f64(),
            }),
        };
        let answer = self.client.call(Method::POST, &self.url("_api/transaction/begin")?, Some(&body), None)?;
        answer["result"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::HttpClient(format!("the server began a transaction without an id: {answer}")))
    }

    /// Commits `trx`. Committing a transaction that is committed already
    /// answers as the first commit did (arangod's transaction manager keeps
    /// finished transactions for a while), which makes a commit whose answer
    /// was lost safe to send again.
    pub(super) fn commit(&self, trx: &str) -> Result<(), ClientError> {
        let answer = self.client.call(Method::PUT, &self.url(&format!("_api/transaction/{trx}"))?, None, None)?;
        match answer["result"]["status"].as_str() {
            Some("committed") => Ok(()),
            other => Err(ClientError::HttpClient(format!(
                "the server answered the commit of transaction {trx} with status {other:?}"
            ))),
        }
    }

    /// Aborts `trx`; nothing it wrote remains.
    pub(super) fn abort(&self, trx: &str) -> Result<(), ClientError> {
        self.client.call(Method::DELETE, &self.url(&format!("_api/transaction/{trx}"))?, None, None).map(drop)
    }
}
