//! Retention on SQLite: the seam's [`RetentionRead`] and [`RetentionTx`].

use rusqlite::params;

use super::sql::Sql;
use crate::model::{Millis, RunId, RunState};
use crate::storage::Result;
use crate::storage::retention_seam::{Deleted, RetentionRead, RetentionTx};

impl RetentionRead for Sql<'_> {
    fn finished_runs(&mut self, before: Millis, limit: u32) -> Result<Vec<RunId>> {
        let sql = format!(
            "SELECT id FROM runs WHERE state IN ('{}', '{}', '{}') AND finished_at < ?1 ORDER BY id LIMIT ?2",
            RunState::Succeeded.as_str(),
            RunState::Failed.as_str(),
            RunState::Cancelled.as_str()
        );
        let out = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_map(params![before, limit], |r| r.get(0).map(RunId))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<RunId>>>())
        });
        self.ctx("find finished runs", out)
    }
}

/// The deletes of one run, in order (dependents before what they name),
/// each with the count it adds to; `?1` is the run.
const DELETES: &[(&str, Counted)] = &[
    ("DELETE FROM events WHERE job IN (SELECT id FROM jobs WHERE run = ?1)", Counted::Events),
    ("DELETE FROM events WHERE run = ?1 AND job IS NULL", Counted::Events),
    ("DELETE FROM results WHERE job IN (SELECT id FROM jobs WHERE run = ?1)", Counted::Results),
    ("DELETE FROM deps WHERE consumer IN (SELECT id FROM jobs WHERE run = ?1)", Counted::Nothing),
    ("DELETE FROM flow_steps WHERE flow IN (SELECT id FROM jobs WHERE run = ?1)", Counted::Nothing),
    ("DELETE FROM flow_signals WHERE flow IN (SELECT id FROM jobs WHERE run = ?1)", Counted::Nothing),
    ("DELETE FROM jobs WHERE run = ?1", Counted::Jobs),
    ("DELETE FROM runs WHERE id = ?1", Counted::Runs),
];

#[derive(Clone, Copy)]
enum Counted {
    Nothing,
    Events,
    Results,
    Jobs,
    Runs,
}

impl RetentionTx for Sql<'_> {
    fn delete_runs(&mut self, runs: &[RunId], keep_failures: bool) -> Result<Deleted> {
        let mut d = Deleted::default();
        for run in runs {
            if !keep_failures {
                let out = self
                    .conn
                    .prepare_cached("DELETE FROM failures WHERE run = ?1")
                    .and_then(|mut s| s.execute([run.0]));
                d.failures += self.ctx("delete failures", out)? as u64;
            }
            for (sql, counted) in DELETES {
                let out = self.conn.prepare_cached(sql).and_then(|mut s| s.execute([run.0]));
                let n = self.ctx("delete a run", out)? as u64;
                match counted {
                    Counted::Nothing => {}
                    Counted::Events => d.events += n,
                    Counted::Results => d.results += n,
                    Counted::Jobs => d.jobs += n,
                    Counted::Runs => d.runs += n,
                }
            }
        }
        Ok(d)
    }
}
