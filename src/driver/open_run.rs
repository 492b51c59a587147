//! A run that stays open while its driver streams jobs into it, chunk by
//! chunk, then seals it.

use std::sync::Arc;

use serde_json::Value;

use super::orchestration::{job_of_call, next_builder, ring};
use super::{Error, RunHandle};
use crate::model::{JobId, JobSpec, Run, RunId, Submitted};
use crate::storage::{self, Store};
use crate::task::{Call, Output, Source};

/// An open run: calls are recorded as an
/// [`Orchestration`](super::Orchestration) records them, and each [`OpenRun::flush`] commits those
/// recorded since the last one as one chunk, in one transaction, while elves
/// already work on the chunks before. A call may take the output of any
/// earlier call, of this chunk or of a committed one. [`OpenRun::seal`]
/// commits the rest and seals the run: it takes no more jobs and ends when
/// every job is final.
///
/// ```ignore
/// let mut run = myc.open_run("w4").await?;
/// for i in 0..1_000_000 {
///     run.call(bench::value::call(i));
///     if run.pending() == 20_000 {
///         run.flush().await?;        // one chunk, one transaction
///     }
/// }
/// let run = run.seal().await?;       // a RunHandle, as `submit` gives
/// ```
///
/// A driver that dies leaves the run open with every chunk it committed
/// (a chunk is committed whole or not at all):
/// [`Mycelium::resume_run`](super::Mycelium::resume_run) takes it up again, and
/// `mycelium cancel <run>` ends it.
#[derive(Debug)]
pub struct OpenRun {
    store: Store,
    id: RunId,
    builder: u64,
    /// The jobs of the committed chunks, in call order.
    committed: Vec<JobId>,
    /// The calls recorded since the last chunk.
    pending: Vec<JobSpec>,
    /// The first problem with a pending call: the next chunk is refused.
    error: Option<Error>,
    /// Why chunks are refused, once a call's arguments were.
    refused: Option<String>,
}

impl OpenRun {
    /// Opens a new run named `name` (one transaction).
    pub(super) async fn open(store: Store, spec: crate::model::RunSpec) -> Result<Self, Error> {
        let run = store.call(move |s| s.open_run(&spec)).await?;
        Self::resume(store, run)
    }

    /// Takes up `run` again, with the jobs it has (in id order, which is
    /// call order); refuses a run that is sealed.
    pub(super) fn resume(store: Store, run: Run) -> Result<Self, Error> {
        if run.sealed || run.state.is_final() {
            return Err(storage::Error::Sealed { run: run.id, state: run.state.to_string() }.into());
        }
        let committed = if run.total == 0 { Vec::new() } else { store.job_ids(run.id)? };
        Ok(Self {
            store,
            id: run.id,
            builder: next_builder(),
            committed,
            pending: Vec::new(),
            error: None,
            refused: None,
        })
    }

    /// The run's id.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// The calls recorded since the last chunk.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The jobs of the chunks committed so far, in call order.
    pub fn jobs(&self) -> &[JobId] {
        &self.committed
    }

    /// Records a call in the next chunk; returns its future output.
    pub fn call<T>(&mut self, call: Call<T>) -> Output<T> {
        let start = self.committed.len();
        let index = start + self.pending.len();
        let committed = &self.committed;
        // A call of this chunk is known by its index in the chunk; one of a
        // committed chunk by its job's id.
        let local = |i: usize| -> Result<Value, String> {
            match i.checked_sub(start) {
                Some(in_chunk) => Ok(Value::from(in_chunk.to_string())),
                None => committed.get(i).map(|j| Value::from(j.0)).ok_or_else(|| format!("call {i} has no job")),
            }
        };
        let (spec, error) = job_of_call(call, self.builder, index, &local);
        if let Some(e) = error {
            self.error.get_or_insert(e);
        }
        self.pending.push(spec);
        Output::new(Source::Local { builder: self.builder, index })
    }

    /// Commits the calls recorded since the last chunk as one chunk, in one
    /// transaction; returns the new jobs' ids (none when nothing was
    /// recorded). When the store fails, nothing of the chunk is written and
    /// its calls stay recorded (flush again). A call whose arguments were
    /// refused (see [`Error::Argument`]) can never be committed: that chunk
    /// and every later one are refused, and the run keeps the chunks before
    /// (cancel it, or take it up again with
    /// [`Mycelium::resume_run`](super::Mycelium::resume_run)).
    pub async fn flush(&mut self) -> Result<&[JobId], Error> {
        let from = self.committed.len();
        let Some(jobs) = self.take_chunk()? else { return Ok(&self.committed[from..]) };
        let run = self.id;
        let chunk = jobs.clone();
        match self.store.call(move |s| s.append(run, &chunk)).await {
            Ok(submitted) => Ok(self.committed(&submitted, from)),
            Err(e) => {
                self.pending = Arc::try_unwrap(jobs).unwrap_or_else(|shared| shared.as_ref().clone());
                Err(e.into())
            }
        }
    }

    /// [`OpenRun::flush`] for code without a runtime.
    pub fn flush_blocking(&mut self) -> Result<&[JobId], Error> {
        let from = self.committed.len();
        let Some(jobs) = self.take_chunk()? else { return Ok(&self.committed[from..]) };
        match self.store.append(self.id, &jobs) {
            Ok(submitted) => Ok(self.committed(&submitted, from)),
            Err(e) => {
                self.pending = Arc::try_unwrap(jobs).unwrap_or_else(|shared| shared.as_ref().clone());
                Err(e.into())
            }
        }
    }

    /// The pending calls as a chunk to write, if any; refuses when a call's
    /// arguments were refused.
    fn take_chunk(&mut self) -> Result<Option<Arc<Vec<JobSpec>>>, Error> {
        if let Some(why) = &self.refused {
            return Err(Error::ChunkRefused { run: self.id, problem: why.clone() });
        }
        if let Some(e) = self.error.take() {
            self.refused = Some(e.to_string());
            return Err(e);
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(std::mem::take(&mut self.pending))))
    }

    /// Records a committed chunk; its jobs.
    fn committed(&mut self, submitted: &Submitted, from: usize) -> &[JobId] {
        ring(&self.store, &submitted.readied);
        self.committed.extend_from_slice(&submitted.jobs);
        &self.committed[from..]
    }

    /// Commits the calls recorded since the last chunk, then seals the run
    /// (a transaction of its own): it takes no more jobs, and ends as soon
    /// as every job is final. Returns the run to wait on.
    pub async fn seal(mut self) -> Result<RunHandle, Error> {
        self.flush().await?;
        let run = self.id;
        self.store.call(move |s| s.seal(run)).await?;
        Ok(RunHandle::from_parts(self.store, self.id, self.committed, Some(self.builder)))
    }

    /// [`OpenRun::seal`] for code without a runtime.
    pub fn seal_blocking(mut self) -> Result<RunHandle, Error> {
        self.flush_blocking()?;
        self.store.seal(self.id)?;
        Ok(RunHandle::from_parts(self.store, self.id, self.committed, Some(self.builder)))
    }

    /// The output bound to its job id, for a call of a committed chunk:
    /// usable in later orchestrations, and by [`RunHandle::wait`] once sealed.
    pub fn output<T>(&self, out: &Output<T>) -> Result<Output<T>, Error> {
        let job = match out.source {
            Source::Job(j) => Some(j),
            Source::Local { builder, index } if builder == self.builder => self.committed.get(index).copied(),
            Source::Local { .. } => None,
        };
        let job = job.ok_or(Error::NotInRun { run: self.id })?;
        Ok(Output::<T>::of_job(job).at(&out.path))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::driver::Mycelium;
    use crate::model::{Completion, InstanceId, JobState, RunState};
    use crate::storage::ClaimRequest;

    fn value(arg: Value) -> Call<u64> {
        Call::dynamic("e", "t", vec![arg])
    }

    /// Claims every ready job of `e` and completes it with its argument's
    /// value.
    fn work(store: &Store) {
        let tasks = vec!["t".to_owned()];
        let me = InstanceId::random();
        loop {
            let req = ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max: 100, ttl_ms: 60_000 };
            let claimed = store.claim(&req).expect("claim");
            if claimed.is_empty() {
                return;
            }
            let done: Vec<_> = claimed
                .iter()
                .map(|c| {
                    // The argument, or the producer's value it references.
                    let value = c.inputs.first().map_or_else(|| c.args[0].clone(), |(_, v)| v.clone());
                    Completion { lease: c.lease, ran_sha: None, value, waited_ms: 0 }
                })
                .collect();
            store.complete(&done).expect("complete");
        }
    }

    #[test]
    fn chunks_take_outputs_of_earlier_chunks_and_the_run_ends_once_sealed() {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut run = rt.block_on(myc.open_run("streamed")).expect("open");
        let first = run.call(value(json!(20)));
        let second = run.call(value(first.to_json()));
        assert_eq!(run.pending(), 2);
        let chunk = rt.block_on(run.flush()).expect("first chunk").to_vec();
        assert_eq!((chunk.len(), run.pending()), (2, 0));
        assert!(rt.block_on(run.flush()).expect("nothing to flush").is_empty());
        work(&store);
        // Every job so far is final, yet the run is open.
        let r = store.run(run.id()).expect("read").expect("exists");
        assert_eq!((r.state, r.open, r.status()), (RunState::Running, 0, "open"));

        // A later chunk takes the first chunk's output, and its own.
        let third = run.call(value(second.to_json()));
        let fourth = run.call(value(third.to_json()));
        let job = run.output(&first).expect("a committed call's job");
        assert!(run.output(&third).is_err(), "a call not committed yet has no job");
        let handle = rt.block_on(run.seal()).expect("seal");
        assert_eq!(handle.jobs().len(), 4);
        let third_job = store.job(handle.jobs()[2]).expect("read").expect("exists");
        assert_eq!(third_job.args, json!([{ "$output": handle.jobs()[1].0 }]));
        work(&store);
        assert_eq!(handle.wait_blocking(&fourth).expect("the last value"), 20);
        assert_eq!(handle.wait_blocking(&job).expect("the first value"), 20);
        let p = handle.progress().expect("progress");
        assert_eq!((p.state, p.total, p.open), (RunState::Succeeded, 4, 0));
    }

    #[test]
    fn a_refused_call_refuses_its_chunk_and_the_ones_after() {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let mut run =
            myc.resume_run(store.open_run(&crate::model::RunSpec::named("r")).expect("open").id).expect("resume");
        run.call(value(json!(1)));
        run.flush_blocking().expect("first chunk");
        let other = myc.orchestration("other").call(value(json!(2)));
        run.call(value(other.to_json()));
        let err = run.flush_blocking().expect_err("an output of another orchestration is refused");
        assert!(err.to_string().contains("another orchestration"), "{err}");
        run.call(value(json!(3)));
        let err = run.flush_blocking().expect_err("later chunks are refused too");
        assert!(matches!(err, Error::ChunkRefused { .. }) && err.to_string().contains("mycelium cancel"), "{err}");
        let r = store.run(run.id()).expect("read").expect("exists");
        assert_eq!((r.total, r.sealed), (1, false), "the run keeps its first chunk, and stays open");
        assert_eq!(store.jobs(&Default::default()).expect("jobs")[0].state, JobState::Ready);
    }

    #[test]
    fn a_sealed_run_cannot_be_taken_up_again() {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let mut run =
            myc.resume_run(store.open_run(&crate::model::RunSpec::named("r")).expect("open").id).expect("resume");
        run.call(value(json!(1)));
        let id = run.seal_blocking().expect("seal").id();
        let err = myc.resume_run(id).expect_err("sealed");
        assert!(err.to_string().contains(&format!("run {id} is sealed")), "{err}");
        assert!(matches!(myc.resume_run(RunId(4242)), Err(Error::Storage(crate::storage::Error::UnknownRun(_)))));
    }
}
