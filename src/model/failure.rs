//! Failure records: one per failed attempt, kept with the traceback, the
//! version that ran and the inputs that caused it.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{FailureId, InstanceId, JobId, Millis, RunId, TaskSha};

/// Why an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The task returned an error.
    Error,
    /// The task panicked.
    Panic,
    /// The attempt ran past its time limit.
    Timeout,
    /// The lease ran out without a heartbeat.
    LeaseExpired,
    /// The elf process died holding the job.
    ElfLost,
    /// The arguments could not be decoded into the task's parameters.
    BadInput,
    /// A producer failed, so the job could not run.
    UpstreamFailed,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Error,
        FailureKind::Panic,
        FailureKind::Timeout,
        FailureKind::LeaseExpired,
        FailureKind::ElfLost,
        FailureKind::BadInput,
        FailureKind::UpstreamFailed,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::LeaseExpired => "lease_expired",
            FailureKind::ElfLost => "elf_lost",
            FailureKind::BadInput => "bad_input",
            FailureKind::UpstreamFailed => "upstream_failed",
        }
    }
}

impl std::str::FromStr for FailureKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("`{s}` is not a failure kind: expected one of {}", names.join(", "))
        })
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One frame of a traceback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Frame {
    /// The demangled function name.
    pub function: String,
    /// Source file, when symbolized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Whether the frame is in the project's own code rather than the
    /// standard library, the runtime or a dependency.
    #[serde(default)]
    pub of_interest: bool,
}

/// What an elf reports about a failed attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailureReport {
    /// Why it failed.
    pub kind: FailureKind,
    /// The error's or panic's message.
    pub message: String,
    /// The error's sources, outermost first (the message excluded).
    #[serde(default)]
    pub causes: Vec<String>,
    /// The symbolized backtrace, innermost first.
    #[serde(default)]
    pub frames: Vec<Frame>,
    /// The task version that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_sha: Option<TaskSha>,
    /// The resolved arguments, possibly truncated (see `inputs_truncated`).
    #[serde(default)]
    pub inputs: Value,
    /// Whether `inputs` was cut to the size cap; the full original size is
    /// then in `inputs_size`.
    #[serde(default)]
    pub inputs_truncated: bool,
    /// Size in bytes of the serialized resolved inputs.
    #[serde(default)]
    pub inputs_size: u64,
    /// Whether another attempt may succeed. A task says no by returning a
    /// non-retryable error; then no retry happens whatever the policy.
    pub retryable: bool,
}

impl FailureReport {
    /// A report of `kind` with only a message.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            causes: Vec::new(),
            frames: Vec::new(),
            ran_sha: None,
            inputs: Value::Null,
            inputs_truncated: false,
            inputs_size: 0,
            retryable: true,
        }
    }

    /// The grouping key of equal failures: kind, task and the frames of
    /// interest (function names only, so a recompile that moves lines keeps
    /// the group), or the message when there are no such frames.
    pub fn signature(&self, elf: &str, task: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.kind.as_str());
        h.update([0]);
        h.update(elf);
        h.update([0]);
        h.update(task);
        let mut any = false;
        for f in self.frames.iter().filter(|f| f.of_interest).take(5) {
            h.update([0]);
            h.update(&f.function);
            any = true;
        }
        // Kinds whose message names ids or times group by kind and task alone.
        let stable_message = !matches!(
            self.kind,
            FailureKind::UpstreamFailed | FailureKind::Timeout | FailureKind::LeaseExpired | FailureKind::ElfLost
        );
        if !any && stable_message {
            h.update([1]);
            h.update(&self.message);
        }
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// A failure as stored: the report plus where and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// Its id.
    pub id: FailureId,
    /// The job.
    pub job: JobId,
    /// The job's run.
    pub run: RunId,
    /// The elf serving the task.
    pub elf: String,
    /// The task.
    pub task: String,
    /// Which attempt failed.
    pub attempt: u32,
    /// The lease epoch of that attempt.
    pub epoch: i64,
    /// The elf instance that ran it, if any did.
    pub instance: Option<InstanceId>,
    /// That instance's host.
    pub host: Option<String>,
    /// That instance's process id.
    pub pid: Option<u32>,
    /// When the attempt started.
    pub started_at: Option<Millis>,
    /// When it failed.
    pub at: Millis,
    /// Groups equal failures across runs.
    pub signature: String,
    /// Whether another attempt was scheduled.
    pub will_retry: bool,
    /// What the elf (or the store, for lost leases) reported.
    pub report: FailureReport,
}
