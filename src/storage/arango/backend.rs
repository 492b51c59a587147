//! The ArangoDB [`Backend`]: reads and write transactions with their
//! retries, and what happens when an answer never comes.
//!
//! A write is one Stream Transaction that declares every collection for
//! writing and `meta` exclusively: the writer lock, the counterpart of
//! SQLite's writer gate. Writers queue on the server (up to the lock
//! timeout, strictly below the request timeout), never overlap, and so never
//! conflict with each other; `seq` numbers follow commit order and no write
//! skew is possible. A write transaction is retried whole, after an abort,
//! when the server reports a conflict (with a writer outside the mycelium),
//! a lock timeout, a transaction it gave up, or when a request's answer was
//! lost before the commit: nothing of an aborted transaction remains.
//!
//! A commit whose answer was lost is sent again: committing a committed
//! transaction answers "committed", committing one that was not is done
//! then, and one the server aborted meanwhile (error 1653) was not
//! committed, so the whole write runs again. When no answer comes at all,
//! the write fails with `Unavailable`, saying that its outcome is unknown;
//! every write of the lifecycle is then safe to repeat or is resolved by the
//! reaper (a claim that did commit leases its jobs to an elf that never
//! learned of them, until the lease runs out).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arangors::ClientError;

use super::clock::ServerClock;
use super::config::Config;
use super::db::{Access, Db};
use super::errors::{self, Class, TRANSACTION_ABORTED};
use super::setup;
use super::view::View;
use crate::lifecycle::Clock;
use crate::storage::registry::OpenMode;
use crate::storage::seam::{Backend, Description, Locality, Read, Tx};
use crate::storage::{Error, Limits, Result};

/// The first retry's delay; it doubles, with jitter, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// Commits re-sent after a lost answer before the outcome is called unknown.
const COMMIT_RESENDS: u32 = 4;

/// The ArangoDB backend.
#[derive(Debug)]
pub(crate) struct ArangoBackend {
    db: Db,
    description: Description,
    clock: Arc<ServerClock>,
    /// How long conflicts, lock timeouts and lost answers are retried before
    /// a call fails with `Unavailable`.
    retry_for: Duration,
}

/// Why one attempt at a transaction failed.
enum Failed {
    /// Run it again (after a pause).
    Retry(ClientError),
    /// Give up with this error.
    Fail(Error),
}

impl ArangoBackend {
    /// Connects and opens (with [`OpenMode::Create`], creates) the mycelium
    /// `config` names.
    pub(crate) fn open(config: &Config, mode: OpenMode) -> Result<Self> {
        let client = setup::connect(config)?;
        let db = setup::open(config, &client, mode)?;
        let shown = config.redacted();
        let clock = ServerClock::measure(db.clone(), config.clock_skew_ms)
            .map_err(|e| errors::to_storage(&shown, "read the server's clock", &e))?;
        tracing::debug!(store = %shown, error_ms = clock.error_ms(), "measured the server's clock");
        let description = Description {
            url: shown,
            scheme: "arangodb",
            locality: Locality::Remote,
            doorbell: None,
            poll: (Duration::from_millis(10), Duration::from_millis(100)),
            lease: Duration::from_secs(30),
            limits: Limits { max_payload: config.max_payload },
        };
        let retry_for = (config.timeout * 2).max(Duration::from_secs(10));
        Ok(Self { db, description, clock: Arc::new(clock), retry_for })
    }

    fn shown(&self) -> &str {
        &self.description.url
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been retried
    /// for [`ArangoBackend::retry_for`].
    fn retrying(&self, what: &str, mut attempt: impl FnMut() -> std::result::Result<(), Failed>) -> Result<()> {
        let started = Instant::now();
        let mut delay = FIRST_BACKOFF;
        let mut tries = 0u32;
        loop {
            match attempt() {
                Ok(()) => return Ok(()),
                Err(Failed::Fail(e)) => return Err(e),
                Err(Failed::Retry(e)) if started.elapsed() < self.retry_for => {
                    tries += 1;
                    tracing::debug!(what, tries, "retrying: {}", errors::describe(&e));
                    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).max(1);
                    std::thread::sleep(Duration::from_millis(rand::random_range(ms / 2..=ms)));
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
                Err(Failed::Retry(e)) => {
                    let mut err = errors::to_storage(self.shown(), what, &e);
                    if let Error::Unavailable { detail, .. } = &mut err {
                        detail.push_str(&format!(" (retried {tries} times over {:?})", started.elapsed()));
                    }
                    return Err(err);
                }
            }
        }
    }

    /// What a failed request means for the transaction it belonged to.
    fn judge(&self, what: &str, e: ClientError) -> Failed {
        if errors::worth_retrying(&e) {
            Failed::Retry(e)
        } else {
            Failed::Fail(errors::to_storage(self.shown(), what, &e))
        }
    }

    /// One attempt at a write transaction.
    fn write_once(
        &self,
        what: &str,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>,
    ) -> std::result::Result<(), Failed> {
        let trx = self.db.begin(Access::Write).map_err(|e| self.judge(what, e))?;
        let mut view = View::in_transaction(&self.db, self.shown(), trx.clone());
        let out = body(&mut view).and_then(|()| view.flush());
        let fault = view.take_fault();
        drop(view);
        match (out, fault) {
            (Ok(()), None) => self.commit(what, &trx),
            (out, fault) => {
                // Nothing of it may remain; an abort that fails leaves a
                // transaction that can never commit (it expires).
                if let Err(e) = self.db.abort(&trx) {
                    tracing::debug!(what, "could not abort transaction {trx}: {}", errors::describe(&e));
                }
                match (fault, out) {
                    (Some(f), _) => Err(self.judge(what, f)),
                    (None, Err(e)) => Err(Failed::Fail(e)),
                    (None, Ok(())) => Ok(()),
                }
            }
        }
    }

    /// Commits `trx`, resolving a lost answer by sending the commit again.
    fn commit(&self, what: &str, trx: &str) -> std::result::Result<(), Failed> {
        let mut last = match self.db.commit(trx) {
            Ok(()) => return Ok(()),
            Err(e) if errors::classify(&e) == Class::Unreachable => e,
            Err(e) if errors::error_num(&e) == Some(TRANSACTION_ABORTED) => return Err(Failed::Retry(e)),
            Err(e) => return Err(self.judge(what, e)),
        };
        for resend in 0..COMMIT_RESENDS {
            std::thread::sleep(Duration::from_millis(50 << resend));
            match self.db.commit(trx) {
                // The first commit took effect, or this one did.
                Ok(()) => return Ok(()),
                // Aborted or expired before any commit arrived: not
                // committed, so the whole write may run again.
                Err(e) if errors::error_num(&e) == Some(TRANSACTION_ABORTED) => return Err(Failed::Retry(e)),
                // No answer again, or the first commit is still running
                // (the transaction is in use: error 28): ask once more.
                Err(e) => last = e,
            }
        }
        Err(Failed::Fail(Error::Unavailable {
            store: self.shown().to_owned(),
            detail: format!(
                "{what}: the commit of transaction {trx} was sent but no answer came (last: {}); whether it took \
                 effect is unknown. Repeating it is safe: a completion, heartbeat or release repeats as a no-op, a \
                 submission with an idempotency key answers with its first run, and jobs of a claim that did \
                 commit go back to the queue when their lease runs out",
                errors::describe(&last)
            ),
        }))
    }

    /// One attempt at a read.
    fn read_once(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> std::result::Result<(), Failed> {
        // Most reads are one query: try it without a transaction.
        let mut view = View::standalone(&self.db, self.shown());
        let out = body(&mut view);
        let fault = view.take_fault();
        if !view.restart() {
            return match (fault, out) {
                (Some(f), _) => Err(self.judge("read", f)),
                (None, out) => out.map_err(Failed::Fail),
            };
        }
        drop(view);
        let trx = self.db.begin(Access::Read).map_err(|e| self.judge("begin a read", e))?;
        let mut view = View::in_transaction(&self.db, self.shown(), trx.clone());
        let out = body(&mut view);
        let fault = view.take_fault();
        drop(view);
        if let Err(e) = self.db.abort(&trx) {
            tracing::debug!("could not end read transaction {trx}: {}", errors::describe(&e));
        }
        match (fault, out) {
            (Some(f), _) => Err(self.judge("read", f)),
            (None, out) => out.map_err(Failed::Fail),
        }
    }
}

impl Backend for ArangoBackend {
    fn describe(&self) -> &Description {
        &self.description
    }

    fn read(&self, body: &mut dyn FnMut(&mut dyn Read) -> Result<()>) -> Result<()> {
        self.retrying("read", || self.read_once(body))
    }

    fn write(&self, what: &'static str, body: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        self.retrying(what, || self.write_once(what, body))
    }

    fn change_counter(&self) -> Result<i64> {
        let q = super::aql::Query::new("read the change counter", super::aql::CHANGE_COUNTER);
        let mut out = 0;
        self.retrying("read the change counter", || {
            let v = self.db.query_one(&q, None).map_err(|e| self.judge("read the change counter", e))?;
            out = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).unwrap_or(0);
            Ok(())
        })?;
        Ok(out)
    }

    fn clock(&self) -> Option<Arc<dyn Clock>> {
        Some(self.clock.clone())
    }
}
