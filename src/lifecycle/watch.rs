//! The async side of a [`Store`]: one place that owns the blocking
//! boundary, retries what the store says may succeed later, and wakes
//! waiters when anything was committed (instead of every waiter polling).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Store;
use super::store::Inner;
use crate::storage::{Error, Result};

/// How long a runtime keeps retrying a store that is unavailable before it
/// gives up (the store said the same call may succeed later: busy, a full
/// disk that clears, a server restarting).
pub(crate) const OUTAGE_TOLERANCE: Duration = Duration::from_secs(300);

/// The change watcher: one polling thread per store handle, only while
/// someone waits.
#[derive(Default)]
pub(crate) struct Watcher {
    sender: Mutex<Option<watch::Sender<i64>>>,
}

impl Store {
    /// Runs a store call off the async runtime's reactor (in place on a
    /// multi-threaded runtime, which moves its other tasks away; on a
    /// blocking thread otherwise), retrying with backoff while the store
    /// reports a retryable error, for up to five minutes.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let started = Instant::now();
        let mut backoff = Duration::from_millis(10);
        loop {
            let out = self.call_once(f.clone()).await;
            match out {
                Err(e) if e.is_retryable() && started.elapsed() < OUTAGE_TOLERANCE => {
                    tracing::warn!("store unavailable, retrying in {} ms: {e}", backoff.as_millis());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                other => return other,
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
