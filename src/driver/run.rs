//! A submitted run: waiting for outputs, following progress.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::Error;
use crate::lifecycle::outage::Outage;
use crate::model::{JobId, JobState, RunId, RunState, Submitted};
use crate::storage::{self, FailureQuery, Store, Unserved};
use crate::task::{Output, Source};

/// How long a run may sit without progress before a wait says why.
const STALL: Duration = Duration::from_secs(2);

/// A submitted run.
#[derive(Debug, Clone)]
pub struct RunHandle {
    store: Store,
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

impl RunHandle {
    pub(super) fn new(store: Store, submitted: Submitted, builder: u64) -> Self {
        Self { store, id: submitted.run, jobs: submitted.jobs, builder: Some(builder) }
    }

    /// The run `id` with `jobs`, made by orchestration `builder`.
    pub(super) fn from_parts(store: Store, id: RunId, jobs: Vec<JobId>, builder: Option<u64>) -> Self {
        Self { store, id, jobs, builder }
    }

    /// The run `id` with its jobs, as stored.
    pub(super) fn attach(store: Store, id: RunId) -> Result<Self, Error> {
        if store.run(id)?.is_none() {
            return Err(storage::Error::UnknownRun(id).into());
        }
        let jobs = store.job_ids(id)?;
        Ok(Self { store, id, jobs, builder: None })
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
        self.wait_for(out, None).await
    }

    /// Waits for `out`'s value at most `timeout` (forever when `None`).
    pub async fn wait_for<T: DeserializeOwned + Send + 'static>(
        &self,
        out: &Output<T>,
        timeout: Option<Duration>,
    ) -> Result<T, Error> {
        let job = self.job_of(out)?;
        let path = out.path.clone();
        self.until(timeout, move |run| run.settled::<T>(job, &path)).await
    }

    /// [`RunHandle::wait`] for code without a runtime.
    pub fn wait_blocking<T: DeserializeOwned>(&self, out: &Output<T>) -> Result<T, Error> {
        let job = self.job_of(out)?;
        let mut seen = i64::MIN;
        let mut outage = Outage::default();
        loop {
            let looked = self.store.change_counter().map_err(Error::from).and_then(|v| {
                if v == seen {
                    return Ok(None);
                }
                let settled = self.settled::<T>(job, &out.path)?;
                seen = v;
                Ok(settled)
            });
            let pause = match looked {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {
                    outage.recovered("wait for a run");
                    self.store.describe().poll.0
                }
                // An outage of the store is waited out, like a slow run.
                Err(Error::Storage(e)) if e.is_retryable() => outage.failed("wait for a run", &e),
                Err(e) => return Err(e),
            };
            std::thread::sleep(pause);
        }
    }

    /// Looks again whenever the store changes, until `check` answers, the
    /// run stalls (said once, naming the tasks no elf serves) or `timeout`
    /// passes.
    async fn until<T>(
        &self,
        timeout: Option<Duration>,
        check: impl Fn(&RunHandle) -> Result<Option<T>, Error>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        // Unreadable now (an outage): the first change wakes the first look.
        let mut seen = self.store.change_counter().unwrap_or(i64::MIN);
        let mut last_change = Instant::now();
        let mut warned = false;
        // An outage of the store is waited out, like a slow run: retried
        // with a growing wait, logged once, bounded by `timeout` only.
        let mut outage = Outage::default();
        loop {
            let backoff = match check(self) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {
                    outage.recovered("wait for a run");
                    None
                }
                Err(Error::Storage(e)) if e.is_retryable() => Some(outage.failed("wait for a run", &e)),
                Err(e) => return Err(e),
            };
            let left = match timeout {
                Some(t) => match t.checked_sub(started.elapsed()) {
                    Some(left) => Some(left),
                    None => return Err(Error::Timeout { run: self.id, waited: t }),
                },
                None => None,
            };
            if let Some(backoff) = backoff {
                tokio::time::sleep(left.map_or(backoff, |l| l.min(backoff))).await;
                continue;
            }
            let wake = left.unwrap_or(STALL).min(STALL);
            match tokio::time::timeout(wake, self.store.changed(seen)).await {
                Ok(Ok(v)) => {
                    seen = v;
                    last_change = Instant::now();
                }
                Ok(Err(e)) if e.is_retryable() => {
                    let backoff = outage.failed("wait for a run", &e);
                    tokio::time::sleep(left.map_or(backoff, |l| l.min(backoff))).await;
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) if !warned && last_change.elapsed() >= STALL => {
                    // Advice only: a store that cannot answer now is asked
                    // again at the next stall.
                    let unserved = match self.unserved() {
                        Ok(u) => u,
                        Err(Error::Storage(e)) if e.is_retryable() => Vec::new(),
                        Err(e) => return Err(e),
                    };
                    for u in &unserved {
                        eprintln!("mycelium: run {} waits: {}", self.id, u.advice());
                    }
                    warned = !unserved.is_empty();
                }
                Err(_) => {}
            }
        }
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

    /// The tasks whose ready jobs no running elf instance serves: why a run
    /// may not move.
    pub fn unserved(&self) -> Result<Vec<Unserved>, Error> {
        Ok(self.store.unserved(self.id)?)
    }

    /// Calls `on_progress` whenever the run advances, until it ends; returns
    /// its final progress.
    pub async fn follow(&self, mut on_progress: impl FnMut(&Progress)) -> Result<Progress, Error> {
        self.follow_for(None, &mut on_progress).await
    }

    async fn follow_for(
        &self,
        timeout: Option<Duration>,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Progress, Error> {
        let last: std::cell::RefCell<Option<Progress>> = std::cell::RefCell::new(None);
        let on_progress = std::cell::RefCell::new(on_progress);
        self.until(timeout, |run| {
            let p = run.progress()?;
            if last.borrow().as_ref() != Some(&p) {
                (on_progress.borrow_mut())(&p);
            }
            let done = p.state.is_final();
            *last.borrow_mut() = Some(p.clone());
            Ok(done.then_some(p))
        })
        .await
    }

    /// Waits until the run ends; returns its final progress.
    pub async fn finished(&self) -> Result<Progress, Error> {
        self.follow_for(None, &mut |_| {}).await
    }

    /// Waits at most `timeout` for the run to end.
    pub async fn finished_within(&self, timeout: Duration) -> Result<Progress, Error> {
        self.follow_for(Some(timeout), &mut |_| {}).await
    }

    /// Every job's value, by job id, for the jobs that succeeded (one read).
    pub fn values(&self) -> Result<HashMap<JobId, serde_json::Value>, Error> {
        Ok(self.store.results(&self.jobs)?.into_iter().collect())
    }
}
