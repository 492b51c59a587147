//! The agents' part of the seam on ArangoDB: the catalog of declarations
//! (collection `catalog`, one document per kind and key, the value as JSON
//! text) and job counts.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::aql::{self, Query};
use super::docs::{Doc, key_of};
use super::view::View;
use crate::storage::rows::{CatalogRow, CatalogWrite, JobStats};
use crate::storage::{JobQuery, Result};

/// The document key of a catalog entry: the kind's and the key's own keys
/// joined by `:` (which [`key_of`] never writes, so that no two entries
/// share one), or `$` and a sha256 when that is longer than a key may be.
pub(super) fn catalog_key(kind: &str, key: &str) -> String {
    let joined = format!("{}:{}", key_of(kind), key_of(key));
    if joined.len() <= 254 {
        return joined;
    }
    let digest = Sha256::digest(joined.as_bytes());
    format!("${}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The document of a catalog entry whose value is the JSON text `value`.
fn catalog_doc(kind: &str, key: &str, value: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_key".into(), json!(catalog_key(kind, key)));
    m.insert("kind".into(), json!(kind));
    m.insert("key".into(), json!(key));
    m.insert("value".into(), json!(value));
    m
}

/// A stored catalog entry.
fn catalog_of(v: &Value) -> Result<CatalogRow> {
    let d = Doc::new("catalog entry", v)?;
    Ok(CatalogRow { kind: d.string("kind")?, key: d.string("key")?, value: d.json_text("value")? })
}

impl View<'_> {
    /// Catalog entries of `kind` whose key starts with `prefix`, by key (in
    /// byte order, as the other backends give them).
    pub(super) fn read_catalog(&mut self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>> {
        let q = Query::new("read the agents' catalog", aql::CATALOG).bind("kind", kind).bind("prefix", prefix);
        let mut rows = self.decoded(q, catalog_of)?;
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(rows)
    }

    /// How many jobs match `q` (its run, states, elf and task) and the
    /// oldest one's creation time.
    pub(super) fn count_jobs(&mut self, q: &JobQuery) -> Result<JobStats> {
        let states: Vec<&str> = q.states.iter().map(|s| s.as_str()).collect();
        let query = Query::new("count jobs", aql::JOB_STATS)
            .bind("run", q.run.map(|r| r.0))
            .bind("states", states)
            .bind("elf", q.elf.clone())
            .bind("task", q.task.clone());
        let rows = self.rows(query)?;
        let Some(row) = rows.first().filter(|v| !v.is_null()) else { return Ok(JobStats::default()) };
        let d = Doc::new("job count", row)?;
        Ok(JobStats { count: d.opt_u64("n")?.unwrap_or(0), oldest: d.opt_int("oldest")? })
    }

    /// Buffers catalog writes: the last write of each entry counts.
    pub(super) fn buffer_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()> {
        for w in writes {
            let key = catalog_key(&w.kind, &w.key);
            let doc = w.value.as_deref().map(|v| Value::Object(catalog_doc(&w.kind, &w.key, v)));
            let pending = &mut self.pending.catalog;
            pending.retain(|(k, _)| *k != key);
            pending.push((key, doc));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_keys_are_distinct_and_valid() {
        let pairs = [("queue", "a:b"), ("queue:a", "b"), ("signal", "x/y z"), ("schedule", &"k".repeat(300))];
        let keys: Vec<String> = pairs.iter().map(|(k, v)| catalog_key(k, v)).collect();
        for k in &keys {
            assert!(!k.is_empty() && k.len() <= 254, "{k}");
            assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-:.%$".contains(&b)), "{k}");
        }
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn catalog_entries_round_trip() {
        let doc = Value::Object(catalog_doc("queue", "jobs", r#"{"max":12345678901234567890}"#));
        let row = catalog_of(&doc).expect("decode");
        assert_eq!((row.kind.as_str(), row.key.as_str()), ("queue", "jobs"));
        assert_eq!(row.value.to_string(), r#"{"max":12345678901234567890}"#);
    }
}
