//! A memory store that fails on demand, for tests of what the runtimes do
//! while a store is out of reach: [`Faults::fail_next`] makes the next
//! transactions fail with [`Error::Unavailable`], as a busy or restarting
//! store does, having written nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::MemoryBackend;
use crate::lifecycle::Store;
use crate::storage::seam::{Backend, Description, Read, Tx};
use crate::storage::{Error, Limits, Result};

/// The switch of a [`Store::memory_with_faults`] store.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    left: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
}

impl Faults {
    /// Makes the next `n` reads, writes and change-counter reads fail.
    pub(crate) fn fail_next(&self, n: u32) {
        self.left.store(n, Ordering::SeqCst);
    }

    /// How many calls are still to fail.
    pub(crate) fn left(&self) -> u32 {
        self.left.load(Ordering::SeqCst)
    }

    /// How many calls failed so far.
    pub(crate) fn failed(&self) -> u32 {
        self.failed.load(Ordering::SeqCst)
    }

    /// An outage error if one is due (counting it), else `Ok`.
    fn check(&self, url: &str) -> Result<()> {
        let due = self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if due {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(Error::Unavailable {
                store: url.to_owned(),
                detail: "injected outage (database is locked)".into(),
            });
        }
        Ok(())
    }
}

/// A memory backend behind a [`Faults`] switch.
#[derive(Debug)]
struct Faulty {
    inner: MemoryBackend,
    faults: Faults,
}

impl Backend for Faulty {
    fn describe(&self) -> &Description {
        self.inner.describe()
    }

    fn read(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> Result<()> {
        self.faults.check(&self.describe().url)?;
        self.inner.read(body)
    }

    fn write(&self, what: &'static str, body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        self.faults.check(&self.describe().url)?;
        self.inner.write(what, body)
    }

    fn change_counter(&self) -> Result<i64> {
        self.faults.check(&self.describe().url)?;
        self.inner.change_counter()
    }
}

impl Store {
    /// A fresh in-memory store that fails while `Faults` says so.
    pub(crate) fn memory_with_faults() -> (Store, Faults) {
        let faults = Faults::default();
        let backend = Faulty { inner: MemoryBackend::new(Limits::default()), faults: faults.clone() };
        (Store::from_backend(Box::new(backend)), faults)
    }
}
