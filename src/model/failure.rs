//! Failure records: one per failed attempt, kept with the traceback, the
//! version that ran and the inputs that caused it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{FailureId, InstanceId, JobId, Millis, RunId, TaskSha};

/// Why an attempt failed.
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
    /// Every elf that took the job was lost while running it, as many times
    /// as its retry policy's `max_lost` allows: the job is likely killing
    /// the elves that run it.
    Poison,
    /// A flow replaying its history issued a command other than the one
    /// recorded at that point (its code changed, or it is not deterministic).
    Nondeterminism,
}

super::names::named!(FailureKind, "failure kind");

impl FailureKind {
    /// Whether the failure is the infrastructure's (a dead or silent elf),
    /// not the task's: such attempts do not count against `max_attempts`.
    pub fn is_infrastructure(self) -> bool {
        matches!(self, FailureKind::LeaseExpired | FailureKind::ElfLost)
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
    /// For a `nondeterminism` failure: the command the history recorded and
    /// the one the flow issued instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<Box<super::Mismatch>>,
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
            mismatch: None,
        }
    }

    /// The grouping key of equal failures: the kind, the task, and where the
    /// failure arose, or the message when no frame is of interest.
    ///
    /// Where it arose is the innermost frame of interest, as the last two
    /// components of its file's path (so that the machine and directory it
    /// was built in do not count) and its line, counted from the outermost
    /// frame of interest in the same file (the task's `#[task]` line, so a
    /// recompile that moves the whole task within its file keeps the key).
    /// Function names and columns are left out: an optimised build shortens
    /// the names of inlined frames and may move columns, and one bug must
    /// give one key in every build profile. A lone frame of interest (the
    /// task's own entry point, for an error returned without a recorded
    /// site) counts by its file alone.
    pub fn signature(&self, elf: &str, task: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.kind.as_str());
        h.update([0]);
        h.update(elf);
        h.update([0]);
        h.update(task);
        let located: Vec<(&str, u32)> =
            self.frames.iter().filter(|f| f.of_interest).filter_map(|f| Some((f.file.as_deref()?, f.line?))).collect();
        if let Some(&(file, line)) = located.first() {
            h.update([2]);
            h.update(path_tail(file));
            if located.len() > 1 {
                let outermost = located.iter().rev().find(|(f, _)| *f == file).map_or(line, |(_, l)| *l);
                let at = if outermost < line { format!("+{}", line - outermost) } else { format!("@{line}") };
                h.update([0]);
                h.update(at);
            }
        } else {
            // Kinds whose message names ids or times group by kind and task alone.
            let stable_message = !matches!(
                self.kind,
                FailureKind::UpstreamFailed
                    | FailureKind::Timeout
                    | FailureKind::LeaseExpired
                    | FailureKind::ElfLost
                    | FailureKind::Poison
                    | FailureKind::Nondeterminism
            );
            if stable_message {
                h.update([1]);
                h.update(&self.message);
            }
        }
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// The last two components of a path (`trials/tasks.rs`), whatever the
/// separator.
fn path_tail(path: &str) -> String {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, line: u32, of_interest: bool) -> Frame {
        Frame { function: function.into(), file: Some(file.into()), line: Some(line), column: Some(5), of_interest }
    }

    fn report(kind: FailureKind, message: &str, frames: Vec<Frame>) -> FailureReport {
        FailureReport { frames, ..FailureReport::new(kind, message) }
    }

    /// A panic at `line` in a task whose `#[task]` line is `attr`, as a
    /// debug build names its frames.
    fn panic_at(root: &str, attr: u32, line: u32) -> FailureReport {
        report(
            FailureKind::Panic,
            "index out of bounds",
            vec![
                frame("core::panicking::panic_bounds_check", "/rustc/abc/library/core/src/panicking.rs", 271, false),
                frame("elf_trials::tasks::pick", &format!("{root}/elves/trials/tasks.rs"), line, true),
                frame("elf_trials::tasks::pick::invoke", &format!("{root}/elves/trials/tasks.rs"), attr, true),
                frame("mycelium::elf::runner::run::{{closure}}", &format!("{root}/src/elf/runner.rs"), 43, false),
            ],
        )
    }

    #[test]
    fn the_same_failure_has_one_signature_in_every_profile_machine_and_position() {
        let debug = panic_at("/work/main", 12, 15);
        let sig = debug.signature("trials", "pick");
        // A release build names inlined frames without their paths.
        let mut release = panic_at("/home/ci/build", 12, 15);
        release.frames[1].function = "pick".into();
        release.frames[2].function = "invoke".into();
        release.frames[1].column = Some(9);
        assert_eq!(release.signature("trials", "pick"), sig);
        // The whole task moved down by 30 lines.
        assert_eq!(panic_at("/work/main", 42, 45).signature("trials", "pick"), sig);
        // Another line of the task, another task, another kind: another key.
        assert_ne!(panic_at("/work/main", 12, 16).signature("trials", "pick"), sig);
        assert_ne!(debug.signature("trials", "greet"), sig);
        let mut error = debug.clone();
        error.kind = FailureKind::Error;
        assert_ne!(error.signature("trials", "pick"), sig);
    }

    #[test]
    fn a_failure_in_another_file_counts_by_its_own_line() {
        let at = |helper_line: u32| {
            let mut r = panic_at("/w", 12, 15);
            r.frames.insert(1, frame("elf_trials::util::split", "/w/elves/trials/util.rs", helper_line, true));
            r.signature("trials", "pick")
        };
        assert_eq!(at(40), at(40));
        assert_ne!(at(40), at(41));
    }

    #[test]
    fn without_frames_of_interest_the_message_counts_unless_it_names_ids() {
        let a = report(FailureKind::BadInput, "expected 1 argument", vec![]);
        let b = report(FailureKind::BadInput, "expected 2 arguments", vec![]);
        assert_ne!(a.signature("e", "t"), b.signature("e", "t"));
        let a = report(FailureKind::UpstreamFailed, "upstream job 1 failed", vec![]);
        let b = report(FailureKind::UpstreamFailed, "upstream job 7 failed", vec![]);
        assert_eq!(a.signature("e", "t"), b.signature("e", "t"));
        // A lone frame of interest (an error with no recorded site) counts by
        // its file: the task's entry point moves with the task.
        let lone = |line| {
            report(FailureKind::Error, "boom", vec![frame("c::t::invoke", "/w/src/tasks.rs", line, true)])
                .signature("e", "t")
        };
        assert_eq!(lone(12), lone(40));
    }

    #[test]
    fn path_tails_ignore_where_the_code_was_built() {
        assert_eq!(path_tail("/work/main/elves/trials/tasks.rs"), "trials/tasks.rs");
        assert_eq!(path_tail("elves/trials/tasks.rs"), "trials/tasks.rs");
        assert_eq!(path_tail("C:\\src\\app\\lib.rs"), "app/lib.rs");
        assert_eq!(path_tail("lib.rs"), "lib.rs");
    }
}
