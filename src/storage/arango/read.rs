//! Reads: one AQL query each, on one snapshot.

use serde_json::Value;

use super::{ArangoStore, aql, docs};
use crate::model::{ElfInstance, Event, Failure, FailureId, Job, JobId, Run, RunId, TaskSha, TaskVersion};
use crate::storage::{Dep, EventQuery, FailureQuery, JobQuery, Result, RunQuery};

fn some(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

impl ArangoStore {
    pub(super) fn read_task(&self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        some(self.query_one("read a task version", &aql::task_version(sha))?)
            .map(|v| docs::plain("task version", v))
            .transpose()
    }

    pub(super) fn read_task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        docs::all(self.query("read task versions", &aql::task_versions(elf, task))?, |v| docs::plain("task version", v))
    }

    pub(super) fn read_elves(&self) -> Result<Vec<ElfInstance>> {
        docs::all(self.query("read elves", &aql::elves())?, |v| docs::plain("elf instance", v))
    }

    pub(super) fn read_run(&self, id: RunId) -> Result<Option<Run>> {
        some(self.query_one("read a run", &aql::document("runs", &id.0.to_string()))?)
            .map(|v| docs::plain("run", v))
            .transpose()
    }

    pub(super) fn read_runs(&self, q: &RunQuery) -> Result<Vec<Run>> {
        docs::all(self.query("read runs", &aql::runs(q))?, |v| docs::plain("run", v))
    }

    pub(super) fn read_job(&self, id: JobId) -> Result<Option<Job>> {
        some(self.query_one("read a job", &aql::document("jobs", &id.0.to_string()))?).map(docs::job).transpose()
    }

    pub(super) fn read_jobs(&self, q: &JobQuery) -> Result<Vec<Job>> {
        docs::all(self.query("read jobs", &aql::jobs(q))?, docs::job)
    }

    pub(super) fn read_deps(&self, run: RunId) -> Result<Vec<Dep>> {
        docs::all(self.query("read dependencies", &aql::deps(run))?, |v| docs::plain("dependency", v))
    }

    pub(super) fn read_result(&self, job: JobId) -> Result<Option<Value>> {
        Ok(self.read_results(&[job])?.into_iter().next().map(|(_, v)| v))
    }

    pub(super) fn read_results(&self, jobs: &[JobId]) -> Result<Vec<(JobId, Value)>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        docs::all(self.query("read results", &aql::results(jobs))?, |row| {
            let (job, value): (f64, Value) =
                serde_json::from_value(row).map_err(|e| crate::storage::Error::backend("decode a result", e))?;
            Ok((JobId(job as i64), docs::payload("result", value)?))
        })
    }

    pub(super) fn read_failure(&self, id: FailureId) -> Result<Option<Failure>> {
        some(self.query_one("read a failure", &aql::document("failures", &id.0.to_string()))?)
            .map(docs::failure)
            .transpose()
    }

    pub(super) fn read_failures(&self, q: &FailureQuery) -> Result<Vec<Failure>> {
        docs::all(self.query("read failures", &aql::failures(q))?, docs::failure)
    }

    pub(super) fn read_events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        docs::all(self.query("read events", &aql::events(q))?, docs::event)
    }

    pub(super) fn read_counter(&self) -> Result<i64> {
        Ok(self.query_one("read the change counter", &aql::counter())?.as_f64().map_or(0, |v| v as i64))
    }
}
