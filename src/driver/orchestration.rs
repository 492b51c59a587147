//! Building an orchestration and submitting it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::{Error, OpenRun, RunHandle};
use crate::model::{JobSpec, RunId, RunSpec, Submission};
use crate::refs;
use crate::storage::{self, Store};
use crate::task::{Call, Output, Source, parse_local_key};

/// A handle on the mycelium for drivers.
#[derive(Clone, Debug)]
pub struct Mycelium {
    store: Store,
}

/// Opens the store at `url`, creating it when it does not exist yet: the one
/// entry point of drivers (`sqlite://mycelium.db`, `memory:`, ...).
pub fn connect(url: &str) -> Result<Mycelium, storage::Error> {
    Ok(Mycelium { store: Store::open(url)? })
}

impl Mycelium {
    /// A handle on an already open store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store, for everything below orchestrations (inspection, operations).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts composing an orchestration named `name`.
    pub fn orchestration(&self, name: impl Into<String>) -> Orchestration {
        Orchestration {
            store: self.store.clone(),
            builder: next_builder(),
            spec: RunSpec::named(name),
            jobs: Vec::new(),
            error: None,
        }
    }

    /// Opens a run named `name` that takes its jobs in chunks until it is
    /// sealed (one transaction); see [`OpenRun`].
    pub async fn open_run(&self, name: impl Into<String>) -> Result<OpenRun, Error> {
        OpenRun::open(self.store.clone(), RunSpec::named(name)).await
    }

    /// [`Mycelium::open_run`] with a full run spec (labels, idempotency key:
    /// opening again with a used key takes that run up again while it is
    /// open, and is refused once it is sealed).
    pub async fn open_run_with(&self, spec: RunSpec) -> Result<OpenRun, Error> {
        OpenRun::open(self.store.clone(), spec).await
    }

    /// Takes up the open run `id` again (its driver died, say): later calls
    /// may take the outputs of its committed jobs by id
    /// ([`Output::of_job`](crate::Output::of_job)); refuses a sealed run.
    pub fn resume_run(&self, id: RunId) -> Result<OpenRun, Error> {
        let run = self.store.run(id)?.ok_or(storage::Error::UnknownRun(id))?;
        OpenRun::resume(self.store.clone(), run)
    }

    /// A submitted run, by id, with its jobs: what a driver that died and
    /// came back reattaches to.
    pub fn run(&self, id: RunId) -> Result<RunHandle, Error> {
        RunHandle::attach(self.store.clone(), id)
    }
}

/// An orchestration being composed: every call records a job; nothing runs
/// until [`Orchestration::submit`].
#[derive(Debug)]
pub struct Orchestration {
    store: Store,
    builder: u64,
    spec: RunSpec,
    jobs: Vec<JobSpec>,
    error: Option<Error>,
}

impl Orchestration {
    /// Records a call; returns its future output.
    pub fn call<T>(&mut self, call: Call<T>) -> Output<T> {
        let index = self.jobs.len();
        let (spec, error) = job_of_call(call, self.builder, index, &|i| Ok(Value::from(i.to_string())));
        if let Some(e) = error {
            self.error.get_or_insert(e);
        }
        self.jobs.push(spec);
        Output::new(Source::Local { builder: self.builder, index })
    }

    /// Adds a label to the run.
    pub fn label(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.spec.labels.insert(key.into(), value.into());
        self
    }

    /// Makes the submission idempotent: submitting again with the same key
    /// returns the first run.
    pub fn idempotency_key(&mut self, key: impl Into<String>) -> &mut Self {
        self.spec.idempotency_key = Some(key.into());
        self
    }

    /// Gives the run a share of the elves `weight` times that of a run of
    /// weight 1 (the default) while runs compete: from 1 to
    /// [`MAX_WEIGHT`](crate::storage::sched::MAX_WEIGHT); submitting
    /// refuses anything else, naming the run.
    pub fn weight(&mut self, weight: u32) -> &mut Self {
        self.spec.weight = Some(weight);
        self
    }

    /// The jobs recorded so far.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no call was recorded.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Writes the whole orchestration in one transaction.
    pub async fn submit(self) -> Result<RunHandle, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let store = self.store.clone();
        let builder = self.builder;
        let submission = Submission { run: self.spec, jobs: self.jobs };
        let submitted = store.call(move |s| s.submit(&submission)).await?;
        ring(&store, &submitted.readied);
        Ok(RunHandle::new(store, submitted, builder))
    }

    /// [`Orchestration::submit`] for code without a runtime.
    pub fn submit_blocking(self) -> Result<RunHandle, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let submitted = self.store.submit(&Submission { run: self.spec, jobs: self.jobs })?;
        ring(&self.store, &submitted.readied);
        Ok(RunHandle::new(self.store, submitted, self.builder))
    }
}

/// The job call `index` of orchestration `builder` records, and the first
/// problem with its arguments. `local(i)` is what a reference to this
/// orchestration's call `i` (always before `index`) stands for in the store:
/// its key in the submission, or the id of a job already committed.
pub(super) fn job_of_call<T>(
    call: Call<T>,
    builder: u64,
    index: usize,
    local: &dyn Fn(usize) -> Result<Value, String>,
) -> (JobSpec, Option<Error>) {
    let task = format!("{}/{}", call.elf, call.task);
    let mut error = None;
    let mut args = Vec::with_capacity(call.args.len());
    for (i, arg) in call.args.into_iter().enumerate() {
        if arg.sources.iter().any(|s| matches!(s, Source::Local { builder: b, .. } if *b != builder)) {
            error.get_or_insert(Error::ForeignOutput { call: index, task: task.clone() });
        }
        match arg.json.and_then(|mut v| localize(&mut v, builder, index, local).map(|()| v)) {
            Ok(v) => args.push(v),
            Err(problem) => {
                error.get_or_insert(Error::Argument { call: index, task: task.clone(), index: i, problem });
                args.push(Value::Null);
            }
        }
    }
    let mut spec = JobSpec::new(call.elf, call.task, serde_json::Value::Array(args));
    // Without a key of its own, a job is referenced by its index (the
    // store's default key), which saves a unique-index entry per job.
    spec.key = call.options.key.clone();
    if let Some(info) = call.info {
        spec.expected_sha = Some(info.sha());
        spec.retry = info.retry.policy();
        spec.timeout_ms = info.timeout_ms;
    }
    if let Some(retry) = call.options.retry {
        spec.retry = retry;
    }
    if let Some(t) = call.options.timeout {
        spec.timeout_ms = Some(u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    }
    spec.priority = call.options.priority;
    (spec, error)
}

/// Turns the references to orchestration `builder`'s calls inside `v` into
/// what `local` makes of them; refuses references to another
/// orchestration's calls not submitted, and to calls not made before `call`.
fn localize(
    v: &mut Value,
    builder: u64,
    call: usize,
    local: &dyn Fn(usize) -> Result<Value, String>,
) -> Result<(), String> {
    match v {
        Value::Object(m) if m.contains_key(refs::OUTPUT) => {
            if let Some(slot) = m.get_mut(refs::OUTPUT)
                && let Value::String(key) = slot
                && key.starts_with('#')
            {
                let Some((from, index)) = parse_local_key(key) else {
                    return Err(format!("the output reference `{key}` is malformed"));
                };
                if from != builder {
                    return Err(format!(
                        "the output reference `{key}` names a call of another orchestration that is not \
                         submitted (submit that one first and pass `run.output(..)`)"
                    ));
                }
                if index >= call {
                    return Err(format!(
                        "the output reference `{key}` names call {index}, not made before call {call}"
                    ));
                }
                *slot = local(index)?;
            }
            Ok(())
        }
        Value::Object(m) => m.values_mut().try_for_each(|c| localize(c, builder, call, local)),
        Value::Array(a) => a.iter_mut().try_for_each(|c| localize(c, builder, call, local)),
        _ => Ok(()),
    }
}

/// A fresh orchestration id: unique within this process, and unlikely to
/// meet another process's.
pub(super) fn next_builder() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed) ^ (u64::from(std::process::id()) << 32)
}

/// Wakes idle elves for the jobs a submission made ready (best effort).
pub(super) fn ring(store: &Store, readied: &storage::Readied) {
    if let Some(endpoint) = crate::doorbell::Endpoint::for_store(store) {
        crate::doorbell::ring(&endpoint, readied);
    }
}
