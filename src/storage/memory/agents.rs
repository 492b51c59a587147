//! The agents' part of the seam in memory: the catalog of declarations and
//! job counts.

use serde_json::Value;

use super::tables::Undo;
use super::write::MemTx;
use crate::storage::rows::{CatalogRow, CatalogWrite, JobStats};
use crate::storage::{Error, JobQuery, Result};

impl MemTx<'_> {
    /// Catalog entries of `kind` whose key starts with `prefix`, by key.
    pub(super) fn read_catalog(&self, kind: &str, prefix: &str) -> Vec<CatalogRow> {
        self.t
            .catalog
            .range((kind.to_owned(), prefix.to_owned())..)
            .take_while(|((k, key), _)| k == kind && key.starts_with(prefix))
            .map(|((kind, key), value)| CatalogRow { kind: kind.clone(), key: key.clone(), value: value.clone() })
            .collect()
    }

    /// Writes catalog entries in order, journalling their undo.
    pub(super) fn write_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()> {
        for w in writes {
            let key = (w.kind.clone(), w.key.clone());
            let old = match &w.value {
                Some(text) => {
                    let value: Value = serde_json::from_str(text).map_err(|e| {
                        Error::backend("write the in-memory catalog", std::io::Error::other(e.to_string()))
                    })?;
                    self.t.catalog.insert(key.clone(), value)
                }
                None => self.t.catalog.remove(&key),
            };
            self.journal.push(Undo::Catalog(key, old));
        }
        Ok(())
    }

    /// Counts the jobs of `q`.
    pub(super) fn count_jobs(&self, q: &JobQuery) -> JobStats {
        let mut stats = JobStats::default();
        for j in self.t.jobs.values() {
            let r = &j.row;
            let keep = (q.states.is_empty() || q.states.contains(&r.state))
                && q.elf.as_ref().is_none_or(|e| *e == r.elf)
                && q.task.as_ref().is_none_or(|t| *t == r.task)
                && q.run.is_none_or(|run| run == r.run);
            if keep {
                stats.count += 1;
                stats.oldest = Some(stats.oldest.map_or(j.created_at, |o| o.min(j.created_at)));
            }
        }
        stats
    }
}
