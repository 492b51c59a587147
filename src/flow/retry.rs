//! Retrying a call from a flow, with backoff: library code over
//! [`Flow::call`] and [`Flow::sleep`], so the waits are durable timers and
//! a crash mid-backoff resumes where it was.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::context::Flow;
use super::error::TaskFailed;
use crate::model::{FailureKind, JobState};
use crate::task::Call;

/// How [`retry`] tries a call again: how many attempts, how long between
/// them, and which failures are worth another attempt.
#[derive(Clone, Debug)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt.
    pub initial: Duration,
    /// The factor by which each wait grows (1 for a fixed wait).
    pub factor: f64,
    /// The longest wait.
    pub max_delay: Duration,
    /// Whether a failure is worth another attempt.
    pub when: fn(&TaskFailed) -> bool,
}

/// The failures worth another attempt by default: all but bad input, a
/// refused call and a cancelled job.
pub fn transient(failed: &TaskFailed) -> bool {
    failed.kind != Some(FailureKind::BadInput) && failed.state != Some(JobState::Cancelled) && failed.job.is_some()
}

impl Retry {
    /// `attempts` attempts in all, waiting 1 s, then 2 s, 4 s, ... (at most
    /// a minute), on [`transient`] failures.
    pub fn new(attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            when: transient,
        }
    }

    /// Waits start at `initial` and grow by `factor`.
    pub fn backoff(mut self, initial: Duration, factor: f64) -> Self {
        self.initial = initial;
        self.factor = if factor.is_finite() && factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// Waits are at most `limit`.
    pub fn max_delay(mut self, limit: Duration) -> Self {
        self.max_delay = limit;
        self
    }

    /// Retries only the failures `when` accepts.
    pub fn when(mut self, when: fn(&TaskFailed) -> bool) -> Self {
        self.when = when;
        self
    }

    /// The wait after failed attempt `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX).min(64);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if secs.is_finite() { Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64())) } else { self.max_delay }
    }
}

/// Calls `make()` until a call succeeds, a failure is not worth another
/// attempt, or the attempts run out (then the last failure); sleeping
/// durably between attempts. Each attempt is a new child job.
///
/// ```ignore
/// let page = retry(cx, &Retry::new(5), || fetch::call(url.clone())).await?;
/// ```
pub async fn retry<T: DeserializeOwned>(
    cx: &mut Flow,
    policy: &Retry,
    mut make: impl FnMut() -> Call<T>,
) -> Result<T, TaskFailed> {
    let mut attempt = 1;
    loop {
        match cx.call(make()).await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < policy.attempts && (policy.when)(&e) => {
                cx.sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_are_capped() {
        let p = Retry::new(5).backoff(Duration::from_millis(100), 2.0).max_delay(Duration::from_millis(350));
        let waits: Vec<u128> = (1..=4).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
        let refused = TaskFailed::refused("e/t".into(), "no".into());
        assert!(!transient(&refused));
    }
}
