//! The coordinator's loop.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::audit_run;
use crate::doorbell::{Endpoint, Server, ServerOptions};
use crate::elf::blocking;
use crate::model::{Origin, RunState};
use crate::storage::{self, RunQuery, Store};

/// How the coordinator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The store's URL.
    pub store: String,
    /// How often to reap and renew leadership.
    pub tick: Duration,
    /// How often to checkpoint the store.
    pub checkpoint_every: Duration,
    /// How often to audit the graphs of unfinished runs.
    pub audit_every: Duration,
    /// A TCP address for remote elves' doorbells (`0.0.0.0:7474`).
    pub doorbell_tcp: Option<String>,
    /// The token remote doorbell peers must present.
    pub doorbell_token: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store: storage::DEFAULT_URL.to_owned(),
            tick: Duration::from_millis(500),
            checkpoint_every: Duration::from_secs(1),
            audit_every: Duration::from_secs(30),
            doorbell_tcp: None,
            doorbell_token: String::new(),
        }
    }
}

/// Runs with more jobs than this are not audited (memory stays bounded).
const AUDIT_MAX_JOBS: u64 = 100_000;

/// Runs until `shutdown` resolves.
pub async fn serve(options: &Options, shutdown: impl Future<Output = ()>) -> Result<(), storage::Error> {
    let store = storage::open(&options.store)?;
    let origin = Origin::current();
    let holder = format!("{}:{}:{}", origin.host, origin.pid, uuid::Uuid::new_v4());
    let ttl_ms = i64::try_from((options.tick * 4).as_millis()).unwrap_or(i64::MAX);
    let unix = match Endpoint::for_store(&options.store) {
        Some(Endpoint::Unix(path)) => Some(path),
        _ => None,
    };
    let bell_options =
        ServerOptions { unix: unix.clone(), tcp: options.doorbell_tcp.clone(), token: options.doorbell_token.clone() };
    println!(
        "coordinator ready on {} (holder {holder}; doorbell {})",
        store.url(),
        unix.map(|p| p.display().to_string())
            .into_iter()
            .chain(options.doorbell_tcp.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The doorbell opens when this coordinator leads: a standby leaves the
    // socket to the leader, and takes it over (removing the dead leader's
    // socket file) when it takes the lead.
    let mut bell: Option<Server> = None;
    tokio::pin!(shutdown);
    let mut leading = false;
    let mut last_checkpoint = Instant::now();
    let mut last_audit: Option<Instant> = None;
    let mut tick = tokio::time::interval(options.tick);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => break,
        }
        let s = store.clone();
        let h = holder.clone();
        let lead = blocking(move || s.lead("coordinator", &h, ttl_ms)).await?;
        if lead != leading {
            println!(
                "coordinator {}",
                if lead { "is the leader" } else { "is standing by: another coordinator leads" }
            );
            leading = lead;
        }
        if !lead {
            continue;
        }
        if bell.is_none() {
            match Server::start(bell_options.clone(), store.clone()).await {
                Ok(server) => bell = Some(server),
                Err(e) => tracing::warn!("cannot open the doorbell yet (elves fall back to polling): {e}"),
            }
        }
        let s = store.clone();
        let reaped = blocking(move || s.reap()).await?;
        if let Some(bell) = &bell {
            for (elf, n) in &reaped.readied {
                bell.ring(elf, *n);
            }
        }
        if !reaped.expired.is_empty() || !reaped.lost_elves.is_empty() {
            tracing::info!(
                expired = reaped.expired.len(),
                failed = reaped.failed.len(),
                lost = reaped.lost_elves.len(),
                "reaped"
            );
            println!(
                "reaped {} expired lease(s) ({} failed for good), {} lost elf instance(s)",
                reaped.expired.len(),
                reaped.failed.len(),
                reaped.lost_elves.len()
            );
        }
        if last_checkpoint.elapsed() >= options.checkpoint_every {
            let s = store.clone();
            blocking(move || s.checkpoint()).await?;
            last_checkpoint = Instant::now();
        }
        if last_audit.is_none_or(|t| t.elapsed() >= options.audit_every) {
            audit_all(&store).await?;
            last_audit = Some(Instant::now());
        }
    }
    println!("coordinator stopped");
    Ok(())
}

/// Audits every unfinished run's graph and reports what is wrong.
async fn audit_all(store: &Arc<dyn Store>) -> Result<(), storage::Error> {
    let s = store.clone();
    blocking(move || {
        let runs = s.runs(&RunQuery { state: Some(RunState::Running), limit: Some(1000) })?;
        for r in runs {
            // The audit holds a run's graph in memory; the largest runs are
            // left to the store's own transactional bookkeeping.
            if r.total > AUDIT_MAX_JOBS {
                continue;
            }
            let audit = audit_run(&*s, r.id)?;
            if !audit.is_clean() {
                tracing::error!(run = %r.id, ?audit, "inconsistent run graph");
                println!("run {} graph is inconsistent: {audit:?}", r.id);
            }
        }
        Ok(())
    })
    .await
}
