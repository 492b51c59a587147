//! What a flow's commands answer when they do not give a value.

use serde::{Deserialize, Serialize};

use crate::model::{FailureId, FailureKind, JobId, JobState, SignalId};

/// A child job that did not succeed, as its flow sees it: a value the flow
/// can handle (retry, compensate, give up with `?`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct TaskFailed {
    /// The child job (none when the call was refused before one was made).
    pub job: Option<JobId>,
    /// Its task, `elf/task`.
    pub task: String,
    /// How it ended (`failed`, `upstream_failed`, `cancelled`).
    pub state: Option<JobState>,
    /// Why its last attempt failed (none for a cancelled job).
    pub kind: Option<FailureKind>,
    /// Its last failure record (`mycelium failure <id>`).
    pub failure: Option<FailureId>,
    /// What went wrong.
    pub message: String,
}

impl TaskFailed {
    fn describe(&self) -> String {
        let job = self.job.map_or_else(|| "a call".to_owned(), |j| format!("job {j}"));
        let state = self.state.map_or_else(|| "was refused".to_owned(), |s| s.to_string());
        let kind = self.kind.map(|k| format!(" ({k})")).unwrap_or_default();
        let see = self.failure.map(|f| format!(" (see `mycelium failure {f}`)")).unwrap_or_default();
        format!("{job} ({}) {state}{kind}: {}{see}", self.task, self.message)
    }

    /// A call refused before any job was made (bad input).
    pub(crate) fn refused(task: String, message: String) -> Self {
        Self { job: None, task, state: None, kind: Some(FailureKind::BadInput), failure: None, message }
    }
}

/// Why a wait for a signal gave no value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// No signal of that name came in time.
    #[error("no signal `{name}` came within {after_ms} ms")]
    Timeout {
        /// The signal's name.
        name: String,
        /// How long the flow waited.
        after_ms: u64,
    },
    /// A signal came whose payload is not of the awaited type (it was sent
    /// before the flow waited for it, so it could not be checked then); it
    /// is consumed.
    #[error("signal `{name}` ({signal}) does not decode as {ty}: {problem}")]
    Payload {
        /// The signal's name.
        name: String,
        /// The signal.
        signal: SignalId,
        /// The awaited type.
        ty: String,
        /// What does not fit.
        problem: String,
    },
}

/// The error type flows commonly return: any error, with its source chain
/// (`TaskFailed`, `SignalError` and the flow's own errors convert with `?`).
pub type FlowError = Box<dyn std::error::Error + Send + Sync + 'static>;
