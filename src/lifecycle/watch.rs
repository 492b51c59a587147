//! The async side of a [`Store`]: one place that owns the blocking
//! boundary, retries what the store says may succeed later, and wakes
//! waiters when anything was committed (instead of every waiter polling).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::Store;
use super::outage::Outage;
use super::store::Inner;
use crate::storage::{Error, Result};

/// The change watcher: one polling thread per store handle, only while
/// someone waits.
#[derive(Default)]
pub(crate) struct Watcher {
    sender: Mutex<Option<watch::Sender<i64>>>,
}

impl Store {
    /// Runs a store call off the async runtime's reactor (in place on a
    /// multi-threaded runtime, which moves its other tasks away; on a
    /// blocking thread otherwise).
    ///
    /// While the store reports a retryable error (busy, a full disk that
    /// clears, a server restarting) the call is tried again, with a wait
    /// that doubles up to two seconds, for as long as the outage lasts:
    /// elves, the coordinator and waiting drivers ride out an outage instead
    /// of ending. The outage is logged once when it starts and once when it
    /// ends. Drop the future (`tokio::time::timeout`) to give up sooner.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut outage = Outage::default();
        loop {
            match self.call_once(f.clone()).await {
                Err(e) if e.is_retryable() => {
                    let wait = outage.failed("run a store call", &e);
                    tokio::time::sleep(wait).await;
                }
                out => {
                    if out.is_ok() {
                        outage.recovered("a store call");
                    }
                    return out;
                }
            }
        }
    }

    async fn call_once<T, F>(&self, f: Arc<F>) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T> + Send + Sync + 'static,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let in_place = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if in_place {
            tokio::task::block_in_place(|| f(self))
        } else {
            let store = self.clone();
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .map_err(|e| Error::backend("run a store call", std::io::Error::other(e.to_string())))?
        }
    }

    /// Resolves once anything was committed since the change counter read
    /// `seen`; returns the counter now. Waiters share one poller per handle
    /// (at the backend's poll interval), so none of them blocks the runtime.
    pub async fn changed(&self, seen: i64) -> Result<i64> {
        let mut rx = self.watch();
        loop {
            let now = *rx.borrow_and_update();
            if now != seen {
                return Ok(now);
            }
            if rx.changed().await.is_err() {
                return Err(Error::Unavailable { store: self.url(), detail: "the change watcher stopped".into() });
            }
        }
    }

    fn watch(&self) -> watch::Receiver<i64> {
        let mut sender = self.inner.watcher.sender.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = sender.as_ref() {
            return tx.subscribe();
        }
        let first = self.change_counter().unwrap_or(i64::MIN);
        let (tx, rx) = watch::channel(first);
        let weak = Arc::downgrade(&self.inner);
        let poll = self.describe().poll.0.max(Duration::from_millis(1));
        let thread_tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("mycelium-watch".into())
            .spawn(move || poll_changes(weak, thread_tx, poll));
        if spawned.is_ok() {
            *sender = Some(tx);
        }
        rx
    }
}

/// Publishes the change counter while anyone listens; ends with the store.
fn poll_changes(store: Weak<Inner>, tx: watch::Sender<i64>, poll: Duration) {
    loop {
        let Some(inner) = store.upgrade() else { return };
        if tx.receiver_count() > 0 {
            if let Ok(v) = inner.backend.change_counter() {
                tx.send_if_modified(|old| {
                    let changed = *old != v;
                    *old = v;
                    changed
                });
            }
            drop(inner);
            std::thread::sleep(poll);
        } else {
            drop(inner);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RunQuery;

    /// An outage of about 13 minutes on the paused clock, longer than any
    /// fixed tolerance: the call answers once the store does.
    #[tokio::test(start_paused = true)]
    async fn a_call_is_retried_for_as_long_as_the_store_is_unavailable() {
        let (store, faults) = Store::memory_with_faults();
        faults.fail_next(400);
        let started = tokio::time::Instant::now();
        let runs = store.call(|s| s.runs(&RunQuery::default())).await;
        assert_eq!(runs.ok().map(|r| r.len()), Some(0));
        assert_eq!(faults.failed(), 400);
        assert!(started.elapsed() > Duration::from_secs(600), "the outage lasted {:?}", started.elapsed());
    }

    /// An error that retrying cannot cure is returned at once.
    #[tokio::test(start_paused = true)]
    async fn a_call_that_cannot_succeed_is_not_retried() {
        let store = Store::memory();
        let started = tokio::time::Instant::now();
        let job = store.call(|s| s.job(crate::model::JobId(9))?.ok_or(Error::UnknownJob(crate::model::JobId(9)))).await;
        assert!(matches!(job, Err(Error::UnknownJob(_))), "{job:?}");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
