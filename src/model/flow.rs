//! Durable flows: the commands a flow recorded (its history, one step per
//! command) and the signals sent to it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobId, Millis, TaskSha};

/// What a flow's command does.
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
pub enum StepKind {
    /// Creates a child job and waits for its outcome (`cx.call`).
    Call,
    /// Creates a child job without waiting (`cx.spawn`, each item of `cx.map`).
    Spawn,
    /// Waits for one spawned child (`cx.join`).
    Join,
    /// Waits for several spawned children (`cx.join_all`, the end of `cx.map`).
    JoinAll,
    /// Waits for the first of several spawned children (`cx.select`).
    Select,
    /// Waits until a time (`cx.sleep`).
    Sleep,
    /// Reads the store's clock (`cx.now`).
    Now,
    /// Draws a random number (`cx.random`, `cx.id`).
    Random,
    /// Waits for a signal sent to the flow (`cx.signal`).
    Signal,
    /// Appends a line to one of the flow's inboxes (`cx.write`).
    Write,
}

super::names::named!(StepKind, "flow command kind");

impl StepKind {
    /// Whether the command creates a child job.
    pub fn creates_child(self) -> bool {
        matches!(self, StepKind::Call | StepKind::Spawn)
    }
}

/// One command of a flow, as recorded. A flow's history is its steps in
/// order; replaying the flow's code against it must issue the same commands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// The flow's job.
    pub flow: JobId,
    /// The command's position in the history, from 0.
    pub k: u32,
    /// What the command does.
    pub kind: StepKind,
    /// What it acts on: `elf/task` for a call or spawn, the signal's name,
    /// the inbox's name, the steps a join waits for (`3..5`), or empty.
    pub target: String,
    /// A digest of the command's inputs (arguments, duration, line, ...):
    /// with `kind` and `target`, what a replay must issue again.
    pub hash: String,
    /// The child job it created (call, spawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<JobId>,
    /// When it is due (sleep, a signal's timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Millis>,
    /// What the flow saw, once it saw it: a child's `{"ok": value}` or
    /// `{"err": ..}`, the time read, the number drawn, the signal received,
    /// the line written, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
    /// Whether the flow is suspended waiting for this step (its child, its
    /// signal).
    #[serde(default)]
    pub awaited: bool,
    /// The version of the flow that recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<TaskSha>,
    /// Where in that version's source the command was issued (`file:line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Details: for a signal, the awaited type and its JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// When it was recorded.
    pub at: Millis,
}

impl Step {
    /// The command as a replay compares it.
    pub fn command(&self) -> Command {
        Command {
            kind: self.kind,
            target: self.target.clone(),
            hash: self.hash.clone(),
            sha: self.sha.clone(),
            location: self.location.clone(),
        }
    }
}

/// The id of a signal sent to a flow.
pub type SignalId = i64;

/// A signal sent to a flow: stored until the flow consumes it (each signal
/// at most once, by one `cx.signal` command).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Signal {
    /// Its id, increasing in the order signals were sent.
    pub id: SignalId,
    /// The flow's job.
    pub flow: JobId,
    /// Its name (`approve`).
    pub name: String,
    /// Its payload.
    pub payload: Value,
    /// When it was sent.
    pub sent_at: Millis,
    /// The step of the flow that consumed it, once one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_by: Option<u32>,
}

/// A flow's command, as a determinism check compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Command {
    /// What it does.
    pub kind: StepKind,
    /// What it acts on.
    pub target: String,
    /// The digest of its inputs.
    pub hash: String,
    /// The version of the flow that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<TaskSha>,
    /// Where in that version's source (`file:line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Command {
    /// Whether a replay issuing `self` matches the recorded `other`.
    pub fn matches(&self, other: &Command) -> bool {
        self.kind == other.kind && self.target == other.target && self.hash == other.hash
    }

    /// The file and line of `location`.
    pub fn file_line(&self) -> Option<(&str, u32)> {
        let (file, line) = self.location.as_deref()?.rsplit_once(':')?;
        Some((file, line.parse().ok()?))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}", self.kind)?;
        if !self.target.is_empty() {
            write!(f, " {}", self.target)?;
        }
        write!(f, "`")?;
        if !self.hash.is_empty() {
            write!(f, " (inputs {})", self.hash)?;
        }
        if let Some(at) = &self.location {
            write!(f, " at {at}")?;
        }
        if let Some(sha) = &self.sha {
            write!(f, " in version {}", sha.short())?;
        }
        Ok(())
    }
}

/// Why a replay failed its determinism check: the command recorded at a
/// step, and the one the flow issued there instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mismatch {
    /// The step.
    pub step: u32,
    /// What the history holds.
    pub recorded: Command,
    /// What the flow issued (nothing: the flow ended before reaching it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Command>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_display() {
        crate::model::names::assert_serde_agrees::<StepKind>();
        let c = Command {
            kind: StepKind::Call,
            target: "flows/f2".into(),
            hash: "1a2b".into(),
            sha: None,
            location: Some("elves/flows/tasks.rs:40".into()),
        };
        assert_eq!(c.to_string(), "`call flows/f2` (inputs 1a2b) at elves/flows/tasks.rs:40");
        assert_eq!(c.file_line(), Some(("elves/flows/tasks.rs", 40)));
        let mut other = c.clone();
        other.location = None;
        assert!(c.matches(&other), "where a command is issued does not change what it is");
        other.hash = "ffff".into();
        assert!(!c.matches(&other));
    }
}
