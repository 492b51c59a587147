//! Building an orchestration and submitting it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Error, Run};
use crate::model::{JobSpec, RunSpec, Submission};
use crate::storage::{self, Store};
use crate::task::{Call, Output, Source};

/// A handle on the mycelium for drivers.
#[derive(Clone, Debug)]
pub struct Mycelium {
    store: Arc<dyn Store>,
}

/// Opens the store at `url` (creating an embedded one if needed).
pub fn connect(url: &str) -> Result<Mycelium, storage::Error> {
    Ok(Mycelium { store: storage::open(url)? })
}

impl Mycelium {
    /// A handle on an already open store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Starts composing an orchestration named `name`.
    pub fn orchestration(&self, name: impl Into<String>) -> Orchestration {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Orchestration {
            store: self.store.clone(),
            builder: NEXT.fetch_add(1, Ordering::Relaxed) ^ (u64::from(std::process::id()) << 32),
            spec: RunSpec::named(name),
            jobs: Vec::new(),
            error: None,
        }
    }

    /// A submitted run, by id.
    pub fn run(&self, id: crate::model::RunId) -> Run {
        Run::attach(self.store.clone(), id)
    }
}

/// An orchestration being composed: every call records a job; nothing runs
/// until [`Orchestration::submit`].
#[derive(Debug)]
pub struct Orchestration {
    store: Arc<dyn Store>,
    builder: u64,
    spec: RunSpec,
    jobs: Vec<JobSpec>,
    error: Option<Error>,
}

impl Orchestration {
    /// Records a call; returns its future output.
    pub fn call<T>(&mut self, call: Call<T>) -> Output<T> {
        let index = self.jobs.len();
        let task = format!("{}/{}", call.elf, call.task);
        let mut args = Vec::with_capacity(call.args.len());
        for (i, arg) in call.args.into_iter().enumerate() {
            if arg.sources.iter().any(|s| matches!(s, Source::Local { builder, .. } if *builder != self.builder)) {
                self.error.get_or_insert(Error::ForeignOutput { call: index, task: task.clone() });
            }
            match arg.json {
                Ok(v) => args.push(v),
                Err(problem) => {
                    self.error.get_or_insert(Error::Argument { call: index, task: task.clone(), index: i, problem });
                    args.push(serde_json::Value::Null);
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

    /// The jobs recorded so far.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no call was recorded.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Writes the whole orchestration in one transaction.
    pub async fn submit(self) -> Result<Run, Error> {
        tokio::task::spawn_blocking(move || self.submit_blocking())
            .await
            .map_err(|e| storage::Error::backend("submit", std::io::Error::other(e.to_string())))?
    }

    /// [`Orchestration::submit`] for code without a runtime.
    pub fn submit_blocking(self) -> Result<Run, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let (submitted, readied) = self.store.submit(&Submission { run: self.spec, jobs: self.jobs })?;
        if let Some(endpoint) = crate::doorbell::Endpoint::for_store(&self.store.url()) {
            crate::doorbell::ring(&endpoint, &readied);
        }
        Ok(Run::new(self.store, submitted, self.builder))
    }
}
