//! A submitted run: waiting for outputs, following progress.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Error;
use crate::model::{JobId, JobState, RunId, RunState, Submitted};
use crate::storage::{self, FailureQuery, Store};
use crate::task::{Output, Source};

/// How often waiting checks whether anything was committed.
const POLL: Duration = Duration::from_millis(1);

/// A submitted run.
#[derive(Debug, Clone)]
pub struct Run {
    store: Arc<dyn Store>,
    id: RunId,
    jobs: Vec<JobId>,
    builder: Option<u64>,
}

/// How far a run has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The run.
    pub run: RunId,
    /// Its state.
    pub state: RunState,
    /// Jobs in all.
    pub total: u64,
    /// Jobs not final yet.
    pub open: u64,
    /// Jobs that failed, could not run or were cancelled.
    pub failed: u64,
}

impl Run {
    pub(super) fn new(store: Arc<dyn Store>, submitted: Submitted, builder: u64) -> Self {
        Self { store, id: submitted.run, jobs: submitted.jobs, builder: Some(builder) }
    }

    pub(super) fn attach(store: Arc<dyn Store>, id: RunId) -> Self {
        Self { store, id, jobs: Vec::new(), builder: None }
    }

    /// The run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// The job ids, in call order.
    pub fn jobs(&self) -> &[JobId] {
        &self.jobs
    }

    /// The output bound to its job id, usable in later orchestrations.
    pub fn output<T>(&self, out: &Output<T>) -> Result<Output<T>, Error> {
        Ok(Output::<T>::of_job(self.job_of(out)?).at(&out.path))
    }

    fn job_of<T>(&self, out: &Output<T>) -> Result<JobId, Error> {
        match out.source {
            Source::Job(j) => Ok(j),
            Source::Local { builder, index } if Some(builder) == self.builder => {
                self.jobs.get(index).copied().ok_or(Error::NotInRun { run: self.id })
            }
            Source::Local { .. } => Err(Error::NotInRun { run: self.id }),
        }
    }

    /// Waits for `out`'s value.
    pub async fn wait<T: DeserializeOwned + Send + 'static>(&self, out: &Output<T>) -> Result<T, Error> {
        let job = self.job_of(out)?;
        let mut seen = i64::MIN;
        loop {
            if let Some(value) = self.poll::<T>(job, &out.path, &mut seen)? {
                return Ok(value);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// [`Run::wait`] for code without a runtime.
    pub fn wait_blocking<T: DeserializeOwned>(&self, out: &Output<T>) -> Result<T, Error> {
        let job = self.job_of(out)?;
        let mut seen = i64::MIN;
        loop {
            if let Some(value) = self.poll::<T>(job, &out.path, &mut seen)? {
                return Ok(value);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Looks at the job only when something was committed since `seen`.
    fn poll<T: DeserializeOwned>(&self, job: JobId, path: &str, seen: &mut i64) -> Result<Option<T>, Error> {
        let v = self.store.change_counter()?;
        if v == *seen {
            return Ok(None);
        }
        *seen = v;
        self.settled(job, path)
    }

    /// The value if the job succeeded, an error if it can never succeed,
    /// `None` while it may still.
    fn settled<T: DeserializeOwned>(&self, job: JobId, path: &str) -> Result<Option<T>, Error> {
        let j = self.store.job(job)?.ok_or(storage::Error::UnknownJob(job))?;
        match j.state {
            JobState::Succeeded => {
                let whole = self.store.result(job)?.unwrap_or(serde_json::Value::Null);
                let part = whole.pointer(path).cloned().unwrap_or(serde_json::Value::Null);
                serde_json::from_value(part).map(Some).map_err(|e| Error::Decode {
                    job,
                    ty: std::any::type_name::<T>(),
                    problem: e.to_string(),
                })
            }
            s if s.is_final() => {
                let last =
                    self.store.failures(&FailureQuery { job: Some(job), limit: Some(1), ..Default::default() })?;
                let last = last.into_iter().next();
                Err(Error::JobFailed {
                    job,
                    task: format!("{}/{}", j.elf, j.task),
                    state: s.to_string(),
                    failure: last.as_ref().map(|f| f.id),
                    message: last.map(|f| f.report.message),
                })
            }
            _ => Ok(None),
        }
    }

    /// The run's progress now.
    pub fn progress(&self) -> Result<Progress, Error> {
        let r = self.store.run(self.id)?.ok_or(storage::Error::UnknownRun(self.id))?;
        Ok(Progress { run: r.id, state: r.state, total: r.total, open: r.open, failed: r.failed })
    }

    /// Calls `on_progress` whenever the run advances, until it ends; returns
    /// its final progress.
    pub async fn follow(&self, mut on_progress: impl FnMut(&Progress)) -> Result<Progress, Error> {
        let mut last: Option<Progress> = None;
        loop {
            let p = self.progress()?;
            if last.as_ref() != Some(&p) {
                on_progress(&p);
            }
            if p.state.is_final() {
                return Ok(p);
            }
            last = Some(p);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the run ends; returns its final progress.
    pub async fn finished(&self) -> Result<Progress, Error> {
        self.follow(|_| {}).await
    }

    /// Every job's value, by job id, for the jobs that succeeded (one read).
    pub fn values(&self) -> Result<HashMap<JobId, serde_json::Value>, Error> {
        Ok(self.store.results(&self.jobs)?.into_iter().collect())
    }
}
