//! The append-only event log: every job state change appends one event in
//! the transaction that makes the change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobId, JobState, Millis, RunId};

/// What happened.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A run was created.
    RunCreated,
    /// A run ended (its state is in the data).
    RunFinished,
    /// An ended run was reopened by a retry.
    RunReopened,
    /// A run opened to take its jobs in chunks was sealed: it takes no more.
    RunSealed,
    /// A job changed state (the new state is in `state`).
    JobState,
    /// A task version was first recorded.
    TaskRecorded,
    /// An elf instance registered.
    ElfStarted,
    /// An elf instance stopped or was found dead.
    ElfStopped,
    /// An elf declared its agents: signals, receivers, queues, schedules.
    AgentsDeclared,
    /// A schedule was paused, resumed, triggered, or dropped ticks.
    ScheduleChanged,
    /// A long-running server inside an elf crashed; the elf stopped.
    ServerFailed,
    /// A signal was sent to a flow (its name and id are in the data).
    SignalSent,
    /// The coordinator repaired a job whose recorded count of unmet
    /// producers disagreed with the graph (`problem` is `stuck` when every
    /// producer had succeeded and it still waited, else `miscounted`;
    /// `unmet_was` and `unmet` are the counts before and after). A job made
    /// ready by it also gets its `job_state` event.
    JobRepaired,
}

super::names::named!(EventKind, "event kind");

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Position in the log: increasing in commit order, no gaps seen by a
    /// reader that tails by cursor.
    pub seq: i64,
    /// When.
    pub at: Millis,
    /// What.
    pub kind: EventKind,
    /// The run concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    /// The job concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// For `job_state`: the state entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Details (epoch, holder, attempt, failure id, reason, ...).
    #[serde(default)]
    pub data: Value,
}
