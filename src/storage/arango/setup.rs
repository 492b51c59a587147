//! Connecting, and creating the mycelium on first use: the database, its
//! collections with their JSON Schema rules, indexes, the named graph, the
//! counters and the layout version.
//!
//! Every step is idempotent and safe to race: docker compose starts the
//! coordinator and the elves at once, and each may find the database
//! missing. A database, collection, index or graph that a racing process
//! made first answers error 1207 (`ERROR_ARANGO_DUPLICATE_NAME`, HTTP 409)
//! or 1925 (a duplicate graph): both mean "it is there".

use std::sync::Arc;

use arangors::{ClientError, GenericConnection};
use http::Method;
use serde_json::{Value, json};
use url::Url;

use super::aql::{self, Query};
use super::config::Config;
use super::db::Db;
use super::errors::{
    self, COLLECTION_NOT_FOUND, CONFLICT, DATABASE_NOT_FOUND, DUPLICATE_NAME, GRAPH_DUPLICATE, UNIQUE_VIOLATED,
};
use super::schema;
use super::transport::{self, HttpClient, Shared};
use crate::storage::registry::OpenMode;
use crate::storage::{Error, Result};

/// Attempts at creating the layout when racing processes conflict.
const LAYOUT_ATTEMPTS: u32 = 5;

/// Connects to the server named by `config` and checks that it is ArangoDB;
/// the client every request of the store goes through.
pub(super) fn connect(config: &Config) -> Result<HttpClient> {
    let shown = config.redacted();
    let credentials = config.credentials(|k| std::env::var(k).ok())?;
    let shared: Arc<Shared> = Shared::new(config, Some(credentials));
    // arangors checks the `Server` header (a proxy or another service at the
    // address is refused by name) and builds its client through ours.
    transport::scoped(&shared, || GenericConnection::<HttpClient>::establish_without_auth(config.endpoint.as_str()))
        .map_err(|e| errors::to_storage(&shown, "connect", &e))?;
    transport::scoped(&shared, || <HttpClient as arangors::client::ClientExt>::new(None))
        .map_err(|e| errors::to_storage(&shown, "connect", &e))
}

/// The base URL of the database `config` names.
pub(super) fn database_url(config: &Config) -> Result<Url> {
    config
        .endpoint
        .join(&format!("_db/{}/", config.database))
        .map_err(|e| Error::BadUrl { url: config.redacted(), problem: format!("no database URL: {e}") })
}

/// Opens (and, with [`OpenMode::Create`], creates) the mycelium `config`
/// names.
pub(super) fn open(config: &Config, client: &HttpClient, mode: OpenMode) -> Result<Db> {
    let shown = config.redacted();
    let db = Db::new(client.clone(), database_url(config)?, config.lock_timeout);
    match db.call(Method::GET, "_api/database/current", None) {
        Ok(_) => {}
        Err(e) if errors::error_num(&e) == Some(DATABASE_NOT_FOUND) => {
            if mode == OpenMode::Existing {
                return Err(Error::NoStore { store: shown });
            }
            create_database(config, client).map_err(|e| errors::to_storage(&shown, "create the database", &e))?;
        }
        Err(e) => return Err(errors::to_storage(&shown, "open the database", &e)),
    }
    layout(&db, &shown, mode)?;
    Ok(db)
}

/// Creates the database (through `_system`); one that exists is fine.
fn create_database(config: &Config, client: &HttpClient) -> Result<(), ClientError> {
    let url = config
        .endpoint
        .join("_db/_system/_api/database")
        .map_err(|e| ClientError::HttpClient(format!("no URL for creating databases: {e}")))?;
    match client.call(Method::POST, &url, Some(&database_body(config)), None) {
        Ok(_) => Ok(()),
        // Issue 11: a racing process created it: 1207, not 1229.
        Err(e) if errors::error_num(&e) == Some(DUPLICATE_NAME) => Ok(()),
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

/// Drops the database `config` names (tests and benchmarks make one per
/// case). One that does not exist is not an error.
pub(super) fn drop_database(config: &Config) -> Result<()> {
    let shown = config.redacted();
    let client = connect(config)?;
    let url = config
        .endpoint
        .join(&format!("_db/_system/_api/database/{}", config.database))
        .map_err(|e| Error::BadUrl { url: shown.clone(), problem: e.to_string() })?;
    match client.call(Method::DELETE, &url, None, None) {
        Ok(_) => Ok(()),
        Err(e) if errors::error_num(&e) == Some(DATABASE_NOT_FOUND) => Ok(()),
        Err(e) => Err(errors::to_storage(&shown, "drop the database", &e)),
    }
}

/// Checks the layout version, creating what is missing: on a new database
/// everything, on a store of an older layout this build can upgrade
/// ([`schema::UPGRADABLE`] and later) what that layout lacks. Older layouts
/// and newer ones are refused, naming both versions.
fn layout(db: &Db, shown: &str, mode: OpenMode) -> Result<()> {
    // A fresh database has no `meta`: ask before querying it.
    let found = match db.call(Method::GET, &format!("_api/collection/{}", schema::META), None) {
        Ok(_) => db
            .query_one(&Query::new("read the layout version", aql::LAYOUT), None)
            .map_err(|e| errors::to_storage(shown, "read the layout version", &e))?,
        Err(e) if errors::error_num(&e) == Some(COLLECTION_NOT_FOUND) => Value::Null,
        Err(e) => return Err(errors::to_storage(shown, "look for the collections", &e)),
    };
    let version = found.get("version").and_then(Value::as_f64).map(|v| v as u32);
    let counters = found.get("counters").and_then(Value::as_u64).unwrap_or(0) > 0;
    match version {
        Some(v) if v > schema::VERSION => {
            return Err(Error::NewerSchema { store: shown.to_owned(), found: v, supported: schema::VERSION });
        }
        Some(v) if v == schema::VERSION && counters => return Ok(()),
        Some(v) if v < schema::UPGRADABLE => {
            return Err(Error::NotAStore {
                path: shown.into(),
                detail: format!(
                    "its layout is version {v}, written by the JavaScript-transaction backend of an earlier \
                     build, which this build cannot upgrade in place (point the URL at a new database, or drop \
                     this one)"
                ),
            });
        }
        _ => {}
    }
    if mode == OpenMode::Existing && version.is_none() {
        return Err(Error::NoStore { store: shown.to_owned() });
    }
    let mut attempt = 0;
    loop {
        match create_layout(db) {
            Ok(()) => return Ok(()),
            Err(e) if errors::worth_retrying(&e) && attempt < LAYOUT_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
            }
            Err(e) => return Err(errors::to_storage(shown, "create the collections", &e)),
        }
    }
}

fn create_layout(db: &Db) -> Result<(), ClientError> {
    for c in schema::COLLECTIONS {
        match db.call(Method::POST, "_api/collection", Some(&c.create_body())) {
            Ok(_) => {}
            Err(e) if errors::error_num(&e) == Some(DUPLICATE_NAME) => {
                // Made by a racing process (or an older build): the rule
                // this build writes by is the one to validate with.
                if let Some(rule) = c.schema_property() {
                    db.call(
                        Method::PUT,
                        &format!("_api/collection/{}/properties", c.name),
                        Some(&json!({ "schema": rule })),
                    )?;
                }
            }
            Err(e) => return Err(e),
        }
        for index in c.indexes {
            match db.call(Method::POST, &format!("_api/index?collection={}", c.name), Some(&index.create_body())) {
                Ok(_) => {}
                Err(e) if errors::error_num(&e) == Some(DUPLICATE_NAME) => {}
                Err(e) => return Err(e),
            }
        }
    }
    match db.call(Method::POST, "_api/gharial", Some(&schema::graph_body())) {
        Ok(_) => {}
        Err(e) if matches!(errors::error_num(&e), Some(GRAPH_DUPLICATE | DUPLICATE_NAME)) => {}
        Err(e) => return Err(e),
    }
    // Two queries: a query may not read a collection after writing it.
    db.query(&Query::new("create the counters", aql::CREATE_COUNTERS).bind("counters", schema::counters()), None)?;
    // Counters of layout version 2 have no signal counter yet.
    db.query(&Query::new("upgrade the counters", aql::UPGRADE_COUNTERS), None)?;
    // Written last: other processes skip the setup once they see it.
    let version = Query::new("record the layout version", aql::WRITE_LAYOUT).bind("version", schema::VERSION);
    match db.query(&version, None) {
        // A racing process wrote it first.
        Err(e) if matches!(errors::error_num(&e), Some(UNIQUE_VIOLATED | CONFLICT)) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ErrorKind;

    #[test]
    fn one_shard_databases_ask_for_single_sharding() {
        let c = Config::parse("arangodb://h/db?one_shard=true").expect("valid");
        assert_eq!(database_body(&c), json!({ "name": "db", "options": { "sharding": "single" } }));
        let c = Config::parse("arangodb://h/db").expect("valid");
        assert_eq!(database_body(&c), json!({ "name": "db" }));
        assert_eq!(database_url(&c).expect("url").as_str(), "http://h:8529/_db/db/");
    }

    #[test]
    fn an_unreachable_server_is_unavailable_and_names_the_redacted_store() {
        let c = Config::parse("arangodb://root:hunter2@127.0.0.1:9/db?connect_timeout_ms=300&timeout_ms=1000")
            .expect("valid");
        let err = connect(&c).expect_err("nothing listens on port 9");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        let text = err.to_string();
        assert!(text.contains("arangodb://root@127.0.0.1:9/db") && !text.contains("hunter2"), "{text}");
    }
}
