//! The agents' catalog, typed: declarations stored as JSON documents by
//! kind and key.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::work::Work;
use crate::storage::rows::CatalogWrite;
use crate::storage::seam::Read;
use crate::storage::{Error, Result};

/// Signals (`SignalDecl`), by name.
pub(super) const SIGNAL: &str = "signal";
/// Subscriptions (`Subscription`), by `signal/elf/task`.
pub(super) const SUBSCRIPTION: &str = "subscription";
/// Queues (`QueueDecl`), by name.
pub(super) const QUEUE: &str = "queue";
/// Schedules (`Schedule`), by name.
pub(super) const SCHEDULE: &str = "schedule";

/// The documents of `kind` whose key starts with `prefix`, by key.
pub(super) fn list<T: DeserializeOwned>(r: &mut dyn Read, kind: &str, prefix: &str) -> Result<Vec<T>> {
    r.catalog(kind, prefix)?
        .into_iter()
        .map(|row| {
            serde_json::from_value(row.value).map_err(|e| {
                Error::backend(format!("read catalog entry {kind}/{}", row.key), std::io::Error::other(e.to_string()))
            })
        })
        .collect()
}

/// The document of `kind` called `key`.
pub(super) fn get<T: DeserializeOwned>(r: &mut dyn Read, kind: &str, key: &str) -> Result<Option<T>> {
    let rows = r.catalog(kind, key)?;
    match rows.into_iter().find(|row| row.key == key) {
        Some(row) => serde_json::from_value(row.value).map(Some).map_err(|e| {
            Error::backend(format!("read catalog entry {kind}/{key}"), std::io::Error::other(e.to_string()))
        }),
        None => Ok(None),
    }
}

/// Puts the document of `kind` called `key`.
pub(super) fn put<T: Serialize>(w: &mut Work<'_>, kind: &str, key: &str, doc: &T) -> Result<()> {
    let text = serde_json::to_string(doc).map_err(|e| Error::backend("encode a catalog entry", e))?;
    w.tx.put_catalog(&[CatalogWrite { kind: kind.to_owned(), key: key.to_owned(), value: Some(text) }])
}

/// Deletes the document of `kind` called `key`.
pub(super) fn delete(w: &mut Work<'_>, kind: &str, key: &str) -> Result<()> {
    w.tx.put_catalog(&[CatalogWrite { kind: kind.to_owned(), key: key.to_owned(), value: None }])
}

/// Refuses a name a signal, queue, exchange or schedule cannot have.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
        return Err(Error::invalid(
            format!("{what} name `{name}`"),
            "it is empty or has characters other than letters, digits, _ - . :",
            format!("name the {what} with letters, digits and _ - . : only"),
        ));
    }
    Ok(())
}
