//! Durable flows in the store: what an elf reports after running a flow,
//! what a claim hands it to resume one, and reading histories.
//!
//! A flow is a job whose task is a flow. Its commands are its history (one
//! [`Step`] each), recorded in the same transaction as what they create. A
//! flow whose next command cannot resolve is suspended: its job is
//! `waiting`, holding no lease, until what it awaits happens (a child job
//! ends, a timer is due, a signal arrives); the transaction that makes it
//! happen makes the flow `ready` again, and any elf serving the flow resumes
//! it by replaying its code against the history.

use serde_json::Value;

use super::Store;
use super::outcomes::{ClaimRequest, Readied};
use crate::model::{
    Claimed, FailureReport, JobId, JobSpec, JobState, Lease, Millis, Outcome, Signal, SignalId, Step, StepKind, TaskSha,
};
use crate::storage::Result;

/// What an elf reports after running a flow until it suspended, completed
/// or failed: the commands it issued that the history did not hold yet,
/// what it saw, and how the run ended. Committed in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowReport {
    /// The lease the flow ran under.
    pub lease: Lease,
    /// The version of the flow that ran.
    pub sha: TaskSha,
    /// New commands, continuing the history in order.
    pub steps: Vec<NewStep>,
    /// What the flow saw at steps already recorded, first seen in this run:
    /// `(step, outcome)`.
    pub observed: Vec<(u32, Value)>,
    /// Signals it consumed: `(signal, step)`.
    pub consumed: Vec<(SignalId, u32)>,
    /// Child jobs to cancel (the losers of a `select` that asked for it).
    pub cancel: Vec<JobId>,
    /// How the run ended.
    pub end: FlowEnd,
}

/// A command not in the history yet.
#[derive(Clone, Debug, PartialEq)]
pub struct NewStep {
    /// The step (its `child` is filled in when the child is created).
    pub step: Step,
    /// The child job to create (call, spawn), in the flow's run.
    pub child: Option<JobSpec>,
}

/// How a flow's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowEnd {
    /// It waits for something.
    Suspend(Wait),
    /// It returned a value.
    Complete(Value),
    /// It failed (an error, a panic, a determinism check, bad input).
    Fail(Box<FailureReport>),
}

/// What a suspended flow waits for; it wakes when any part is satisfied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    /// Steps whose children it waits for.
    pub children: Vec<u32>,
    /// Whether it waits for all of `children` (else for the first).
    pub all: bool,
    /// A time it waits for (a sleep, a signal's timeout).
    pub due: Option<Millis>,
    /// A signal it waits for: `(step, name)`.
    pub signal: Option<(u32, String)>,
}

impl Wait {
    /// Whether it waits for nothing at all.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty() && self.due.is_none() && self.signal.is_none()
    }
}

/// What committing a [`FlowReport`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowCommitted {
    /// The flow's job.
    pub job: JobId,
    /// `Ok`, or why nothing was written (`LeaseLost`, `Cancelled`).
    pub outcome: Outcome,
    /// The child jobs created, by step.
    pub children: Vec<(u32, JobId)>,
    /// The flow's state after the commit.
    pub state: Option<JobState>,
}

/// What an elf serving flows asks for at its turn.
#[derive(Clone, Debug)]
pub struct FlowClaim<'a> {
    /// The claim (its `tasks` name the flows too).
    pub request: ClaimRequest<'a>,
    /// Which of the claimed tasks are flows: for them the turn fires due
    /// timers and returns what resuming needs.
    pub flows: &'a [String],
}

/// What an elf's turn (store results, commit flows, fire timers, claim)
/// did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowTurn {
    /// One outcome per completion, in order.
    pub outcomes: Vec<Outcome>,
    /// One per report, in order.
    pub committed: Vec<FlowCommitted>,
    /// Jobs that became ready (before the claim took any).
    pub readied: Readied,
    /// The jobs claimed.
    pub claimed: Vec<Claimed>,
    /// For each claimed flow, what resuming it needs.
    pub resumes: Vec<Resume>,
    /// The earliest timer of the elf's waiting flows, if any.
    pub next_timer: Option<Millis>,
}

/// What resuming a claimed flow needs besides its history.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The flow's job.
    pub job: JobId,
    /// How many steps its history holds (an elf that kept the flow in
    /// memory with this many steps skips the replay).
    pub len: u32,
    /// The children whose outcome the flow has not recorded yet.
    pub open: Vec<ChildOutcome>,
    /// Signals sent to it and not consumed yet, oldest first.
    pub signals: Vec<Signal>,
    /// The store's time at the claim.
    pub now: Millis,
}

/// A child job the flow has not seen end yet.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildOutcome {
    /// The step that created it.
    pub step: u32,
    /// The child.
    pub child: JobId,
    /// Whether the flow's last wait counted it.
    pub awaited: bool,
    /// How it ended, once it did: `{"ok": value}` or `{"err": TaskFailed}`.
    pub outcome: Option<Value>,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// One line of a flow's inbox.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InboxLine {
    /// The flow.
    pub flow: JobId,
    /// The step that wrote it.
    pub step: u32,
    /// The inbox (`stdout`).
    pub inbox: String,
    /// The line.
    pub line: String,
    /// When it was recorded.
    pub at: Millis,
}

impl Store {
    /// The history of flow job `job`: its steps from `from` on, in order.
    pub fn flow_steps(&self, job: JobId, from: u32) -> Result<Vec<Step>> {
        self.read(|r| r.steps(job, from))
    }

    /// The signals sent to flow job `job` (only those not consumed yet, when
    /// `open`), oldest first.
    pub fn flow_signals(&self, job: JobId, open: bool) -> Result<Vec<Signal>> {
        self.read(|r| r.signals(&[job], open))
    }

    /// What resuming flow job `job` needs besides its history, read now
    /// (for a local replay).
    pub fn flow_resume(&self, job: JobId) -> Result<Resume> {
        let now = self.now();
        self.read(|r| super::flow_turn::resume_of(r, job, now))
    }

    /// The lines flow job `job` wrote to `inbox` (every inbox when `None`)
    /// at steps from `from` on, in order.
    pub fn inbox(&self, job: JobId, inbox: Option<&str>, from: u32) -> Result<Vec<InboxLine>> {
        let steps = self.flow_steps(job, from)?;
        Ok(steps
            .into_iter()
            .filter(|s| s.kind == StepKind::Write && inbox.is_none_or(|name| s.target == name))
            .map(|s| InboxLine {
                flow: s.flow,
                step: s.k,
                line: s.outcome.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned(),
                inbox: s.target,
                at: s.at,
            })
            .collect())
    }

    /// The run submitted with idempotency key `key`, if any.
    pub fn run_by_key(&self, key: &str) -> Result<Option<crate::model::RunId>> {
        self.read(|r| r.run_by_key(key))
    }

    /// The jobs the commands of flow job `job` created, by id.
    pub fn children(&self, job: JobId) -> Result<Vec<JobId>> {
        self.read(|r| Ok(r.children(&[job])?.into_iter().map(|c| c.id).collect()))
    }
}
