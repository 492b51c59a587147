//! When an elf writes and when it claims: pure rules over what it holds, so
//! that they are tested without a store or a clock.
//!
//! Two costs pull apart. Every transaction costs the store (one writer at a
//! time), so short jobs' results wait to be written together with the next
//! claim ([`Batch`]). But a slot whose job ended is idle until the next
//! claim's transaction has committed, so for jobs long against a transaction
//! the elf claims the next job for a slot shortly *before* its job is
//! expected to end ([`Ahead`]): the claimed job waits in the elf, and starts
//! the moment the slot frees.

use std::time::Duration;

/// Write results at once when this many wait.
pub(super) const FLUSH_BATCH: usize = 256;
/// Write waiting results at the latest this long after the first finished.
pub(super) const FLUSH_AFTER: Duration = Duration::from_millis(2);
/// A job is long against a transaction when it runs at least this many
/// times as long as the elf's last turn took. Its result is written at once,
/// with a claim (the transaction then costs the store little against the
/// slot's work, while waiting for a batch would leave the slot idle), and
/// its slot's next job is claimed ahead of its end.
pub(super) const EAGER_RATIO: u32 = 10;
/// A job that has run this many times its expected length is no guide to
/// when its slot frees: nothing is claimed ahead for it.
const OVERRUN: u32 = 2;
/// How late a timer may wake the elf (tokio's timers tick in milliseconds):
/// added to the lead, so that a late wake-up still claims in time.
const TIMER: Duration = Duration::from_millis(1);

/// What decides whether waiting results are written now, with a claim.
#[derive(Clone, Copy, Debug)]
pub(super) struct Batch {
    /// Results and flow reports waiting.
    pub(super) writes: usize,
    /// Results waiting.
    pub(super) results: usize,
    /// Jobs running.
    pub(super) in_flight: u32,
    /// The elf's slots.
    pub(super) slots: u32,
    /// How long the oldest waiting result has waited.
    pub(super) waited: Option<Duration>,
    /// Whether a result of a long job waits (`EAGER_RATIO`).
    pub(super) eager: bool,
}

impl Batch {
    /// Results are written with the next claim, in one transaction. They
    /// wait for the batch in flight to finish (so that one transaction
    /// carries the whole batch), never longer than `FLUSH_AFTER`. The elf
    /// asks for more before it runs dry: once half its slots are free, the
    /// results so far go with a claim for them while the other half still
    /// runs; a job that ran long against a transaction has its result
    /// written at once.
    pub(super) fn due(self) -> bool {
        self.writes > 0
            && (self.in_flight == 0
                || self.eager
                || (self.slots.saturating_sub(self.in_flight)).saturating_mul(2) >= self.slots
                || self.results >= FLUSH_BATCH
                || self.waited.is_some_and(|w| w >= FLUSH_AFTER))
    }
}

/// A running job, as claiming ahead sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Running {
    /// How long it has run.
    pub(super) elapsed: Duration,
    /// How long its task's recent runs on this elf took, once one has.
    pub(super) expected: Option<Duration>,
}

/// Claiming ahead of the running jobs' ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Ahead {
    /// Jobs to claim now for slots about to free (beyond those already
    /// claimed ahead and waiting in the elf).
    pub(super) due: u32,
    /// When the next running job comes that close to its end.
    pub(super) next: Option<Duration>,
}

impl Ahead {
    /// What `running` asks for, with `waiting` jobs already claimed ahead
    /// and `turn` the last turn's length. Only a job long against a
    /// transaction (`EAGER_RATIO`) with a known expected length counts; its
    /// slot is claimed for `lead` before its expected end: four turns (at
    /// least 1 ms) and a timer's lateness, at most half the job. A job that overran its expected
    /// length twice over counts no more.
    pub(super) fn of(running: impl IntoIterator<Item = Running>, waiting: u32, turn: Duration) -> Ahead {
        let mut near = 0u32;
        let mut next: Option<Duration> = None;
        for job in running {
            let Some(expected) = job.expected else { continue };
            if expected < turn.saturating_mul(EAGER_RATIO) || job.elapsed >= expected.saturating_mul(OVERRUN) {
                continue;
            }
            let lead = (turn.saturating_mul(4).max(Duration::from_millis(1)) + TIMER).min(expected / 2);
            let at = expected - lead;
            if job.elapsed >= at {
                near += 1;
            } else {
                let until = at - job.elapsed;
                next = Some(next.map_or(until, |n| n.min(until)));
            }
        }
        Ahead { due: near.saturating_sub(waiting), next }
    }
}

/// A task's expected length after a run of `ran`: a moving average that
/// weighs the newest run a quarter.
pub(super) fn expect(before: Option<Duration>, ran: Duration) -> Duration {
    match before {
        Some(b) => (b * 3 + ran) / 4,
        None => ran,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(results: usize, in_flight: u32) -> Batch {
        Batch { writes: results, results, in_flight, slots: 8, waited: Some(Duration::ZERO), eager: false }
    }

    #[test]
    fn short_jobs_wait_for_half_the_slots_or_the_flush_delay() {
        assert!(!waiting(1, 7).due(), "one short result of 8 slots waits for more");
        assert!(waiting(4, 4).due(), "half the slots free");
        assert!(waiting(1, 0).due(), "nothing else running");
        assert!(Batch { waited: Some(FLUSH_AFTER), ..waiting(1, 7) }.due(), "waited long enough");
        assert!(waiting(FLUSH_BATCH, 7).due(), "a full batch");
    }

    #[test]
    fn a_long_job_s_result_goes_at_once() {
        assert!(Batch { eager: true, ..waiting(1, 7) }.due());
    }

    #[test]
    fn nothing_waiting_writes_nothing() {
        assert!(!Batch { eager: true, ..waiting(0, 0) }.due());
    }

    const MS: Duration = Duration::from_millis(1);

    fn job(elapsed_ms: u64, expected_ms: Option<u64>) -> Running {
        Running { elapsed: MS * elapsed_ms as u32, expected: expected_ms.map(|e| MS * e as u32) }
    }

    #[test]
    fn a_slot_is_claimed_for_shortly_before_its_job_ends() {
        // 10 ms jobs, turns of 0.2 ms: the lead is 2 ms (four turns are
        // less than 1 ms, and the timer may wake 1 ms late).
        let turn = Duration::from_micros(200);
        let a = Ahead::of([job(3, Some(10))], 0, turn);
        assert_eq!(a, Ahead { due: 0, next: Some(MS * 5) }, "wakes 2 ms before the end");
        assert_eq!(Ahead::of([job(7, Some(10))], 0, turn).due, 0);
        assert_eq!(Ahead::of([job(8, Some(10))], 0, turn).due, 1);
        assert_eq!(Ahead::of([job(9, Some(10))], 0, turn).due, 1);
        assert_eq!(Ahead::of([job(9, Some(10)), job(9, Some(10))], 1, turn).due, 1, "one already waits");
        assert_eq!(Ahead::of([job(9, Some(10))], 3, turn).due, 0);
        // Slow turns lead by four of them.
        assert_eq!(Ahead::of([job(91, Some(100))], 0, MS * 2).due, 1);
        assert_eq!(Ahead::of([job(91, Some(100))], 0, MS * 2).next, None);
        assert_eq!(Ahead::of([job(90, Some(100))], 0, MS * 2).due, 0, "10 ms before the end is too early");
        // Never earlier than half the job.
        assert_eq!(Ahead::of([job(4, Some(10))], 0, MS).due, 0);
        assert_eq!(Ahead::of([job(5, Some(10))], 0, MS).due, 1);
    }

    #[test]
    fn short_unknown_or_overrunning_jobs_are_not_claimed_ahead() {
        let turn = MS;
        assert_eq!(Ahead::of([job(9, Some(9))], 0, turn), Ahead::default(), "under ten turns long");
        assert_eq!(Ahead::of([job(50, None)], 0, turn), Ahead::default(), "never ran here");
        assert_eq!(Ahead::of([job(25, Some(12))], 0, turn), Ahead::default(), "ran twice its length");
        assert_eq!(Ahead::of([job(23, Some(12))], 0, turn).due, 1, "late, but not twice over");
    }

    #[test]
    fn the_expected_length_follows_recent_runs() {
        assert_eq!(expect(None, MS * 8), MS * 8);
        assert_eq!(expect(Some(MS * 8), MS * 12), MS * 9);
    }
}
