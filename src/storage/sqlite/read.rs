//! Reads: the seam's [`Read`] on a connection in a snapshot or transaction.

use rusqlite::types::Value as Sql3;
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde_json::{Value, json};

use super::rows::{self, ELF_COLS, EVENT_COLS, FAILURE_COLS, JOB_COLS, RUN_COLS, TASK_COLS};
use super::sql::{CLAIMABLE, EXPIRED, HELD_BY, JOB_ROW_COLS, OPEN_JOBS, RECENT_DURATIONS, Sql};
use crate::model::{
    ElfInstance, ElfState, Event, Failure, FailureId, InstanceId, Job, JobId, Millis, Run, RunId, TaskSha, TaskVersion,
};
use crate::storage::rows::{CatalogRow, ClaimScan, JobRow, JobStats, LeaderRow, ResultRow, RunRow};
use crate::storage::seam::RECENT_JOBS;
use crate::storage::seam::Read;
use crate::storage::{Dep, EventQuery, FailureQuery, JobQuery, Result, RunQuery, Token};

/// A WHERE clause under construction.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Sql3>,
}

impl Filter {
    fn add(&mut self, clause: &str, value: impl Into<Sql3>) {
        self.params.push(value.into());
        self.clauses.push(clause.replace('?', &format!("?{}", self.params.len())));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

fn limit(n: Option<u32>) -> String {
    n.map_or_else(String::new, |n| format!(" LIMIT {n}"))
}

/// Ids, distinct and ascending.
fn distinct(ids: &[JobId]) -> Vec<JobId> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl Sql<'_> {
    /// Runs a query that yields `T`s.
    pub(super) fn many<T>(
        &self,
        what: &str,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let out = self.conn.prepare_cached(sql).and_then(|mut stmt| {
            stmt.query_map(params, map).and_then(|rows| rows.collect::<rusqlite::Result<Vec<T>>>())
        });
        self.ctx(what, out)
    }

    /// Runs a query with a filter built at run time (not cached).
    fn filtered<T>(
        &self,
        what: &str,
        sql: &str,
        f: Filter,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let out = self.conn.prepare(sql).and_then(|mut stmt| {
            stmt.query_map(params_from_iter(f.params), map).and_then(|rows| rows.collect::<rusqlite::Result<Vec<T>>>())
        });
        self.ctx(what, out)
    }

    /// Runs a query once per id and gathers the rows.
    fn per_id<T>(
        &self,
        what: &str,
        sql: &str,
        ids: &[JobId],
        mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let out = self.conn.prepare_cached(sql).and_then(|mut stmt| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let mut rows = stmt.query([id.0])?;
                while let Some(row) = rows.next()? {
                    out.push(map(row)?);
                }
            }
            Ok(out)
        });
        self.ctx(what, out)
    }
}

impl Read for Sql<'_> {
    fn run(&mut self, id: RunId) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {RUN_COLS}, idem_key, vstart, weight FROM runs WHERE id = ?1");
        let out = self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_row([id.0], |r| {
                Ok(RunRow { run: rows::run(r)?, idempotency_key: r.get(11)?, vstart: r.get(12)?, weight: r.get(13)? })
            })
            .optional()
        });
        self.ctx("read a run", out)
    }

    fn run_by_key(&mut self, key: &str) -> Result<Option<RunId>> {
        let out = self.conn.query_row("SELECT id FROM runs WHERE idem_key = ?1", [key], |r| r.get(0)).optional();
        Ok(self.ctx("find a run by its idempotency key", out)?.map(RunId))
    }

    fn runs(&mut self, q: &RunQuery) -> Result<Vec<Run>> {
        let mut f = Filter::default();
        if let Some(state) = q.state {
            f.add("state = ?", state.as_str().to_owned());
        }
        let sql = format!("SELECT {RUN_COLS} FROM runs{} ORDER BY id DESC{}", f.sql(), limit(q.limit));
        self.filtered("read runs", &sql, f, rows::run)
    }

    fn job_rows(&mut self, ids: &[JobId]) -> Result<Vec<JobRow>> {
        let sql = format!("SELECT {JOB_ROW_COLS} FROM jobs WHERE id = ?1");
        let mut policies = rows::Policies::default();
        self.per_id("read jobs", &sql, &distinct(ids), |r| rows::job_row_with(r, &mut policies))
    }

    fn jobs(&mut self, ids: &[JobId]) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1");
        self.per_id("read jobs", &sql, &distinct(ids), rows::job)
    }

    fn query_jobs(&mut self, q: &JobQuery) -> Result<Vec<Job>> {
        let mut f = Filter::default();
        if let Some(run) = q.run {
            f.add("run = ?", run.0);
        }
        if !q.states.is_empty() {
            let names: Vec<&str> = q.states.iter().map(|s| s.as_str()).collect();
            f.add("state IN (SELECT value FROM json_each(?))", json!(names).to_string());
        }
        if let Some(elf) = &q.elf {
            f.add("elf = ?", elf.clone());
        }
        if let Some(task) = &q.task {
            f.add("task = ?", task.clone());
        }
        if let Some(after) = q.after {
            f.add("id > ?", after.0);
        }
        let sql = format!("SELECT {JOB_COLS} FROM jobs{} ORDER BY id{}", f.sql(), limit(q.limit));
        self.filtered("read jobs", &sql, f, rows::job)
    }

    fn job_ids(&mut self, run: RunId) -> Result<Vec<JobId>> {
        self.many("read a run's jobs", "SELECT id FROM jobs WHERE run = ?1 ORDER BY id", [run.0], |r| {
            Ok(JobId(r.get(0)?))
        })
    }

    fn open_jobs(&mut self, run: RunId) -> Result<Vec<JobRow>> {
        self.many("read a run's open jobs", &OPEN_JOBS, [run.0], rows::job_row)
    }

    fn claimable(&mut self, scan: &ClaimScan<'_>) -> Result<Vec<(JobRow, Value)>> {
        let tasks = serde_json::to_string(scan.tasks).map_err(|e| self.bad_data("encode task names", e.to_string()))?;
        let mut policies = rows::Policies::default();
        self.many("find claimable jobs", &CLAIMABLE, params![scan.elf, scan.now, tasks, scan.max], |r| {
            Ok((rows::job_row_with(r, &mut policies)?, rows::json(r, 24)?))
        })
    }

    fn expired(&mut self, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        let mut policies = rows::Policies::default();
        self.many("find expired leases", &EXPIRED, params![now, limit], |r| rows::job_row_with(r, &mut policies))
    }

    fn held_by(&mut self, instance: &InstanceId) -> Result<Vec<JobRow>> {
        self.many("find an elf's jobs", &HELD_BY, [&instance.0], rows::job_row)
    }

    fn consumers(&mut self, producers: &[JobId]) -> Result<Vec<Dep>> {
        self.per_id(
            "read dependencies",
            "SELECT producer, consumer, path FROM deps WHERE producer = ?1",
            &distinct(producers),
            |r| Ok(Dep { producer: JobId(r.get(0)?), consumer: JobId(r.get(1)?), path: r.get(2)? }),
        )
    }

    fn producers(&mut self, consumers: &[JobId]) -> Result<Vec<Dep>> {
        self.per_id(
            "read dependencies",
            "SELECT producer, consumer, path FROM deps WHERE consumer = ?1",
            &distinct(consumers),
            |r| Ok(Dep { producer: JobId(r.get(0)?), consumer: JobId(r.get(1)?), path: r.get(2)? }),
        )
    }

    fn run_deps(&mut self, run: RunId) -> Result<Vec<Dep>> {
        self.many(
            "read dependencies",
            "SELECT d.producer, d.consumer, d.path FROM deps d JOIN jobs j ON j.id = d.consumer \
             WHERE j.run = ?1 ORDER BY d.consumer, d.path",
            [run.0],
            |r| Ok(Dep { producer: JobId(r.get(0)?), consumer: JobId(r.get(1)?), path: r.get(2)? }),
        )
    }

    fn results(&mut self, jobs: &[JobId]) -> Result<Vec<ResultRow>> {
        self.per_id("read results", "SELECT job, epoch, value, at FROM results WHERE job = ?1", &distinct(jobs), |r| {
            Ok(ResultRow { job: JobId(r.get(0)?), epoch: r.get(1)?, value: rows::json(r, 2)?, at: r.get(3)? })
        })
    }

    fn failure(&mut self, id: FailureId) -> Result<Option<Failure>> {
        let sql = format!("SELECT {FAILURE_COLS} FROM failures WHERE id = ?1");
        let out = self.conn.prepare_cached(&sql).and_then(|mut s| s.query_row([id.0], rows::failure).optional());
        self.ctx("read a failure", out)
    }

    fn failures(&mut self, q: &FailureQuery) -> Result<Vec<Failure>> {
        let mut f = Filter::default();
        if let Some(run) = q.run {
            f.add("run = ?", run.0);
        }
        if let Some(job) = q.job {
            f.add("job = ?", job.0);
        }
        if let Some(elf) = &q.elf {
            f.add("elf = ?", elf.clone());
        }
        if let Some(task) = &q.task {
            f.add("task = ?", task.clone());
        }
        if let Some(kind) = q.kind {
            f.add("kind = ?", kind.as_str().to_owned());
        }
        if let Some(since) = q.since {
            f.add("at >= ?", since);
        }
        let sql = format!("SELECT {FAILURE_COLS} FROM failures{} ORDER BY id DESC{}", f.sql(), limit(q.limit));
        self.filtered("read failures", &sql, f, rows::failure)
    }

    fn events(&mut self, q: &EventQuery) -> Result<Vec<Event>> {
        let mut f = Filter::default();
        f.add("seq > ?", q.after);
        if let Some(run) = q.run {
            // Job events are found through their jobs (events_job); only the
            // run's own events are indexed by run, sparing every job event
            // an index entry on the hot path.
            f.add("((job IS NULL AND run = ?) OR job IN (SELECT id FROM jobs WHERE run = ?))", run.0);
        }
        if let Some(job) = q.job {
            f.add("job = ?", job.0);
        }
        let sql = format!("SELECT {EVENT_COLS} FROM events{} ORDER BY seq LIMIT {}", f.sql(), q.limit.max(1));
        let out = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.query_map(params_from_iter(f.params), rows::event)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        });
        self.ctx("read events", out)
    }

    fn task_version(&mut self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        let sql = format!(
            "SELECT {TASK_COLS} FROM tasks t JOIN task_names n ON n.sha = t.sha WHERE t.sha = ?1 ORDER BY n.first_seen LIMIT 1"
        );
        let out =
            self.conn.prepare_cached(&sql).and_then(|mut s| s.query_row([sha.as_str()], rows::task_version).optional());
        self.ctx("read a task version", out)
    }

    fn task_versions(&mut self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        let sql = format!(
            "SELECT {TASK_COLS} FROM task_names n JOIN tasks t ON t.sha = n.sha WHERE n.elf = ?1 AND n.task = ?2 ORDER BY n.first_seen, t.sha"
        );
        self.many("read task versions", &sql, params![elf, task], rows::task_version)
    }

    fn elf(&mut self, instance: &InstanceId) -> Result<Option<ElfInstance>> {
        let sql = format!("SELECT {ELF_COLS} FROM elves WHERE instance = ?1");
        let out = self.conn.prepare_cached(&sql).and_then(|mut s| s.query_row([&instance.0], rows::elf).optional());
        self.ctx("read an elf", out)
    }

    fn elves(&mut self, state: Option<ElfState>) -> Result<Vec<ElfInstance>> {
        match state {
            Some(st) => {
                let sql = format!("SELECT {ELF_COLS} FROM elves WHERE state = ?1 ORDER BY started_at DESC, instance");
                self.many("read elves", &sql, [st.as_str()], rows::elf)
            }
            None => {
                let sql = format!("SELECT {ELF_COLS} FROM elves ORDER BY started_at DESC, instance");
                self.many("read elves", &sql, [], rows::elf)
            }
        }
    }

    fn leader(&mut self, role: &str) -> Result<Option<LeaderRow>> {
        let out = self.conn.prepare_cached("SELECT role, holder, lease_until FROM leader WHERE role = ?1").and_then(
            |mut s| {
                s.query_row([role], |r| Ok(LeaderRow { role: r.get(0)?, holder: r.get(1)?, until: r.get(2)? }))
                    .optional()
            },
        );
        self.ctx("read the leader", out)
    }

    fn tokens(&mut self) -> Result<Vec<Token>> {
        self.many(
            "read tokens",
            "SELECT name, scope, hash, created_at, revoked_at FROM tokens ORDER BY created_at, rowid",
            [],
            |r| {
                let scope: String = r.get(1)?;
                Ok(Token {
                    name: r.get(0)?,
                    scope: scope.parse().map_err(|e: String| {
                        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
                    })?,
                    hash: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            },
        )
    }

    fn catalog(&mut self, kind: &str, prefix: &str) -> Result<Vec<CatalogRow>> {
        self.read_catalog(kind, prefix)
    }

    fn job_stats(&mut self, query: &JobQuery) -> Result<JobStats> {
        self.count_jobs(query)
    }

    fn vtime(&mut self) -> Result<i64> {
        let out = self
            .conn
            .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = ?1")
            .and_then(|mut s| s.query_row([super::schema::VTIME_ROW], |r| r.get::<_, i64>(0)).optional());
        Ok(self.ctx("read the virtual time", out)?.unwrap_or(0))
    }

    fn recent_durations(&mut self, elf: &str, task: &str, limit: u32) -> Result<Vec<u64>> {
        self.many("read recent durations", &RECENT_DURATIONS, params![elf, task, limit, RECENT_JOBS], |r| {
            Ok(r.get::<_, i64>(0)?.max(0) as u64)
        })
    }
}
