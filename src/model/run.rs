//! Runs: one orchestration each.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Millis, RunId};

/// How a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunState {
    /// Some job is not final yet.
    Running,
    /// Every job succeeded.
    Succeeded,
    /// Every job is final and at least one failed (or could not run).
    Failed,
    /// Cancelled.
    Cancelled,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 4] = [RunState::Running, RunState::Succeeded, RunState::Failed, RunState::Cancelled];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        self != RunState::Running
    }
}

impl std::str::FromStr for RunState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a run state: expected running, succeeded, failed or cancelled"))
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The process that created something.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Program name (argv\[0\] file name).
    pub program: String,
}

impl Origin {
    /// This process.
    pub fn current() -> Self {
        let program = std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Self { host: gethostname::gethostname().to_string_lossy().into_owned(), pid: std::process::id(), program }
    }
}

/// A run to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunSpec {
    /// A name for people (`nightly`, `w1`).
    pub name: String,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The submitting process.
    #[serde(default)]
    pub created_by: Origin,
    /// When set, a second submission with the same key returns the first
    /// one's ids and writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl RunSpec {
    /// A run named `name`, created by this process.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), created_by: Origin::current(), ..Self::default() }
    }
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Who submitted it.
    pub created_by: Origin,
    /// When.
    pub created_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// How it stands.
    pub state: RunState,
    /// Jobs in all.
    pub total: u64,
    /// Jobs not final yet.
    pub open: u64,
    /// Jobs that failed, could not run or were cancelled.
    pub failed: u64,
}
