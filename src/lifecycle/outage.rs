//! A streak of retryable store errors (busy, a full disk that clears, a
//! server restarting): how long to wait before the next try, growing from
//! [`FIRST`] to at most [`MAX`], and one log line when the streak starts and
//! one when it ends, never one per try (a long outage would flood the log).

use std::time::Duration;

use crate::storage::Error;

/// The wait after the first failed try.
pub(crate) const FIRST: Duration = Duration::from_millis(10);
/// The longest wait between tries.
pub(crate) const MAX: Duration = Duration::from_secs(2);

/// One caller's streak of failed tries.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    /// Failed tries in the current streak (0: none).
    tries: u32,
    /// The wait before the next try.
    backoff: Duration,
}

impl Outage {
    /// Records a failed try of `what`; the wait before the next one. Logs
    /// only the streak's first failure.
    pub(crate) fn failed(&mut self, what: &str, e: &Error) -> Duration {
        self.backoff = if self.tries == 0 { FIRST } else { (self.backoff * 2).min(MAX) };
        self.tries += 1;
        if self.tries == 1 {
            tracing::warn!("store unavailable while trying to {what}, retrying with backoff (up to {MAX:?}): {e}");
        }
        self.backoff
    }

    /// Records a success: logs the end of a streak, if there was one.
    pub(crate) fn recovered(&mut self, what: &str) {
        if self.tries > 0 {
            tracing::info!("store available again: {what} succeeded after {} failed tries", self.tries);
        }
        self.tries = 0;
    }

    /// Failed tries in the current streak.
    #[cfg(test)]
    pub(crate) fn tries(&self) -> u32 {
        self.tries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_bound_and_a_success_starts_over() {
        let e = Error::Unavailable { store: "memory:".into(), detail: "busy".into() };
        let mut o = Outage::default();
        let waits: Vec<u128> = (0..11).map(|_| o.failed("claim jobs", &e).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2000, 2000, 2000]);
        assert_eq!(o.tries(), 11);
        o.recovered("claim jobs");
        assert_eq!(o.tries(), 0);
        assert_eq!(o.failed("claim jobs", &e), FIRST);
    }
}
