//! Retention on SQLite: the seam's [`RetentionRead`] and [`RetentionTx`].

use rusqlite::params;

use super::sql::Sql;
use crate::model::{ElfState, JobId, Millis, RunId, RunState, TaskSha};
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

    fn unreferenced_versions(&mut self) -> Result<(Vec<TaskSha>, JobId)> {
        let sql = format!(
            "SELECT sha FROM tasks EXCEPT SELECT expected_sha FROM jobs WHERE expected_sha IS NOT NULL \
             EXCEPT SELECT ran_sha FROM jobs WHERE ran_sha IS NOT NULL \
             EXCEPT SELECT sha FROM flow_steps WHERE sha IS NOT NULL \
             EXCEPT SELECT json_extract(report, '$.ran_sha') FROM failures \
             EXCEPT SELECT t.value FROM elves, json_each(elves.tasks) AS t WHERE elves.state = '{}'",
            ElfState::Running.as_str()
        );
        let out = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        });
        let shas = self.ctx("find unreferenced task versions", out)?;
        let out = self.conn.query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get::<_, i64>(0));
        let last = self.ctx("find the last job", out)?;
        let shas = shas.into_iter().filter_map(|s| TaskSha::try_from(s).ok()).collect();
        Ok((shas, JobId(last)))
    }
}

/// The deletes of some jobs of a run, in order (dependents before what they
/// name), each with the count it adds to; `?1` is the jobs' ids as a JSON
/// array.
const JOB_DELETES: &[(&str, Counted)] = &[
    ("DELETE FROM events WHERE job IN (SELECT value FROM json_each(?1))", Counted::Events),
    ("DELETE FROM results WHERE job IN (SELECT value FROM json_each(?1))", Counted::Results),
    ("DELETE FROM deps WHERE consumer IN (SELECT value FROM json_each(?1))", Counted::Nothing),
    ("DELETE FROM flow_steps WHERE flow IN (SELECT value FROM json_each(?1))", Counted::Nothing),
    ("DELETE FROM flow_signals WHERE flow IN (SELECT value FROM json_each(?1))", Counted::Nothing),
    ("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))", Counted::Jobs),
];

/// The deletes of a run none of whose jobs is left; `?1` is the run.
const RUN_DELETES: &[(&str, Counted)] = &[
    ("DELETE FROM events WHERE run = ?1 AND job IS NULL", Counted::Events),
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

impl Sql<'_> {
    fn delete_counted(
        &mut self,
        d: &mut Deleted,
        sql: &str,
        counted: Counted,
        param: &dyn rusqlite::ToSql,
    ) -> Result<()> {
        let out = self.conn.prepare_cached(sql).and_then(|mut s| s.execute([param]));
        let n = self.ctx("delete a finished run", out)? as u64;
        match counted {
            Counted::Nothing => {}
            Counted::Events => d.events += n,
            Counted::Results => d.results += n,
            Counted::Jobs => d.jobs += n,
            Counted::Runs => d.runs += n,
        }
        Ok(())
    }
}

impl RetentionTx for Sql<'_> {
    fn delete_runs(&mut self, runs: &[RunId], max_jobs: u32, keep_failures: bool) -> Result<Deleted> {
        let mut d = Deleted::default();
        let mut budget = max_jobs.max(1);
        for run in runs {
            let out = self.conn.prepare_cached("SELECT id FROM jobs WHERE run = ?1 ORDER BY id LIMIT ?2").and_then(
                |mut stmt| {
                    stmt.query_map(params![run.0, budget], |r| r.get::<_, i64>(0))
                        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<i64>>>())
                },
            );
            let ids = self.ctx("find a finished run's jobs", out)?;
            let taken = u32::try_from(ids.len()).unwrap_or(u32::MAX);
            if taken > 0 {
                let list = serde_json::Value::from(ids).to_string();
                if !keep_failures {
                    let out = self
                        .conn
                        .prepare_cached("DELETE FROM failures WHERE job IN (SELECT value FROM json_each(?1))")
                        .and_then(|mut s| s.execute([&list]));
                    d.failures += self.ctx("delete failures", out)? as u64;
                }
                for (sql, counted) in JOB_DELETES {
                    self.delete_counted(&mut d, sql, *counted, &list)?;
                }
            }
            if taken == budget {
                // Perhaps more are left: the next write goes on.
                break;
            }
            budget -= taken;
            if !keep_failures {
                let out = self
                    .conn
                    .prepare_cached("DELETE FROM failures WHERE run = ?1")
                    .and_then(|mut s| s.execute([run.0]));
                d.failures += self.ctx("delete failures", out)? as u64;
            }
            for (sql, counted) in RUN_DELETES {
                self.delete_counted(&mut d, sql, *counted, &run.0)?;
            }
        }
        Ok(d)
    }

    fn delete_versions(&mut self, shas: &[TaskSha], after: JobId) -> Result<u64> {
        let list = serde_json::Value::from(shas.iter().map(TaskSha::as_str).collect::<Vec<_>>()).to_string();
        let sql = format!(
            "WITH gone AS (SELECT value AS sha FROM json_each(?1) \
               EXCEPT SELECT expected_sha FROM jobs WHERE id > ?2 AND expected_sha IS NOT NULL \
               EXCEPT SELECT t.value FROM elves, json_each(elves.tasks) AS t WHERE elves.state = '{}') \
             SELECT sha FROM gone",
            ElfState::Running.as_str()
        );
        let out = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_map(params![list, after.0], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        });
        let gone = self.ctx("find unreferenced task versions", out)?;
        if gone.is_empty() {
            return Ok(0);
        }
        let gone = serde_json::Value::from(gone).to_string();
        let out = self
            .conn
            .prepare_cached("DELETE FROM task_names WHERE sha IN (SELECT value FROM json_each(?1))")
            .and_then(|mut s| s.execute([&gone]));
        self.ctx("delete task names", out)?;
        let out = self
            .conn
            .prepare_cached("DELETE FROM tasks WHERE sha IN (SELECT value FROM json_each(?1))")
            .and_then(|mut s| s.execute([&gone]));
        Ok(self.ctx("delete task versions", out)? as u64)
    }
}
