//! Retention on ArangoDB: the seam's [`RetentionRead`] and [`RetentionTx`],
//! one query per collection inside the write's Stream Transaction.

use serde_json::{Value, json};

use super::aql::{self, Query};
use super::docs;
use super::view::View;
use crate::model::{ElfState, JobId, Millis, RunId, RunState, TaskSha};
use crate::storage::retention_seam::{Deleted, RetentionRead, RetentionTx};
use crate::storage::{Error, Result};

impl RetentionRead for View<'_> {
    fn finished_runs(&mut self, before: Millis, limit: u32) -> Result<Vec<RunId>> {
        let states = [RunState::Succeeded, RunState::Failed, RunState::Cancelled].map(RunState::as_str);
        let q = Query::new("find finished runs", aql::FINISHED_RUNS)
            .bind("states", json!(states))
            .bind("before", before)
            .bind("limit", limit);
        self.rows(q)?.iter().map(|v| v.as_i64().map(RunId).ok_or_else(|| bad("a run id", v))).collect()
    }

    fn unreferenced_versions(&mut self) -> Result<(Vec<TaskSha>, JobId)> {
        let q = Query::new("find unreferenced task versions", aql::UNREFERENCED_VERSIONS)
            .bind("running", ElfState::Running.as_str());
        let row = self.rows(q)?.into_iter().next().unwrap_or(Value::Null);
        let shas = row["shas"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).filter_map(|s| TaskSha::try_from(s.to_owned()).ok()).collect())
            .unwrap_or_default();
        Ok((shas, JobId(row["last"].as_i64().unwrap_or(0))))
    }
}

fn bad(what: &str, v: &Value) -> Error {
    Error::backend("find finished runs", std::io::Error::other(format!("{what} is not an integer: {v}")))
}

impl RetentionTx for View<'_> {
    fn delete_runs(&mut self, runs: &[RunId], max_jobs: u32, keep_failures: bool) -> Result<Deleted> {
        let mut d = Deleted::default();
        let mut budget = max_jobs.max(1);
        for run in runs {
            let q = Query::new("delete jobs", aql::REMOVE_SOME_RUN_JOBS).bind("run", run.0).bind("limit", budget);
            let jobs: Vec<JobId> = self
                .rows(q)?
                .iter()
                .map(|v| v.as_i64().map(JobId).ok_or_else(|| bad("a job id", v)))
                .collect::<Result<_>>()?;
            if !jobs.is_empty() {
                d.jobs += jobs.len() as u64;
                let keys: Vec<String> = jobs.iter().map(|j| j.0.to_string()).collect();
                let handles: Vec<String> = jobs.iter().map(|j| docs::job_handle(*j)).collect();
                let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
                d.results += self
                    .rows(Query::new("delete results", aql::REMOVE_RESULTS).bind("keys", json!(keys)))?
                    .len() as u64;
                self.rows(Query::new("delete edges", aql::REMOVE_DEPS).bind("handles", json!(handles)))?;
                d.events += self
                    .rows(Query::new("delete events", aql::REMOVE_JOB_EVENTS).bind("jobs", json!(ids)))?
                    .len() as u64;
                // Flows' histories and signals go with their jobs.
                self.rows(Query::new("delete flows' histories", aql::REMOVE_FLOW_STEPS).bind("jobs", json!(ids)))?;
                self.rows(Query::new("delete flows' signals", aql::REMOVE_FLOW_SIGNALS).bind("jobs", json!(ids)))?;
                if !keep_failures {
                    let q = Query::new("delete failures", aql::REMOVE_JOB_FAILURES).bind("jobs", json!(ids));
                    d.failures += self.rows(q)?.len() as u64;
                }
            }
            let taken = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
            if taken == budget {
                // Perhaps more are left: the next write goes on.
                break;
            }
            budget -= taken;
            let one = json!([run.0]);
            d.events +=
                self.rows(Query::new("delete events", aql::REMOVE_RUN_EVENTS).bind("runs", one.clone()))?.len() as u64;
            if !keep_failures {
                d.failures += self
                    .rows(Query::new("delete failures", aql::REMOVE_FAILURES).bind("runs", one.clone()))?
                    .len() as u64;
            }
            d.runs += self.rows(Query::new("delete runs", aql::REMOVE_RUNS).bind("runs", one))?.len() as u64;
        }
        Ok(d)
    }

    fn delete_versions(&mut self, shas: &[TaskSha], after: JobId) -> Result<u64> {
        let list: Vec<&str> = shas.iter().map(TaskSha::as_str).collect();
        let q = Query::new("find unreferenced task versions", aql::VERSIONS_TO_DELETE)
            .bind("after", after.0)
            .bind("shas", json!(list))
            .bind("running", ElfState::Running.as_str());
        let gone: Vec<Value> = self.rows(q)?;
        if gone.is_empty() {
            return Ok(0);
        }
        self.rows(Query::new("delete task names", aql::REMOVE_VERSION_NAMES).bind("shas", json!(gone)))?;
        Ok(self.rows(Query::new("delete task versions", aql::REMOVE_VERSIONS).bind("shas", json!(gone)))?.len() as u64)
    }
}
