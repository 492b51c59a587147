//! Task versions: the exact source an elf runs, content-addressed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Millis, TaskSha};

/// One version of one task, recorded by the elf that serves it.
///
/// The version id is the sha256 of `source`, so the same text is the same
/// version wherever it is compiled; which elf and task name serve it is kept
/// beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskVersion {
    /// sha256 of `source`.
    pub sha: TaskSha,
    /// The elf that serves the task.
    pub elf: String,
    /// The task's name (the function's name).
    pub name: String,
    /// The exact source text of the function, attribute and doc comment included.
    pub source: String,
    /// The file the source was read from, relative to its crate.
    pub file: String,
    /// The line of the file on which `source` starts.
    pub line: u32,
    /// Argument names and types, return type.
    pub signature: Signature,
    /// The doc comment, without the `///` markers.
    pub doc: String,
    /// When the store first saw this version (set by the store).
    #[serde(default)]
    pub first_seen: Millis,
}

impl TaskVersion {
    /// The line of the file on which `line_in_source` (1-based, counted within
    /// `source`) stands.
    pub fn file_line(&self, line_in_source: u32) -> u32 {
        self.line + line_in_source.saturating_sub(1)
    }
}

/// A task's signature as written in its source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Signature {
    /// The arguments in order.
    pub params: Vec<Param>,
    /// The type the task's value has (`T` of `T` or `Result<T, E>`).
    pub output: String,
    /// Whether the task is an `async fn`.
    pub is_async: bool,
    /// Whether the task returns a `Result` whose error fails the job.
    pub fallible: bool,
    /// Whether it is a flow (`#[mycelium::flow]`): orchestration code that
    /// records its commands and may wait for signals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flow: bool,
}

/// One argument of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Param {
    /// The argument's name.
    pub name: String,
    /// Its type, as written.
    pub ty: String,
}

/// How often and when a failed job is tried again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retried).
    pub max_attempts: u32,
    /// The delay before each retry.
    pub backoff: Backoff,
    /// The longest delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Whether to draw each delay uniformly from [delay/2, delay] so that
    /// jobs that failed together don't retry together.
    pub jitter: bool,
    /// Attempts that may be lost to infrastructure (the elf running the job
    /// died or fell silent) before the job is failed as a poison job. Such
    /// losses are not the task's fault: they never use `max_attempts`.
    #[serde(default = "RetryPolicy::default_max_lost")]
    pub max_lost: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff: Backoff::Fixed { delay_ms: 0 },
            max_delay_ms: 60_000,
            jitter: false,
            max_lost: Self::DEFAULT_MAX_LOST,
        }
    }
}

impl RetryPolicy {
    /// Infrastructure losses a job survives by default.
    pub const DEFAULT_MAX_LOST: u32 = 5;

    fn default_max_lost() -> u32 {
        Self::DEFAULT_MAX_LOST
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), before
    /// jitter, capped at `max_delay_ms`.
    pub fn delay_ms(&self, next_attempt: u32) -> u64 {
        let raw = match self.backoff {
            Backoff::Fixed { delay_ms } => delay_ms,
            Backoff::Exponential { initial_ms, factor } => {
                let exp = next_attempt.saturating_sub(2).min(62);
                let scaled = initial_ms as f64 * f64::from(factor).powi(exp as i32);
                if scaled.is_finite() && scaled < u64::MAX as f64 { scaled as u64 } else { u64::MAX }
            }
        };
        raw.min(self.max_delay_ms)
    }

    /// The delay with jitter applied when the policy asks for it.
    pub fn jittered_delay_ms(&self, next_attempt: u32) -> u64 {
        let delay = self.delay_ms(next_attempt);
        if self.jitter && delay > 1 { rand::random_range(delay / 2..=delay) } else { delay }
    }
}

/// The shape of retry delays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed {
        /// The delay in milliseconds.
        delay_ms: u64,
    },
    /// `initial_ms * factor^(retry-1)`.
    Exponential {
        /// The delay before the first retry, in milliseconds.
        initial_ms: u64,
        /// The growth factor (2 doubles the delay at every retry).
        factor: f32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_lost: 5,
            max_attempts: 10,
            backoff: Backoff::Exponential { initial_ms: 100, factor: 2.0 },
            max_delay_ms: 1_000,
            jitter: false,
        };
        assert_eq!(p.delay_ms(2), 100);
        assert_eq!(p.delay_ms(3), 200);
        assert_eq!(p.delay_ms(5), 800);
        assert_eq!(p.delay_ms(6), 1_000);
        assert_eq!(p.delay_ms(60), 1_000);
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let p = RetryPolicy {
            max_lost: 5,
            jitter: true,
            backoff: Backoff::Fixed { delay_ms: 1000 },
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let d = p.jittered_delay_ms(2);
            assert!((500..=1000).contains(&d), "{d}");
        }
    }
}
