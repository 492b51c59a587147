//! Runs: one orchestration each.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Millis, RunId};

/// How a run stands.
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

super::names::named!(RunState, "run state");

impl RunState {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        self != RunState::Running
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
    /// Its share of the elves relative to other runs while they compete:
    /// a run of weight 2 gets twice the claims of a run of weight 1. From
    /// 1 to 1024; 1 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
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
    /// Whether the run takes no more jobs. A run submitted in one piece is
    /// sealed from the start; a run opened with
    /// [`Store::open_run`](crate::storage::Store::open_run) takes chunks of
    /// jobs until its driver seals it (or it is cancelled), and does not
    /// finish before, even when every job so far is final. Runs stored
    /// before runs could be opened count as sealed.
    #[serde(default = "sealed_by_default")]
    pub sealed: bool,
}

impl Run {
    /// Its state as people read it: `open` for a running run that still
    /// takes jobs (not sealed yet), else its state's name.
    pub fn status(&self) -> &'static str {
        if self.state == RunState::Running && !self.sealed { "open" } else { self.state.as_str() }
    }
}

/// Runs stored before runs could be opened took no more jobs.
fn sealed_by_default() -> bool {
    true
}
