//! The driver's errors.

use crate::model::{FailureId, JobId, RunId};
use crate::storage;

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store refused or could not be reached.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// An argument could not be encoded as JSON.
    #[error("argument {index} of call {call} ({task}) cannot be encoded as JSON: {problem}")]
    Argument {
        /// The call's position in the orchestration.
        call: usize,
        /// The task.
        task: String,
        /// The argument's position.
        index: usize,
        /// serde's message.
        problem: String,
    },
    /// An output of another orchestration was passed in.
    #[error(
        "call {call} ({task}) uses an output of another orchestration that is not submitted yet (submit that one first and pass `run.output(..)`)"
    )]
    ForeignOutput {
        /// The call's position.
        call: usize,
        /// The task.
        task: String,
    },
    /// The awaited job failed (or could not run).
    #[error("job {job} ({task}) {state}{}: see `mycelium failure {}`", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(), .failure.map(|f| f.to_string()).unwrap_or_else(|| format!("--job {job}")))]
    JobFailed {
        /// The job.
        job: JobId,
        /// elf/task.
        task: String,
        /// Its final state.
        state: String,
        /// Its last failure, if one was recorded.
        failure: Option<FailureId>,
        /// That failure's message.
        message: Option<String>,
    },
    /// The awaited value does not decode into the expected type.
    #[error("the result of job {job} does not decode as {ty}: {problem}")]
    Decode {
        /// The job.
        job: JobId,
        /// The expected type.
        ty: &'static str,
        /// serde's message.
        problem: String,
    },
    /// A wait ran out of time; the run goes on.
    #[error("run {run} did not get there within {} ms (it goes on; `mycelium run {run}` shows where it stands)", .waited.as_millis())]
    Timeout {
        /// The run.
        run: RunId,
        /// How long the wait lasted.
        waited: std::time::Duration,
    },
    /// An open run's chunk was refused because one of its calls' arguments
    /// was; the run keeps the chunks committed before.
    #[error(
        "run {run} takes no more chunks from this driver: {problem} (cancel it with `mycelium cancel {run}`, or take it up again with `Mycelium::resume_run`)"
    )]
    ChunkRefused {
        /// The open run.
        run: RunId,
        /// The call that was refused.
        problem: String,
    },
    /// The output does not belong to this run.
    #[error("that output does not belong to run {run}")]
    NotInRun {
        /// The run.
        run: RunId,
    },
}
