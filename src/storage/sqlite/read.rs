//! Reads: every query that changes nothing, on the read connection.

use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde_json::{Value, json};

use super::SqliteStore;
use super::rows::{self, ELF_COLS, EVENT_COLS, FAILURE_COLS, JOB_COLS, RUN_COLS, TASK_COLS};
use crate::model::{ElfInstance, Event, Failure, FailureId, Job, JobId, Run, RunId, TaskSha, TaskVersion};
use crate::storage::{Dep, EventQuery, FailureQuery, JobQuery, Result, RunQuery};

/// A WHERE clause under construction.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Sql>,
}

impl Filter {
    fn add(&mut self, clause: &str, value: impl Into<Sql>) {
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

impl SqliteStore {
    pub(super) fn read_task(&self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        let conn = self.reader();
        let sql = format!(
            "SELECT {TASK_COLS} FROM tasks t JOIN task_names n ON n.sha = t.sha WHERE t.sha = ?1 ORDER BY n.first_seen LIMIT 1"
        );
        conn.prepare_cached(&sql)?
            .query_row([sha.as_str()], rows::task_version)
            .optional()
            .map_err(self.err("read a task version"))
    }

    pub(super) fn read_task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        let conn = self.reader();
        let sql = format!(
            "SELECT {TASK_COLS} FROM task_names n JOIN tasks t ON t.sha = n.sha WHERE n.elf = ?1 AND n.task = ?2 ORDER BY n.first_seen, t.sha"
        );
        let out = conn
            .prepare_cached(&sql)?
            .query_map(params![elf, task], rows::task_version)?
            .collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read task versions"))
    }

    pub(super) fn read_elves(&self) -> Result<Vec<ElfInstance>> {
        let conn = self.reader();
        let sql = format!("SELECT {ELF_COLS} FROM elves ORDER BY started_at DESC, instance");
        let out = conn.prepare_cached(&sql)?.query_map([], rows::elf)?.collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read elves"))
    }

    pub(super) fn read_run(&self, id: RunId) -> Result<Option<Run>> {
        let conn = self.reader();
        let sql = format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1");
        conn.prepare_cached(&sql)?.query_row([id.0], rows::run).optional().map_err(self.err("read a run"))
    }

    pub(super) fn read_runs(&self, q: &RunQuery) -> Result<Vec<Run>> {
        let mut f = Filter::default();
        if let Some(state) = q.state {
            f.add("state = ?", state.as_str().to_owned());
        }
        let sql = format!("SELECT {RUN_COLS} FROM runs{} ORDER BY id DESC{}", f.sql(), limit(q.limit));
        let conn = self.reader();
        let out =
            conn.prepare(&sql)?.query_map(params_from_iter(f.params), rows::run)?.collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read runs"))
    }

    pub(super) fn read_job(&self, id: JobId) -> Result<Option<Job>> {
        let conn = self.reader();
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1");
        conn.prepare_cached(&sql)?.query_row([id.0], rows::job).optional().map_err(self.err("read a job"))
    }

    pub(super) fn read_jobs(&self, q: &JobQuery) -> Result<Vec<Job>> {
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
        let conn = self.reader();
        let out =
            conn.prepare(&sql)?.query_map(params_from_iter(f.params), rows::job)?.collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read jobs"))
    }

    pub(super) fn read_deps(&self, run: RunId) -> Result<Vec<Dep>> {
        let conn = self.reader();
        let out = conn
            .prepare_cached(
                "SELECT d.producer, d.consumer, d.path FROM deps d JOIN jobs j ON j.id = d.consumer \
                 WHERE j.run = ?1 ORDER BY d.consumer, d.path",
            )?
            .query_map([run.0], |r| {
                Ok(Dep { producer: JobId(r.get(0)?), consumer: JobId(r.get(1)?), path: r.get(2)? })
            })?
            .collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read dependencies"))
    }

    pub(super) fn read_result(&self, job: JobId) -> Result<Option<Value>> {
        let conn = self.reader();
        conn.prepare_cached("SELECT value FROM results WHERE job = ?1")?
            .query_row([job.0], |r| rows::json(r, 0))
            .optional()
            .map_err(self.err("read a result"))
    }

    pub(super) fn read_results(&self, jobs: &[JobId]) -> Result<Vec<(JobId, Value)>> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
        let conn = self.reader();
        let out = conn
            .prepare_cached(
                "SELECT job, value FROM results WHERE job IN (SELECT value FROM json_each(?1)) ORDER BY job",
            )?
            .query_map([json!(ids).to_string()], |r| Ok((JobId(r.get(0)?), rows::json(r, 1)?)))?
            .collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read results"))
    }

    pub(super) fn read_failure(&self, id: FailureId) -> Result<Option<Failure>> {
        let conn = self.reader();
        let sql = format!("SELECT {FAILURE_COLS} FROM failures WHERE id = ?1");
        conn.prepare_cached(&sql)?.query_row([id.0], rows::failure).optional().map_err(self.err("read a failure"))
    }

    pub(super) fn read_failures(&self, q: &FailureQuery) -> Result<Vec<Failure>> {
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
        let conn = self.reader();
        let out =
            conn.prepare(&sql)?.query_map(params_from_iter(f.params), rows::failure)?.collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read failures"))
    }

    pub(super) fn read_events(&self, q: &EventQuery) -> Result<Vec<Event>> {
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
        let conn = self.reader();
        let out = conn
            .prepare_cached(&sql)?
            .query_map(params_from_iter(f.params), rows::event)?
            .collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read events"))
    }

    pub(super) fn data_version(&self) -> Result<i64> {
        let conn = self.reader();
        conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(self.err("read the data version"))
    }
}
