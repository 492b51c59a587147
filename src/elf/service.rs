//! The elf's service loop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::panic;
use super::runner::{self, Done};
use crate::doorbell;
use crate::model::{
    Build, Claimed, Completion, ElfInstance, ElfState, InstanceId, JobId, Lease, Origin, Outcome, TaskSha, now_ms,
};
use crate::storage::{self, ClaimRequest, Store};
use crate::task::Task;

/// An elf: a name and the tasks it serves.
#[derive(Debug, Clone)]
pub struct Elf {
    name: String,
    tasks: Vec<&'static Task>,
}

impl Elf {
    /// An elf named `name` serving no task yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), tasks: Vec::new() }
    }

    /// Serves `task` too (pass `my_task::TASK`).
    pub fn task(mut self, task: &'static Task) -> Self {
        self.tasks.push(task);
        self
    }

    /// The elf's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tasks it serves.
    pub fn tasks(&self) -> &[&'static Task] {
        &self.tasks
    }

    /// The task named `name`.
    pub fn find(&self, name: &str) -> Option<&'static Task> {
        self.tasks.iter().copied().find(|t| t.info.name == name)
    }
}

/// How an elf runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The store's URL.
    pub store: String,
    /// Jobs run at once.
    pub slots: u32,
    /// Lease length; heartbeats come every third of it.
    pub lease_ttl: Duration,
    /// How often an idle elf looks for work when nothing woke it.
    pub poll: Duration,
    /// How long a stopping elf lets running jobs finish before releasing them.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store: storage::DEFAULT_URL.to_owned(),
            slots: 8,
            lease_ttl: Duration::from_secs(30),
            poll: Duration::from_millis(10),
            grace: Duration::from_secs(10),
        }
    }
}

/// How often an elf without a doorbell line tries to open one.
const REDIAL: Duration = Duration::from_secs(1);

/// Write results at once when this many wait.
const FLUSH_BATCH: usize = 256;
/// Write waiting results at the latest this long after the first finished.
const FLUSH_AFTER: Duration = Duration::from_millis(2);

/// Jobs in flight: the lease, and a way to stop an async one.
type Held = Arc<Mutex<HashMap<JobId, (Lease, tokio::task::AbortHandle)>>>;

/// Serves `elf` until `shutdown` resolves; then stops claiming, lets running
/// jobs finish within the grace period, releases the rest and exits.
pub async fn serve(elf: &Elf, options: &Options, shutdown: impl Future<Output = ()>) -> Result<(), storage::Error> {
    panic::install_hook();
    let store = storage::open(&options.store)?;
    let instance = InstanceId::random();
    let versions: Vec<_> = elf.tasks.iter().map(|t| t.info.version()).collect();
    let shas: HashMap<&str, TaskSha> = elf.tasks.iter().map(|t| (t.info.name, t.info.sha())).collect();
    let ttl_ms = i64::try_from(options.lease_ttl.as_millis()).unwrap_or(i64::MAX);
    {
        let store = store.clone();
        let me = ElfInstance {
            instance: instance.clone(),
            elf: elf.name.clone(),
            host: Origin::current().host,
            pid: std::process::id(),
            build: Build {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: option_env!("MYCELIUM_GIT_COMMIT").map(str::to_owned),
                program: Some(Origin::current().program).filter(|p| !p.is_empty()),
            },
            tasks: versions.iter().map(|v| v.sha.clone()).collect(),
            slots: options.slots,
            started_at: now_ms(),
            heartbeat_at: now_ms(),
            lease_until: now_ms() + ttl_ms,
            state: ElfState::Running,
        };
        blocking(move || {
            store.record_tasks(&versions)?;
            store.register_elf(&me)
        })
        .await?;
    }
    println!("elf {} ready: instance {} serving {} task(s) on {}", elf.name, instance, elf.tasks.len(), store.url());

    let endpoint = doorbell::Endpoint::for_store(&options.store);
    let mut bell = match &endpoint {
        Some(e) => doorbell::Bell::connect(e, &elf.name, &instance.0).await,
        None => None,
    };
    let mut last_dial = Instant::now();
    let held: Held = Arc::default();
    let heartbeat = tokio::spawn(heartbeat_loop(store.clone(), instance.clone(), held.clone(), options.lease_ttl));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Lease, TaskSha, Done)>();
    let task_names: Vec<String> = elf.tasks.iter().map(|t| t.info.name.to_owned()).collect();
    tokio::pin!(shutdown);
    let mut stopping: Option<Instant> = None;
    let mut completions: Vec<Completion> = Vec::new();
    let mut last_version = store.change_counter().unwrap_or(0);
    let mut last_claim = Instant::now();
    let mut starved = false;
    let mut flush_since: Option<Instant> = None;
    loop {
        while let Ok((lease, sha, done)) = done_rx.try_recv() {
            settle(&store, &held, lease, sha, done, &mut completions).await?;
        }
        let in_flight = held.lock().map(|h| h.len()).unwrap_or(0) as u32;
        if let Some(since) = stopping {
            if !completions.is_empty() {
                let batch = std::mem::take(&mut completions);
                let s = store.clone();
                blocking(move || s.complete(&batch)).await?;
            }
            if in_flight == 0 {
                break;
            }
            if since.elapsed() >= options.grace {
                release_all(&store, &held).await?;
                break;
            }
        }
        let free = if stopping.is_some() { 0 } else { options.slots.saturating_sub(in_flight) };
        // Results are written with the next claim, in one transaction. They
        // wait for the batch in flight to finish (so that one transaction
        // carries the whole batch), but never longer than FLUSH_AFTER.
        let flush_due = !completions.is_empty()
            && (in_flight == 0
                || completions.len() >= FLUSH_BATCH
                || flush_since.is_some_and(|t: Instant| t.elapsed() >= FLUSH_AFTER));
        let may_have_work = free > 0
            && completions.is_empty()
            && (!starved || last_claim.elapsed() >= Duration::from_millis(500) || {
                let v = store.change_counter().unwrap_or(0);
                let changed = v != last_version;
                last_version = v;
                changed
            });
        if flush_due || may_have_work {
            let batch = std::mem::take(&mut completions);
            flush_since = None;
            let s = store.clone();
            let (inst, name, names) = (instance.clone(), elf.name.clone(), task_names.clone());
            let (_, mut readied, claimed) = inline(move || {
                let req = ClaimRequest { instance: &inst, elf: &name, tasks: &names, max: free, ttl_ms };
                s.complete_and_claim(&batch, &req)
            })
            .await?;
            if let Some(own) = readied.get_mut(&elf.name) {
                *own = own.saturating_sub(claimed.len() as u32);
            }
            readied.retain(|_, n| *n > 0);
            if let Some(b) = &bell {
                b.ring(&readied);
            }
            last_claim = Instant::now();
            starved = (claimed.len() as u32) < free;
            let got = !claimed.is_empty();
            for c in claimed {
                start(elf, &shas, &held, c, done_tx.clone());
            }
            if got || !starved {
                continue;
            }
        }
        let wait = match flush_since {
            Some(t) => FLUSH_AFTER.saturating_sub(t.elapsed()),
            None => poll_interval(&options.store, options.poll),
        };
        if bell.as_ref().is_none_or(|b| !b.is_open()) && last_dial.elapsed() >= REDIAL {
            last_dial = Instant::now();
            bell = match &endpoint {
                Some(e) => doorbell::Bell::connect(e, &elf.name, &instance.0).await,
                None => None,
            };
        }
        let ringer = bell.clone();
        if flush_since.is_none()
            && let Some(b) = &ringer
        {
            b.idle();
        }
        tokio::select! {
            _ = async { if let Some(b) = &ringer { b.woken().await } else { std::future::pending::<()>().await } } => {
                starved = false;
            }
            Some((lease, sha, done)) = done_rx.recv() => {
                settle(&store, &held, lease, sha, done, &mut completions).await?;
                if !completions.is_empty() && flush_since.is_none() {
                    flush_since = Some(Instant::now());
                }
            }
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown, if stopping.is_none() => {
                stopping = Some(Instant::now());
                println!("elf {} stopping: finishing {} job(s)", elf.name, in_flight);
            }
        }
    }
    heartbeat.abort();
    if let Some(b) = &bell {
        b.bye();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = store.clone();
    let me = instance.clone();
    blocking(move || s.elf_gone(&me, false)).await?;
    println!("elf {} stopped", elf.name);
    Ok(())
}

/// How long an idle elf waits before looking at the store again: the
/// configured poll on the embedded store (a local read costs a microsecond),
/// 1–2 s with jitter on a remote one, where the doorbell carries the
/// latency and polls are only the safety net.
fn poll_interval(url: &str, local: Duration) -> Duration {
    if url.starts_with("sqlite:") { local } else { Duration::from_millis(rand::random_range(1_000..2_000)) }
}

/// Starts a claimed job on the runtime.
fn start(
    elf: &Elf,
    shas: &HashMap<&str, TaskSha>,
    held: &Held,
    c: Claimed,
    done: mpsc::UnboundedSender<(Lease, TaskSha, Done)>,
) {
    let lease = c.lease;
    let Some(task) = elf.find(&c.task) else {
        // Claims filter on our task names, so this cannot happen; fail loudly if it does.
        let report = runner::failed(
            crate::model::FailureKind::BadInput,
            format!("elf {} has no task `{}`", elf.name, c.task),
            false,
            &c.args,
            &TaskSha::of_source(""),
        );
        let _ = done.send((lease, TaskSha::of_source(""), report));
        return;
    };
    let sha = shas.get(task.info.name).cloned().unwrap_or_else(|| task.info.sha());
    let handle = tokio::spawn(async move {
        let outcome = runner::run(task, &c, &sha).await;
        let _ = done.send((lease, sha, outcome));
    });
    if let Ok(mut h) = held.lock() {
        h.insert(lease.job, (lease, handle.abort_handle()));
    }
}

/// Files a finished job: a value joins the next batch; a failure is written
/// at once.
async fn settle(
    store: &Arc<dyn Store>,
    held: &Held,
    lease: Lease,
    sha: TaskSha,
    done: Done,
    completions: &mut Vec<Completion>,
) -> Result<(), storage::Error> {
    let still_ours = held.lock().map(|mut h| h.remove(&lease.job).is_some()).unwrap_or(false);
    if !still_ours {
        // Cancelled or lost at a heartbeat: the result must not be reported.
        return Ok(());
    }
    match done {
        Done::Value(value) => {
            let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(usize::MAX);
            let limit = store.limits().max_payload;
            if size > limit {
                let report = runner::failed(
                    crate::model::FailureKind::Error,
                    format!("the task's value is {size} bytes, over the store's limit of {limit} bytes"),
                    false,
                    &serde_json::Value::Null,
                    &sha,
                );
                return settle_failure(store, lease, report).await;
            }
            completions.push(Completion { lease, ran_sha: Some(sha), value });
            Ok(())
        }
        Done::Failed(report) => settle_failure(store, lease, Done::Failed(report)).await,
    }
}

async fn settle_failure(store: &Arc<dyn Store>, lease: Lease, done: Done) -> Result<(), storage::Error> {
    let Done::Failed(report) = done else { return Ok(()) };
    let s = store.clone();
    blocking(move || s.fail(&lease, &report)).await?;
    Ok(())
}

async fn release_all(store: &Arc<dyn Store>, held: &Held) -> Result<(), storage::Error> {
    let leases: Vec<Lease> = held
        .lock()
        .map(|mut h| {
            h.drain()
                .map(|(_, (lease, abort))| {
                    abort.abort();
                    lease
                })
                .collect()
        })
        .unwrap_or_default();
    if leases.is_empty() {
        return Ok(());
    }
    let s = store.clone();
    blocking(move || s.release(&leases)).await?;
    Ok(())
}

/// Renews the elf's leases every third of the TTL; drops jobs that were
/// cancelled or lost so their results are never reported.
async fn heartbeat_loop(store: Arc<dyn Store>, instance: InstanceId, held: Held, ttl: Duration) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        let leases: Vec<Lease> = held.lock().map(|h| h.values().map(|(l, _)| *l).collect()).unwrap_or_default();
        let s = store.clone();
        let me = instance.clone();
        let sent = leases.clone();
        match blocking(move || s.heartbeat(&me, &sent, ttl_ms)).await {
            Ok(outcomes) => {
                for (lease, outcome) in leases.iter().zip(outcomes) {
                    if outcome != Outcome::Ok
                        && let Ok(mut h) = held.lock()
                        && let Some((_, abort)) = h.remove(&lease.job)
                    {
                        abort.abort();
                        tracing::warn!(job = %lease.job, ?outcome, "stopped a job the elf no longer holds");
                    }
                }
            }
            Err(e) => tracing::warn!("heartbeat failed: {e}"),
        }
    }
}

/// Runs the hot path's store call on this worker thread (telling the
/// runtime, which moves its other tasks away), sparing a hand-off to a
/// blocking thread and back on every batch; on a current-thread runtime it
/// falls back to a blocking thread.
async fn inline<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, storage::Error> + Send + 'static,
) -> Result<T, storage::Error> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(f)
    } else {
        blocking(f).await
    }
}

/// Runs a store call on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, storage::Error> + Send + 'static,
) -> Result<T, storage::Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| storage::Error::backend("run a store call", std::io::Error::other(e.to_string())))?
}
