//! RPC over signals: a call emits a [`Request`](super::Request) and gathers
//! the values of the receivers that answer, per responder, until a deadline
//! that belongs to the call alone.
//!
//! Each receiver's answer is its delivery job's result, so answers are
//! durable and every responder is known by elf, task and instance. At the
//! deadline the deliveries that have not answered are cancelled (their
//! answers would come too late to matter); nothing else is. The deadline is
//! a timer inside the call's own future: once the call returns, nothing of
//! it is left armed (MicroAgent's stale timeout cancelled the caller's next
//! unrelated await).

use std::collections::{HashSet, VecDeque};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::client::{Bus, Error};
use super::{Delivery, Emission, Emitted};
use crate::model::{FailureId, InstanceId, JobId, JobState, Millis, RunId};
use crate::storage::{self, FailureQuery, JobQuery};

/// How long a call waits for answers unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One receiver's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer<R> {
    /// The elf that answered.
    pub elf: String,
    /// Its receiving task.
    pub task: String,
    /// The instance that ran it.
    pub instance: Option<InstanceId>,
    /// The delivery's job.
    pub job: JobId,
    /// When the answer was stored.
    pub at: Option<Millis>,
    /// The answer.
    pub value: R,
}

/// A receiver that did not answer: its delivery failed, its answer did not
/// decode, or the deadline came first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unanswered {
    /// The elf.
    pub elf: String,
    /// The task.
    pub task: String,
    /// The delivery's job.
    pub job: JobId,
    /// Why.
    pub reason: String,
    /// The failure, when the delivery failed.
    pub failure: Option<FailureId>,
}

/// What a call gathered by its deadline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gathered<R> {
    /// The request's signal.
    pub signal: String,
    /// The run of its deliveries (none when nobody subscribes).
    pub run: Option<RunId>,
    /// Answers, in the order they arrived.
    pub answers: Vec<Answer<R>>,
    /// Receivers that did not answer, and why.
    pub unanswered: Vec<Unanswered>,
}

/// A call being built: `bus.call(&request).timeout(d).await`, or
/// `.stream().await` for answers as they come.
#[must_use = "a call does nothing until awaited"]
pub struct Rpc<R> {
    bus: Bus,
    signal: String,
    payload: Result<Value, String>,
    key: Option<String>,
    timeout: Duration,
    _r: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Rpc<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc").field("signal", &self.signal).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned + Send + 'static> Rpc<R> {
    pub(super) fn new(bus: Bus, signal: String, payload: Result<Value, String>, key: Option<String>) -> Self {
        Self { bus, signal, payload, key, timeout: DEFAULT_TIMEOUT, _r: PhantomData }
    }

    /// Waits at most `d` for answers (10 s by default).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// An idempotency key: calling again with it gathers the first call's
    /// deliveries instead of emitting again.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Emits the request and returns its answers as they come.
    pub async fn stream(self) -> Result<Answers<R>, Error> {
        let deadline = Instant::now() + self.timeout;
        let payload =
            self.payload.map_err(|problem| Error::Encode { what: format!("signal `{}`", self.signal), problem })?;
        let (name, key, sender) = (self.signal.clone(), self.key.clone(), self.bus.sender().to_owned());
        let emitted = self
            .bus
            .store()
            .call(move |s| s.emit(&Emission { signal: &name, payload: &payload, key: key.as_deref(), sender: &sender }))
            .await?;
        self.bus.ring(&emitted.readied);
        Ok(Answers::new(self.bus, emitted, deadline, self.timeout))
    }

    /// Emits the request and gathers every answer that arrives by the
    /// deadline (or until every receiver has answered or failed).
    pub async fn gather(self) -> Result<Gathered<R>, Error> {
        let mut answers = self.stream().await?;
        let mut out = Vec::new();
        while let Some(a) = answers.next().await {
            out.push(a?);
        }
        Ok(answers.finish(out))
    }
}

impl<R: DeserializeOwned + Send + 'static> IntoFuture for Rpc<R> {
    type Output = Result<Gathered<R>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.gather())
    }
}

/// A call's answers as they come: `while let Some(a) = answers.next().await`.
/// Ends at the deadline or when every receiver has answered or failed.
pub struct Answers<R> {
    bus: Bus,
    emitted: Emitted,
    deadline: Instant,
    timeout: Duration,
    /// Deliveries settled (answered or not).
    settled: HashSet<JobId>,
    ready: VecDeque<Answer<R>>,
    unanswered: Vec<Unanswered>,
    seen: i64,
    done: bool,
}

impl<R> std::fmt::Debug for Answers<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers").field("emitted", &self.emitted).finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned + Send + 'static> Answers<R> {
    fn new(bus: Bus, emitted: Emitted, deadline: Instant, timeout: Duration) -> Self {
        let done = emitted.deliveries.is_empty();
        Self {
            bus,
            emitted,
            deadline,
            timeout,
            settled: HashSet::new(),
            ready: VecDeque::new(),
            unanswered: Vec::new(),
            seen: i64::MIN,
            done,
        }
    }

    /// The emission: its run and deliveries.
    pub fn emitted(&self) -> &Emitted {
        &self.emitted
    }

    /// The next answer, `None` once every receiver has answered or failed,
    /// or the deadline has passed.
    pub async fn next(&mut self) -> Option<Result<Answer<R>, Error>> {
        loop {
            if let Some(a) = self.ready.pop_front() {
                return Some(Ok(a));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.poll_store().await {
                self.done = true;
                return Some(Err(e));
            }
            if !self.ready.is_empty() {
                continue;
            }
            if self.settled.len() == self.emitted.deliveries.len() {
                self.done = true;
                continue;
            }
            let now = Instant::now();
            if now >= self.deadline {
                self.expire().await;
                self.done = true;
                continue;
            }
            let store = self.bus.store().clone();
            let wait = (self.deadline - now).min(Duration::from_millis(50));
            if let Ok(Ok(v)) = tokio::time::timeout(wait, store.changed(self.seen)).await {
                self.seen = v;
            }
        }
    }

    /// Reads the deliveries that settled since the last look.
    async fn poll_store(&mut self) -> Result<(), Error> {
        let Some(run) = self.emitted.run else { return Ok(()) };
        let settled: Vec<JobId> = self.settled.iter().copied().collect();
        let (jobs, results, failures) = self
            .bus
            .store()
            .call(move |s| {
                let seen = s.change_counter()?;
                let jobs: Vec<crate::model::Job> = s
                    .jobs(&JobQuery { run: Some(run), ..JobQuery::default() })?
                    .into_iter()
                    .filter(|j| j.state.is_final() && !settled.contains(&j.id))
                    .collect();
                let ok: Vec<JobId> = jobs.iter().filter(|j| j.state == JobState::Succeeded).map(|j| j.id).collect();
                let results = s.results(&ok)?;
                let mut failures = Vec::new();
                for j in jobs.iter().filter(|j| j.state != JobState::Succeeded) {
                    let f = s.failures(&FailureQuery { job: Some(j.id), limit: Some(1), ..FailureQuery::default() })?;
                    failures.push((j.id, f.into_iter().next()));
                }
                Ok::<_, storage::Error>(((jobs, seen), results, failures))
            })
            .await?;
        let (jobs, seen) = jobs;
        self.seen = seen;
        for j in jobs {
            self.settled.insert(j.id);
            if let Some((_, value)) = results.iter().find(|(id, _)| *id == j.id) {
                match serde_json::from_value::<R>(value.clone()) {
                    Ok(v) => self.ready.push_back(Answer {
                        elf: j.elf,
                        task: j.task,
                        instance: j.holder,
                        job: j.id,
                        at: j.finished_at,
                        value: v,
                    }),
                    Err(e) => self.unanswered.push(Unanswered {
                        elf: j.elf,
                        task: j.task,
                        job: j.id,
                        reason: format!("its answer {value} does not decode as {}: {e}", std::any::type_name::<R>()),
                        failure: None,
                    }),
                }
            } else {
                let f = failures.iter().find(|(id, _)| *id == j.id).and_then(|(_, f)| f.clone());
                self.unanswered.push(Unanswered {
                    elf: j.elf,
                    task: j.task,
                    job: j.id,
                    reason: match &f {
                        Some(f) => format!("it failed ({}): {}", f.report.kind, f.report.message),
                        None => format!("it ended {}", j.state),
                    },
                    failure: f.map(|f| f.id),
                });
            }
        }
        Ok(())
    }

    /// At the deadline: the deliveries that have not answered are cancelled.
    async fn expire(&mut self) {
        let late: Vec<Delivery> =
            self.emitted.deliveries.iter().filter(|d| !self.settled.contains(&d.job)).cloned().collect();
        if let Some(run) = self.emitted.run
            && !late.is_empty()
        {
            let reason = format!("the call's deadline ({} ms) passed before it answered", self.timeout.as_millis());
            let r = reason.clone();
            if let Err(e) = self.bus.store().call(move |s| s.cancel_run(run, &r)).await {
                tracing::warn!("could not cancel the late deliveries of run {run}: {e}");
            }
            for d in late {
                self.settled.insert(d.job);
                self.unanswered.push(Unanswered {
                    elf: d.elf,
                    task: d.task,
                    job: d.job,
                    reason: reason.clone(),
                    failure: None,
                });
            }
        }
    }

    /// What was gathered, with `answers` taken from this stream.
    pub fn finish(self, answers: Vec<Answer<R>>) -> Gathered<R> {
        Gathered { signal: self.emitted.signal, run: self.emitted.run, answers, unanswered: self.unanswered }
    }
}
