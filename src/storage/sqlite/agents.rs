//! The agents' part of the seam on SQLite: the catalog of declarations, and
//! job counts that use the partial indexes of their states.

use rusqlite::params;
use rusqlite::types::Value as Sql3;

use super::sql::Sql;
use crate::model::JobState;
use crate::storage::rows::{CatalogRow, CatalogWrite, JobStats};
use crate::storage::{JobQuery, Result};

/// The largest character: every key with a prefix sorts below
/// `prefix + MAX_CHAR`.
const MAX_CHAR: char = '\u{10FFFF}';

impl Sql<'_> {
    /// Catalog entries of `kind` whose key starts with `prefix`, by key.
    pub(super) fn read_catalog(&self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>> {
        let end = format!("{prefix}{MAX_CHAR}");
        let out = self
            .conn
            .prepare_cached(
                "SELECT kind, key, value FROM catalog WHERE kind = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
            )
            .and_then(|mut s| {
                s.query_map(params![kind, prefix, end], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            });
        self.ctx("read the agents' catalog", out)?
            .into_iter()
            .map(|(kind, key, text)| {
                let value = serde_json::from_str(&text)
                    .map_err(|e| self.bad_data(&format!("catalog entry {kind}/{key}"), e.to_string()))?;
                Ok(CatalogRow { kind, key, value })
            })
            .collect()
    }

    /// Writes catalog entries in order.
    pub(super) fn write_catalog(&self, writes: &[CatalogWrite]) -> Result<()> {
        let out = (|| {
            let mut put = self.conn.prepare_cached(
                "INSERT INTO catalog(kind, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value",
            )?;
            let mut delete = self.conn.prepare_cached("DELETE FROM catalog WHERE kind = ?1 AND key = ?2")?;
            for w in writes {
                match &w.value {
                    Some(v) => put.execute(params![w.kind, w.key, v])?,
                    None => delete.execute(params![w.kind, w.key])?,
                };
            }
            Ok(())
        })();
        self.ctx("write the agents' catalog", out)
    }

    /// Counts the jobs of `q`, one statement per state so that each can use
    /// its state's partial index (`jobs_ready`, `jobs_lease`, `jobs_failed`).
    pub(super) fn count_jobs(&self, q: &JobQuery) -> Result<JobStats> {
        let states: Vec<Option<JobState>> =
            if q.states.is_empty() { vec![None] } else { q.states.iter().copied().map(Some).collect() };
        let mut stats = JobStats::default();
        for state in states {
            let mut clauses: Vec<String> = Vec::new();
            let mut values: Vec<Sql3> = Vec::new();
            if let Some(s) = state {
                // A literal (from the enum itself), so the planner matches
                // the partial index whose condition names it.
                clauses.push(format!("state = '{}'", s.as_str()));
            }
            if let Some(elf) = &q.elf {
                values.push(Sql3::Text(elf.clone()));
                clauses.push(format!("elf = ?{}", values.len()));
            }
            if let Some(task) = &q.task {
                values.push(Sql3::Text(task.clone()));
                clauses.push(format!("task = ?{}", values.len()));
            }
            if let Some(run) = q.run {
                values.push(Sql3::Integer(run.0));
                clauses.push(format!("run = ?{}", values.len()));
            }
            let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
            let sql = format!("SELECT count(*), min(created_at) FROM jobs{filter}");
            let out = self.conn.prepare_cached(&sql).and_then(|mut s| {
                s.query_row(rusqlite::params_from_iter(values), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })
            });
            let (n, oldest) = self.ctx("count jobs", out)?;
            stats.count += u64::try_from(n).unwrap_or(0);
            stats.oldest = match (stats.oldest, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(stats)
    }
}
