//! Retention on ArangoDB: the seam's [`RetentionRead`] and [`RetentionTx`],
//! one query per collection inside the write's Stream Transaction.

use serde_json::{Value, json};

use super::aql::{self, Query};
use super::docs;
use super::view::View;
use crate::model::{JobId, Millis, RunId, RunState};
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
}

fn bad(what: &str, v: &Value) -> Error {
    Error::backend("find finished runs", std::io::Error::other(format!("{what} is not an integer: {v}")))
}

impl RetentionTx for View<'_> {
    fn delete_runs(&mut self, runs: &[RunId], keep_failures: bool) -> Result<Deleted> {
        let ids: Vec<i64> = runs.iter().map(|r| r.0).collect();
        let mut d = Deleted::default();
        let jobs: Vec<JobId> = self
            .rows(Query::new("delete jobs", aql::REMOVE_RUN_JOBS).bind("runs", json!(ids)))?
            .iter()
            .map(|v| v.as_i64().map(JobId).ok_or_else(|| bad("a job id", v)))
            .collect::<Result<_>>()?;
        d.jobs = jobs.len() as u64;
        let keys: Vec<String> = jobs.iter().map(|j| j.0.to_string()).collect();
        let handles: Vec<String> = jobs.iter().map(|j| docs::job_handle(*j)).collect();
        let job_ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
        d.results =
            self.rows(Query::new("delete results", aql::REMOVE_RESULTS).bind("keys", json!(keys)))?.len() as u64;
        self.rows(Query::new("delete edges", aql::REMOVE_DEPS).bind("handles", json!(handles)))?;
        d.events =
            self.rows(Query::new("delete events", aql::REMOVE_RUN_EVENTS).bind("runs", json!(ids)))?.len() as u64;
        d.events +=
            self.rows(Query::new("delete events", aql::REMOVE_JOB_EVENTS).bind("jobs", json!(job_ids)))?.len() as u64;
        // Flows' histories and signals go with their jobs.
        self.rows(Query::new("delete flows' histories", aql::REMOVE_FLOW_STEPS).bind("jobs", json!(job_ids)))?;
        self.rows(Query::new("delete flows' signals", aql::REMOVE_FLOW_SIGNALS).bind("jobs", json!(job_ids)))?;
        if !keep_failures {
            d.failures =
                self.rows(Query::new("delete failures", aql::REMOVE_FAILURES).bind("runs", json!(ids)))?.len() as u64;
        }
        d.runs = self.rows(Query::new("delete runs", aql::REMOVE_RUNS).bind("runs", json!(ids)))?.len() as u64;
        Ok(d)
    }
}
