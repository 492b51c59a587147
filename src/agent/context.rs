//! The optional context argument of a task: `#[task] fn f(cx: &Context, ..)`.
//! It tells the task which job it runs (and, for a receiver or a scheduled
//! task, which signal or tick), and lets it emit signals, send messages and
//! call other receivers, keyed so that a retried attempt does not repeat
//! what an earlier attempt already recorded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use super::client::{Bus, Error};
use super::rpc::Rpc;
use super::{Emitted, Queue, Request, Sent, Signal};
use crate::model::{JobId, Millis, RunId};
use crate::storage::Store;

/// What a task runs under.
#[derive(Clone, Debug)]
pub struct Context {
    mode: Mode,
    job: Option<JobInfo>,
    labels: Arc<OnceLock<BTreeMap<String, String>>>,
}

#[derive(Clone, Debug)]
enum Mode {
    /// In an elf, or over a store given by hand.
    Live(Bus),
    /// Replaying a recorded job: nothing is written.
    Replay,
    /// Called directly, outside any elf and without a store.
    Detached,
}

/// The job a context belongs to.
#[derive(Clone, Debug)]
struct JobInfo {
    job: JobId,
    run: RunId,
    attempt: u32,
}

/// How a task learns which signal it received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The signal.
    pub signal: String,
    /// Who emitted it.
    pub sender: String,
}

impl Context {
    /// A context over `store`, for a task called by hand (tests, tools):
    /// what it emits or sends is recorded there.
    pub fn new(store: Store) -> Self {
        Self { mode: Mode::Live(Bus::new(store)), job: None, labels: Arc::default() }
    }

    /// The context of a claimed job in an elf.
    pub(crate) fn for_job(bus: Bus, job: JobId, run: RunId, attempt: u32) -> Self {
        Self { mode: Mode::Live(bus), job: Some(JobInfo { job, run, attempt }), labels: Arc::default() }
    }

    /// The context of a replayed job: emissions and sends are printed, not
    /// recorded.
    pub(crate) fn replay(job: JobId, run: RunId, attempt: u32) -> Self {
        Self { mode: Mode::Replay, job: Some(JobInfo { job, run, attempt }), labels: Arc::default() }
    }

    /// A context of no job and no store (a task called directly).
    pub fn detached() -> Self {
        Self { mode: Mode::Detached, job: None, labels: Arc::default() }
    }

    /// The job being run, if any.
    pub fn job(&self) -> Option<JobId> {
        self.job.as_ref().map(|j| j.job)
    }

    /// Its run, if any.
    pub fn run(&self) -> Option<RunId> {
        self.job.as_ref().map(|j| j.run)
    }

    /// This attempt's number (1 for the first; 0 outside a job).
    pub fn attempt(&self) -> u32 {
        self.job.as_ref().map_or(0, |j| j.attempt)
    }

    /// The store, when the context has one.
    pub fn store(&self) -> Option<&Store> {
        match &self.mode {
            Mode::Live(bus) => Some(bus.store()),
            _ => None,
        }
    }

    /// The labels of the job's run (`signal`, `sender`, `schedule`, `tick`,
    /// `queue`, ...), read once.
    fn labels(&self) -> &BTreeMap<String, String> {
        self.labels.get_or_init(|| match (&self.mode, &self.job) {
            (Mode::Live(bus), Some(j)) => bus.store().run(j.run).ok().flatten().map(|r| r.labels).unwrap_or_default(),
            _ => BTreeMap::new(),
        })
    }

    /// For a receiver: the signal that made this job, and who emitted it.
    pub fn received(&self) -> Option<Received> {
        let l = self.labels();
        Some(Received { signal: l.get("signal")?.clone(), sender: l.get("sender").cloned().unwrap_or_default() })
    }

    /// For a scheduled task: the time of the tick this job is for.
    pub fn tick(&self) -> Option<Millis> {
        self.labels().get("tick")?.parse().ok()
    }

    fn bus(&self, what: &str) -> Result<Option<&Bus>, Error> {
        match &self.mode {
            Mode::Live(bus) => Ok(Some(bus)),
            Mode::Replay => {
                println!("replay: {what} (not recorded)");
                Ok(None)
            }
            Mode::Detached => Err(Error::Detached(format!(
                "cannot {what}: this task was called directly, outside an elf (give it `Context::new(store)`)"
            ))),
        }
    }

    /// Emits a signal (see [`Bus::emit`]). Across attempts of one job, the
    /// k-th emission is recorded once.
    pub async fn emit<S: Signal>(&self, payload: &S) -> Result<Emitted, Error> {
        match self.bus(&format!("emit signal `{}`", S::NAME))? {
            Some(bus) => bus.emit(payload).await,
            None => Ok(Emitted::default()),
        }
    }

    /// [`Context::emit`] for sync tasks.
    pub fn emit_blocking<S: Signal>(&self, payload: &S) -> Result<Emitted, Error> {
        match self.bus(&format!("emit signal `{}`", S::NAME))? {
            Some(bus) => bus.emit_blocking(payload),
            None => Ok(Emitted::default()),
        }
    }

    /// Emits the signal called `name` with a JSON payload.
    pub async fn emit_json(&self, name: &str, payload: Value) -> Result<Emitted, Error> {
        match self.bus(&format!("emit signal `{name}`"))? {
            Some(bus) => bus.emit_json(name, payload).await,
            None => Ok(Emitted::default()),
        }
    }

    /// Sends a message to a queue (see [`Bus::send`]).
    pub async fn send<T: Serialize>(&self, queue: &Queue<T>, message: &T) -> Result<Sent, Error> {
        match self.bus(&format!("send to queue `{}`", queue.name()))? {
            Some(bus) => bus.send(queue, message).await,
            None => Ok(Sent::default()),
        }
    }

    /// [`Context::send`] for sync tasks.
    pub fn send_blocking<T: Serialize>(&self, queue: &Queue<T>, message: &T) -> Result<Sent, Error> {
        match self.bus(&format!("send to queue `{}`", queue.name()))? {
            Some(bus) => bus.send_blocking(queue, message),
            None => Ok(Sent::default()),
        }
    }

    /// Publishes a message to an exchange (see [`Bus::publish`]).
    pub async fn publish<T: Serialize>(&self, exchange: &str, topic: &str, message: &T) -> Result<Sent, Error> {
        match self.bus(&format!("publish to exchange `{exchange}`"))? {
            Some(bus) => bus.publish(exchange, topic, message).await,
            None => Ok(Sent::default()),
        }
    }

    /// Calls the receivers of a request (see [`Rpc`]).
    pub fn call<R: Request>(&self, request: &R) -> Result<Rpc<R::Reply>, Error> {
        match &self.mode {
            Mode::Live(bus) => Ok(bus.call(request)),
            _ => Err(Error::Detached(format!(
                "cannot call `{}`: this task runs without a store (replayed, or called directly)",
                R::NAME
            ))),
        }
    }
}

tokio::task_local! {
    /// The context of the async task being run.
    static CONTEXT: Context;
}

thread_local! {
    /// The context of the sync task being run on this blocking thread.
    static SYNC_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// The context of the task running here (what the `#[task]` expansion
/// passes to a task that takes one); detached when none is set.
pub fn current() -> Context {
    if let Ok(cx) = CONTEXT.try_with(Context::clone) {
        return cx;
    }
    SYNC_CONTEXT.with(|c| c.borrow().clone()).unwrap_or_else(Context::detached)
}

/// Runs `fut` with `cx` as its context.
pub(crate) async fn scope<F: std::future::Future>(cx: Context, fut: F) -> F::Output {
    CONTEXT.scope(cx, fut).await
}

/// Runs `f` on this thread with `cx` as its context.
pub(crate) fn with_sync<T>(cx: Context, f: impl FnOnce() -> T) -> T {
    SYNC_CONTEXT.with(|c| *c.borrow_mut() = Some(cx));
    let out = f();
    SYNC_CONTEXT.with(|c| *c.borrow_mut() = None);
    out
}
