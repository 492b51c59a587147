//! The documents of the mycelium: what every backend stores and every process
//! reads. One file per document kind; `schemas/` holds their JSON Schemas.

mod elf;
mod event;
mod failure;
mod flow;
mod ids;
mod job;
pub(crate) mod names;
mod run;
mod task;
mod time;

pub use elf::{Build, ElfInstance, ElfState};
pub use event::{Event, EventKind};
pub use failure::{Failure, FailureKind, FailureReport, Frame};
pub use flow::{Command, Mismatch, Signal, SignalId, Step, StepKind};
pub use ids::{FailureId, InstanceId, JobId, RunId, TaskSha};
pub use job::{Claimed, Completion, Job, JobSpec, JobState, Lease, Outcome, Submission, Submitted};
pub use run::{Origin, Run, RunSpec, RunState};
pub use task::{Backoff, Param, RetryPolicy, Signature, TaskVersion};
pub use time::{Millis, now_ms};
