//! Time, as the lifecycle sees it: leases, backoff and timers are measured on
//! one clock, which tests and `mycelium::testing` can control.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

use crate::model::{Millis, now_ms};

/// A source of the current time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Millis;
}

/// This machine's wall clock: every process on one machine shares it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        now_ms()
    }
}

/// A clock that moves only when told to: for tests of leases, backoff,
/// timers and time limits without waiting. Clones share one time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
    /// Woken whenever the time is moved.
    moved: Arc<Notify>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Millis) -> Self {
        Self { now: Arc::new(AtomicI64::new(start)), moved: Arc::new(Notify::new()) }
    }

    /// A clock standing at this machine's time now.
    pub fn starting_now() -> Self {
        Self::new(now_ms())
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.now.fetch_add(ms.max(0), Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sets the clock to `at` (it may go backwards: a test of clock skew).
    pub fn set(&self, at: Millis) {
        self.now.store(at, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Resolves once the clock stands at `at` or later: when it already
    /// does, or when it is moved there (from any thread), never on its own.
    pub async fn reached(&self, at: Millis) {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            // Registered before the time is read: a move in between wakes it.
            moved.as_mut().enable();
            if self.now() >= at {
                return;
            }
            moved.await;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now(), 1_000);
        c.advance(250);
        assert_eq!(c.now(), 1_250);
        c.advance(-5);
        assert_eq!(c.now(), 1_250, "advance never goes back");
        c.set(10);
        assert_eq!(c.now(), 10);
    }

    #[test]
    fn reached_waits_for_a_move_from_another_thread_not_for_time() {
        let c = ManualClock::new(0);
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(c.reached(0));
        let mover = c.clone();
        let waiter = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            rt.block_on(mover.reached(60_000));
            mover.now()
        });
        // Moves short of the mark leave it waiting; the one that reaches it
        // ends the wait.
        c.advance(59_999);
        c.advance(1);
        assert_eq!(waiter.join().expect("the waiter"), 60_000);
    }
}
