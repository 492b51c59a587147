//! The in-memory mycelium: every table in this process's memory, behind one
//! lock. It keeps the whole seam contract but durability: what it holds is
//! gone with the process. It serves the lifecycle's own unit tests and
//! `mycelium::testing`.
//!
//! URLs: `memory:` (a fresh store each time it is opened) or
//! `memory://name` (every open of the same name in one process shares one
//! store while any handle to it lives), with optional `?max_payload=<bytes>`.

mod agents;
#[cfg(test)]
pub(crate) mod faults;
mod flows;
mod read;
mod retention;
mod tables;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use super::registry::{OpenMode, Registration, bad_url};
use super::seam::{Backend, Description, Locality, Read, Tx};
use super::{Limits, Result};
use tables::Tables;

pub(crate) const REGISTRATION: Registration =
    Registration { schemes: &["memory"], example: "memory: or memory://name", open, check: |url| parse(url).map(drop) };

fn open(url: &str, _mode: OpenMode) -> Result<Box<dyn Backend>> {
    let (name, limits) = parse(url)?;
    Ok(Box::new(MemoryBackend::named(&name, limits)))
}

/// The store's name and limits in a `memory:` URL.
fn parse(url: &str) -> Result<(String, Limits)> {
    let rest = url.strip_prefix("memory:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut limits = Limits::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max_payload", v)) => {
                limits.max_payload = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad_url(url, &format!("max_payload `{v}` is not a positive number of bytes")))?;
            }
            _ => return Err(bad_url(url, &format!("unknown option `{pair}` (known: max_payload=<bytes>)"))),
        }
    }
    Ok((name.to_owned(), limits))
}

/// The in-memory backend.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBackend {
    shared: Arc<Shared>,
    description: Description,
}

#[derive(Debug, Default)]
struct Shared {
    tables: Mutex<Tables>,
}

/// Named stores of this process, kept while a handle lives.
fn named_stores() -> &'static Mutex<HashMap<String, Weak<Shared>>> {
    static NAMED: OnceLock<Mutex<HashMap<String, Weak<Shared>>>> = OnceLock::new();
    NAMED.get_or_init(Mutex::default)
}

impl MemoryBackend {
    /// A fresh, empty store.
    pub(crate) fn new(limits: Limits) -> Self {
        Self::with_shared(Arc::default(), "memory:".to_owned(), limits)
    }

    /// The store called `name` in this process (a fresh one when `name` is
    /// empty).
    pub(crate) fn named(name: &str, limits: Limits) -> Self {
        if name.is_empty() {
            return Self::new(limits);
        }
        let mut named = named_stores().lock().unwrap_or_else(|p| p.into_inner());
        named.retain(|_, w| w.strong_count() > 0);
        let shared = match named.get(name).and_then(Weak::upgrade) {
            Some(s) => s,
            None => {
                let s = Arc::<Shared>::default();
                named.insert(name.to_owned(), Arc::downgrade(&s));
                s
            }
        };
        Self::with_shared(shared, format!("memory://{name}"), limits)
    }

    fn with_shared(shared: Arc<Shared>, url: String, limits: Limits) -> Self {
        let description = Description {
            url,
            scheme: "memory",
            locality: Locality::InProcess,
            doorbell: None,
            poll: (Duration::from_millis(1), Duration::from_millis(2)),
            lease: Duration::from_secs(10),
            limits,
        };
        Self { shared, description }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.shared.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn describe(&self) -> &Description {
        &self.description
    }

    fn read(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> Result<()> {
        let mut tables = self.lock();
        let mut view = write::MemTx::new(&mut tables);
        let out = body(&mut view);
        view.rollback();
        out
    }

    fn write(&self, _what: &'static str, body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut tables = self.lock();
        let mut tx = write::MemTx::new(&mut tables);
        match body(&mut tx) {
            Ok(()) => {
                tx.commit();
                Ok(())
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }

    fn change_counter(&self) -> Result<i64> {
        Ok(self.lock().version)
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh named store for each case (shared by the case's handles).
    fn fresh() -> (String, ()) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (format!("memory://conformance-{}", NEXT.fetch_add(1, Ordering::Relaxed)), ())
    }

    crate::conformance_suite!(in_process: fresh());
}
