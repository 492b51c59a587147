//! The elf's service loop: a [`Runtime`] that owns the elf's state, over a
//! store handle it is given.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::hooks::{self, Hook, HookError, Hooks, Supervisor};
use super::pacing::{self, Ahead, Batch, EAGER_RATIO, FLUSH_AFTER, Running};
use super::panic;
use super::runner::{self, Done};
use crate::agent::{Bus, Context, Declarations, Signal};
use crate::doorbell;
use crate::flow::{self, host::Host as Flows};
use crate::host;
use crate::model::{
    Build, Claimed, Completion, ElfInstance, ElfState, FailureKind, InstanceId, JobId, Lease, Origin, Outcome, TaskSha,
};
use crate::storage::{self, ClaimRequest, Departure, FlowClaim, FlowTurn, Locality, Store, Turn};
use crate::task::{Body, Task};

/// An elf: a name and the tasks and flows it serves.
#[derive(Debug, Clone)]
pub struct Elf {
    name: String,
    tasks: Vec<&'static Task>,
    /// Signals it emits (declared with their schemas when it registers).
    emits: Vec<crate::agent::declarations::Emits>,
    hooks: Hooks,
    flows: Vec<&'static flow::Definition>,
}

impl Elf {
    /// An elf named `name` serving no task yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), tasks: Vec::new(), flows: Vec::new(), emits: Vec::new(), hooks: Hooks::default() }
    }

    /// Declares a signal this elf emits, so that the mycelium knows it (and
    /// its schema) even before any receiver of it has started.
    pub fn emits<S: Signal>(mut self) -> Self {
        self.emits.push((S::NAME, S::schema));
        self
    }

    /// Runs `f` when the elf starts, after it registered and before it claims
    /// any job. An error stops the elf (exit 1) before it claims anything.
    pub fn on_start<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Hook) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HookError>,
    {
        self.hooks.on_start.push((name.into(), hooks::hook(f)));
        self
    }

    /// Runs `f` when the elf stops (SIGTERM, SIGINT), after it drained its
    /// jobs, before it exits.
    pub fn on_stop<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Hook) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HookError>,
    {
        self.hooks.on_stop.push((name.into(), hooks::hook(f)));
        self
    }

    /// Runs `f`, a long-running server, beside the elf's work, supervised:
    /// when it crashes (an error or a panic) the crash is recorded and the
    /// elf stops cleanly with exit 1; when it returns, the elf stops with
    /// exit 0. It should return once [`Hook::stopping`] resolves.
    pub fn server<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Hook) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HookError>,
    {
        self.hooks.servers.push((name.into(), hooks::hook(f)));
        self
    }

    /// What it declares to the mycelium: signals, receivers, queues,
    /// schedules.
    pub fn declarations(&self) -> Result<Declarations, storage::Error> {
        Declarations::of(&self.name, &self.tasks, &self.emits)
            .map_err(|e| storage::Error::invalid(format!("elf `{}`", self.name), e, "fix the task's attribute"))
    }

    /// Serves `task` too (pass `my_task::TASK`).
    pub fn task(mut self, task: &'static Task) -> Self {
        self.tasks.push(task);
        self
    }

    /// Serves the flow `flow` too (pass `my_flow::FLOW`).
    pub fn flow(mut self, flow: &'static flow::Definition) -> Self {
        self.flows.push(flow);
        self
    }

    /// The flows it serves.
    pub fn flows(&self) -> &[&'static flow::Definition] {
        &self.flows
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
    /// Jobs run at once.
    pub slots: u32,
    /// Lease length (heartbeats come every third of it); the store's default
    /// when `None`.
    pub lease_ttl: Option<Duration>,
    /// How often an idle elf looks for work when nothing woke it; the
    /// store's default when `None`.
    pub poll: Option<Duration>,
    /// How long a stopping elf lets running jobs finish before releasing them.
    pub grace: Duration,
    /// A name for this instance, shown by `mycelium elves` (`mycelium
    /// launch` sets `group.replica`).
    pub label: Option<String>,
    /// Whether to keep suspended flows in memory, to resume them without
    /// replaying their history (off: every run replays from the start).
    pub keep_flows: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            slots: 8,
            lease_ttl: None,
            poll: None,
            grace: Duration::from_secs(10),
            label: std::env::var("MYCELIUM_LAUNCH").ok().filter(|l| !l.is_empty()),
            keep_flows: std::env::var_os("MYCELIUM_FLOW_REPLAY").is_none(),
        }
    }
}

/// How often an elf without a doorbell line tries to open one.
const REDIAL: Duration = Duration::from_secs(1);
/// How often an elf on a local store looks for dead peers (their pids gone)
/// and gives their jobs back, whether or not a coordinator leads.
const SWEEP: Duration = Duration::from_millis(250);

/// A job the elf holds: running, or claimed ahead and waiting for a slot.
struct Holding {
    lease: Lease,
    /// Stops an async job (a sync one runs to its end on its thread); None
    /// while the job waits for a slot.
    abort: Option<tokio::task::AbortHandle>,
    /// When it started here (while waiting: when it was claimed).
    since: Instant,
    /// Its task, for a task's job (not a flow's): what its expected length
    /// is kept under.
    task: Option<&'static str>,
    /// How long it waited for a slot after its claim.
    waited: Duration,
}

impl Holding {
    /// A job claimed ahead, waiting for a slot since now.
    fn waiting(lease: Lease) -> Self {
        Self { lease, abort: None, since: Instant::now(), task: None, waited: Duration::ZERO }
    }

    fn running(&self) -> bool {
        self.abort.is_some()
    }
}

/// Jobs held, by id.
type Held = Arc<Mutex<HashMap<JobId, Holding>>>;
/// What one turn's transaction came to.
struct Round {
    /// The work it made ready, by elf.
    readied: std::collections::BTreeMap<String, u32>,
    /// The jobs it claimed.
    claimed: Vec<Claimed>,
    /// What the claimed flows need to resume.
    resumes: HashMap<JobId, storage::Resume>,
}
/// A finished job: its lease, the version that ran, the outcome.
type Finished = (Lease, TaskSha, Done);

/// Serves `elf` from `store` until `shutdown` resolves; then stops claiming,
/// lets running jobs finish within the grace period, releases the rest, and
/// records a clean stop.
pub async fn serve(
    elf: &Elf,
    store: Store,
    options: &Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), storage::Error> {
    panic::install_hook();
    let mut rt = Runtime::start(elf, store, options).await?;
    let mut sup = Supervisor::new(rt.store.clone(), &elf.name, rt.instance.clone());
    if let Err((hook, e)) = sup.run(&elf.hooks.on_start).await {
        rt.stop().await?;
        return Err(storage::Error::invalid(
            format!("on-start hook `{hook}` of elf {}", elf.name),
            format!("it failed: {e}"),
            "fix what it needs; the elf stopped before claiming any job",
        ));
    }
    sup.start(&elf.hooks.servers);
    println!(
        "elf {} ready: instance {} serving {} task(s){} on {}",
        elf.name,
        rt.instance,
        elf.tasks.len(),
        if elf.flows.is_empty() { String::new() } else { format!(" and {} flow(s)", elf.flows.len()) },
        rt.store.url()
    );
    {
        let ended = sup.server_ended();
        rt.run(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = ended => {}
            }
        })
        .await?;
    }
    let by_server = sup.ended.clone();
    if let Some((name, out)) = &by_server {
        match out {
            Ok(()) => println!("elf {} stopping: server `{name}` ended", elf.name),
            Err(e) => println!("elf {} stopping: server `{name}` crashed: {e}", elf.name),
        }
    }
    sup.stop_servers(options.grace).await;
    if let Some((name, Err(e))) = sup.ended.clone() {
        let (store, me, elf_name) = (rt.store.clone(), rt.instance.clone(), elf.name.clone());
        store.call(move |s| s.server_failed(&elf_name, &me, &name, &e)).await?;
    }
    rt.stop().await?;
    if let Err((hook, e)) = sup.run(&elf.hooks.on_stop).await {
        eprintln!("elf {}: on-stop hook `{hook}` failed: {e}", elf.name);
    }
    println!("elf {} stopped", elf.name);
    if let Some((name, Err(e))) = sup.ended.clone() {
        return Err(storage::Error::invalid(
            format!("server `{name}` of elf {}", elf.name),
            format!("it crashed: {e}"),
            "the crash is recorded in the event log; the elf drained and stopped cleanly",
        ));
    }
    Ok(())
}

/// One elf instance at work.
struct Runtime<'a> {
    elf: &'a Elf,
    store: Store,
    options: &'a Options,
    instance: InstanceId,
    /// The lease length in milliseconds.
    ttl_ms: i64,
    /// The names of the tasks served (what claims ask for).
    task_names: Vec<String>,
    /// The version of each task served.
    shas: HashMap<&'static str, TaskSha>,
    /// Jobs running now, and those claimed ahead.
    held: Held,
    /// Jobs claimed ahead of a slot's freeing, in claim order (see
    /// `pacing::Ahead`); each is in `held` until it starts or is dropped.
    waiting: VecDeque<(Claimed, Option<storage::Resume>)>,
    /// How long each task's recent runs here took (`pacing::expect`).
    expected: HashMap<&'static str, Duration>,
    /// Finished jobs report here.
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    /// Results waiting to be written with the next claim.
    completions: Vec<Completion>,
    /// When the oldest waiting result finished.
    flush_since: Option<Instant>,
    /// Waiting results of jobs long against a transaction: written now
    /// (see `EAGER_RATIO`), each with a successor claimed if it readied one.
    long_done: u32,
    /// How long a turn takes: a moving average of the recent ones
    /// (`pacing::expect`), so that one slow turn does not turn off claiming
    /// ahead.
    turn_cost: Duration,
    /// The line to the coordinator's doorbell, when one is open.
    bell: Option<doorbell::Bell>,
    endpoint: Option<doorbell::Endpoint>,
    last_dial: Instant,
    /// Whether the last claim found less work than there were free slots.
    starved: bool,
    last_claim: Instant,
    /// The store's change counter when last looked at.
    last_version: i64,
    last_sweep: Instant,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    /// The flows served: reports for the next turn, flows kept in memory.
    flows: Flows,
    /// The names of the flows served.
    flow_names: Vec<String>,
}

impl<'a> Runtime<'a> {
    /// Registers the instance and its task versions; opens the doorbell.
    async fn start(elf: &'a Elf, store: Store, options: &'a Options) -> Result<Self, storage::Error> {
        let instance = InstanceId::random();
        let ttl = options.lease_ttl.unwrap_or(store.describe().lease);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut versions: Vec<_> = elf.tasks.iter().map(|t| t.info.version()).collect();
        versions.extend(elf.flows.iter().map(|f| f.version()));
        let declarations = elf.declarations()?;
        let now = store.now();
        let origin = Origin::current();
        let pid = std::process::id();
        let me = ElfInstance {
            instance: instance.clone(),
            elf: elf.name.clone(),
            host: origin.host.clone(),
            pid,
            build: Build {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: option_env!("MYCELIUM_GIT_COMMIT").map(str::to_owned),
                program: Some(origin.program.clone()).filter(|p| !p.is_empty()),
            },
            tasks: versions.iter().map(|v| v.sha.clone()).collect(),
            slots: options.slots,
            started_at: now,
            heartbeat_at: now,
            lease_until: now.saturating_add(ttl_ms),
            state: ElfState::Running,
            label: options.label.clone(),
            process_start: host::process_start(pid),
        };
        store
            .call(move |s| {
                s.record_tasks(&versions)?;
                s.register_elf(&me)?;
                if declarations.is_empty() { Ok(()) } else { s.declare(&declarations) }
            })
            .await?;
        let endpoint = doorbell::Endpoint::for_store(&store);
        let bell = match &endpoint {
            Some(e) => doorbell::Bell::connect(e, &elf.name, &instance.0).await,
            None => None,
        };
        let held: Held = Arc::default();
        let heartbeat = tokio::spawn(heartbeat_loop(store.clone(), instance.clone(), held.clone(), ttl));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let last_version = store.others_change_counter().unwrap_or(0);
        Ok(Self {
            elf,
            options,
            instance,
            ttl_ms,
            task_names: elf
                .tasks
                .iter()
                .map(|t| t.info)
                .chain(elf.flows.iter().map(|f| f.info))
                .map(|i| i.name.to_owned())
                .collect(),
            shas: elf.tasks.iter().map(|t| (t.info.name, t.info.sha())).collect(),
            held,
            waiting: VecDeque::new(),
            expected: HashMap::new(),
            done_tx,
            done_rx,
            completions: Vec::new(),
            flush_since: None,
            long_done: 0,
            turn_cost: FLUSH_AFTER,
            bell,
            endpoint,
            last_dial: Instant::now(),
            starved: false,
            last_claim: Instant::now(),
            last_version,
            last_sweep: Instant::now(),
            heartbeat: Some(heartbeat),
            flows: Flows::new(&elf.flows, options.keep_flows),
            flow_names: elf.flows.iter().map(|f| f.info.name.to_owned()).collect(),
            store,
        })
    }

    /// Jobs running now (not those waiting for a slot).
    fn in_flight(&self) -> u32 {
        self.held.lock().map(|h| h.values().filter(|h| h.running()).count()).unwrap_or(0) as u32
    }

    /// Slots neither running a job nor promised to one waiting.
    fn free(&self) -> u32 {
        self.options.slots.saturating_sub(self.in_flight()).saturating_sub(self.waiting.len() as u32)
    }

    /// What claiming ahead asks for now.
    fn ahead(&self) -> Ahead {
        let Ok(held) = self.held.lock() else { return Ahead::default() };
        let running = held.values().filter(|h| h.running()).map(|h| Running {
            elapsed: h.since.elapsed(),
            expected: h.task.and_then(|t| self.expected.get(t).copied()),
        });
        Ahead::of(running, self.waiting.len() as u32, self.turn_cost)
    }

    /// Starts jobs claimed ahead in the slots that are free; drops those
    /// the elf no longer holds (cancelled or lost at a heartbeat).
    fn start_waiting(&mut self) {
        while self.in_flight() < self.options.slots {
            let Some((c, resume)) = self.waiting.pop_front() else { return };
            let since = self.held.lock().ok().and_then(|h| h.get(&c.lease.job).map(|h| h.since));
            if let Some(since) = since {
                self.start_job(c, resume, since.elapsed());
            }
        }
    }

    /// Claims and runs jobs until `shutdown` resolves.
    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), storage::Error> {
        tokio::pin!(shutdown);
        loop {
            while let Ok((lease, sha, done)) = self.done_rx.try_recv() {
                self.settle(lease, sha, done).await?;
            }
            self.start_waiting();
            // Results taken here wait at most FLUSH_AFTER too, even while a
            // long job stays in flight.
            if !self.completions.is_empty() && self.flush_since.is_none() {
                self.flush_since = Some(Instant::now());
            }
            self.sweep().await;
            let free = self.free();
            let ahead = self.ahead();
            let writes = self.completions.len() + usize::from(self.flows.has_reports());
            let flush_due = Batch {
                writes,
                results: self.completions.len(),
                in_flight: self.in_flight(),
                slots: self.options.slots,
                waited: self.flush_since.map(|t| t.elapsed()),
                eager: self.long_done > 0,
            }
            .due();
            // Free slots are claimed for when no results wait (those go with
            // the batch's claim); slots about to free, at once.
            let want = free + ahead.due;
            let may_have_work = want > 0 && (writes == 0 || ahead.due > 0) && self.worth_claiming(want);
            if flush_due || may_have_work {
                let got = self.turn(want).await?;
                if got || !self.starved {
                    continue;
                }
            }
            let wait = match self.flush_since {
                Some(t) => FLUSH_AFTER.saturating_sub(t.elapsed()),
                None => self.poll_wait(),
            };
            let wait = ahead.next.map_or(wait, |n| n.min(wait));
            self.redial().await;
            let ringer = self.bell.clone();
            if self.flush_since.is_none()
                && let Some(b) = &ringer
            {
                b.idle(self.free());
            }
            tokio::select! {
                _ = async { if let Some(b) = &ringer { b.woken().await } else { std::future::pending::<()>().await } } => {
                    self.starved = false;
                }
                Some((lease, sha, done)) = self.done_rx.recv() => {
                    self.settle(lease, sha, done).await?;
                }
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => {
                    println!("elf {} stopping: finishing {} job(s)", self.elf.name, self.in_flight());
                    return Ok(());
                }
            }
        }
    }

    /// Whether the store is on this machine: a read there is cheap and never
    /// waits for the writer.
    fn local(&self) -> bool {
        self.store.describe().locality == Locality::Local
    }

    /// Whether a claim of up to `want` jobs may find work: after a starved
    /// claim, only when another writer committed since it looked (and, on a
    /// local store, where a read never waits for the writer, a read finds
    /// something to claim), or a while passed.
    fn worth_claiming(&mut self, want: u32) -> bool {
        if !self.starved
            || self.last_claim.elapsed() >= Duration::from_millis(500)
            || self.flows.timer_due(self.store.now())
        {
            return true;
        }
        // Others' commits only: this elf's own last commit (the claim that
        // found too little among them) says nothing new about the work.
        let v = self.store.others_change_counter().unwrap_or(0);
        let changed = v != self.last_version;
        self.last_version = v;
        if !changed || !self.local() {
            // On a server, the claim is one round trip: cheaper than a look.
            return changed;
        }
        // An idle elf's empty claim would hold the writer (about half a
        // millisecond each poll, while other elves wait to write results).
        let (name, tasks) = (&self.elf.name, &self.task_names);
        let request = ClaimRequest { instance: &self.instance, elf: name, tasks, max: want, ttl_ms: self.ttl_ms };
        self.store.may_claim(&request, &self.flow_names).unwrap_or(true)
    }

    /// How long to wait idle: the store's poll interval, drawn at random
    /// between its bounds so that many elves do not poll in step.
    fn poll_wait(&self) -> Duration {
        let poll = match self.options.poll {
            Some(p) => p,
            None => {
                let (lo, hi) = self.store.describe().poll;
                if hi > lo { rand::random_range(lo..=hi) } else { lo }
            }
        };
        // A flow's timer wakes the elf when it is due.
        self.flows.until_timer(self.store.now()).map_or(poll, |t| t.min(poll))
    }

    /// Writes waiting results and claims up to `free` jobs, in one
    /// transaction; starts what it claimed in free slots, and keeps the rest
    /// waiting for the slots about to free. When the results of long jobs
    /// made work ready for this elf that it had no slot to claim for (its
    /// slots full, or taken by jobs claimed ahead), it claims that work too,
    /// one job per long job finished, in a second transaction, to start
    /// before the jobs claimed ahead: the successor of a finished job is
    /// where its run goes on (the store hands out the best ranked first), and
    /// behind jobs claimed ahead it would wait a whole round. Returns whether
    /// it claimed any.
    async fn turn(&mut self, free: u32) -> Result<bool, storage::Error> {
        let batch = std::mem::take(&mut self.completions);
        self.flush_since = None;
        let long_done = std::mem::take(&mut self.long_done);
        if self.local() {
            // What others had committed before this claim looked: should it
            // find too little, only their commits after this may have made
            // more work. (A server's counter moves for this elf's own commits
            // too, so there the look would cost a round trip for nothing.)
            self.last_version = self.store.others_change_counter().unwrap_or(self.last_version);
        }
        let Round { mut readied, claimed, resumes } = self.round(batch, free).await?;
        self.starved = (claimed.len() as u32) < free;
        let mut got = !claimed.is_empty();
        let own = readied.get_mut(&self.elf.name);
        let mut follow = 0;
        if let Some(own) = own {
            *own = own.saturating_sub(claimed.len() as u32);
            // At most one successor per long job finished, and only when
            // the claim filled every free slot.
            if claimed.len() as u32 == free {
                follow = (*own).min(long_done);
                *own -= follow;
            }
        }
        readied.retain(|_, n| *n > 0);
        if let Some(b) = &self.bell {
            b.ring(&readied);
        }
        self.hold(claimed, resumes, false);
        if follow > 0 {
            let Round { claimed, resumes, .. } = self.round(Vec::new(), follow).await?;
            got |= !claimed.is_empty();
            self.hold(claimed, resumes, true);
        }
        self.last_claim = Instant::now();
        Ok(got)
    }

    /// One transaction: writes `batch` (and the flows' reports), claims up
    /// to `max` jobs. Returns the work it made ready, by elf, what it
    /// claimed, and what claimed flows need to resume.
    async fn round(&mut self, batch: Vec<Completion>, max: u32) -> Result<Round, storage::Error> {
        let began = Instant::now();
        let (inst, name, names, ttl_ms) =
            (self.instance.clone(), self.elf.name.clone(), self.task_names.clone(), self.ttl_ms);
        let round = if self.flows.serves_any() {
            let reports = self.flows.take_reports();
            let flow_names = self.flow_names.clone();
            let turn: FlowTurn = self
                .store
                .call(move |s| {
                    let request = ClaimRequest { instance: &inst, elf: &name, tasks: &names, max, ttl_ms };
                    s.flow_turn(&batch, &reports, &FlowClaim { request, flows: &flow_names })
                })
                .await?;
            self.flows.committed(&turn.committed);
            self.flows.set_next_timer(turn.next_timer);
            let resumes: HashMap<_, _> = turn.resumes.into_iter().map(|r| (r.job, r)).collect();
            Round { readied: turn.readied, claimed: turn.claimed, resumes }
        } else {
            let Turn { outcomes: _, readied, claimed } = self
                .store
                .call(move |s| {
                    let req = ClaimRequest { instance: &inst, elf: &name, tasks: &names, max, ttl_ms };
                    s.complete_and_claim(&batch, &req)
                })
                .await?;
            Round { readied, claimed, resumes: HashMap::new() }
        };
        self.turn_cost = pacing::expect(Some(self.turn_cost), began.elapsed());
        Ok(round)
    }

    /// Starts claimed jobs in free slots while none waits; the others wait
    /// for a slot, at the back of the line or, when `first`, at its front.
    fn hold(&mut self, claimed: Vec<Claimed>, mut resumes: HashMap<JobId, storage::Resume>, first: bool) {
        let mut line = Vec::new();
        // Slots free now; none is taken while jobs wait before these.
        let mut free = if self.waiting.is_empty() { self.options.slots.saturating_sub(self.in_flight()) } else { 0 };
        for c in claimed {
            let resume = resumes.remove(&c.lease.job);
            if free > 0 {
                free -= 1;
                self.start_job(c, resume, Duration::ZERO);
            } else {
                if let Ok(mut h) = self.held.lock() {
                    h.insert(c.lease.job, Holding::waiting(c.lease));
                }
                line.push((c, resume));
            }
        }
        if first {
            for w in line.into_iter().rev() {
                self.waiting.push_front(w);
            }
        } else {
            self.waiting.extend(line);
        }
    }

    /// On a local store, gives back the jobs of peers whose process is gone,
    /// so that a killed elf's work resumes within a second whether or not a
    /// coordinator leads.
    async fn sweep(&mut self) {
        if !self.local() || self.last_sweep.elapsed() < SWEEP {
            return;
        }
        self.last_sweep = Instant::now();
        let me = host::name();
        let reaped = self.store.call(move |s| s.reap_dead(&me, |e| host::is_alive(e.pid, e.process_start))).await;
        match reaped {
            Ok(r) if !r.lost_elves.is_empty() => {
                tracing::info!(lost = r.lost_elves.len(), "gave back the jobs of dead elf instances");
                if let Some(b) = &self.bell {
                    b.ring(&r.readied);
                }
                self.starved = false;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("could not look for dead elves: {e}"),
        }
    }

    /// Reopens the doorbell line when it is closed.
    async fn redial(&mut self) {
        if self.bell.as_ref().is_some_and(|b| b.is_open()) || self.last_dial.elapsed() < REDIAL {
            return;
        }
        self.last_dial = Instant::now();
        self.bell = match &self.endpoint {
            Some(e) => doorbell::Bell::connect(e, &self.elf.name, &self.instance.0).await,
            None => None,
        };
    }

    /// Starts a claimed job on the runtime (a flow with what resuming it
    /// needs).
    fn start_job(&mut self, c: Claimed, resume: Option<storage::Resume>, waited: Duration) {
        let lease = c.lease;
        let done = self.done_tx.clone();
        if let (Some(def), Some(resume)) = (self.flows.find(&c.task), resume) {
            let handle = self.flows.start(def, c, resume, self.store.clone(), done);
            if let Ok(mut h) = self.held.lock() {
                h.insert(
                    lease.job,
                    Holding { lease, abort: Some(handle.abort_handle()), since: Instant::now(), task: None, waited },
                );
            }
            return;
        }
        let Some(task) = self.elf.find(&c.task) else {
            // Claims filter on our task names, so this cannot happen; fail loudly if it does.
            let report = runner::failed(
                FailureKind::BadInput,
                format!("elf {} has no task `{}`", self.elf.name, c.task),
                false,
                &c.args,
                &TaskSha::of_source(""),
            );
            let _ = done.send((lease, TaskSha::of_source(""), report));
            return;
        };
        let sha = self.shas.get(task.info.name).cloned().unwrap_or_else(|| task.info.sha());
        let bus = Bus::for_job(
            self.store.clone(),
            format!("{}/{}", self.elf.name, task.info.name),
            self.bell.clone(),
            lease.job,
        );
        let cx = Context::for_job(bus, lease.job, c.run, c.attempt);
        // One span per job run (exported with OpenTelemetry by the `otel`
        // feature), with its run and job ids and how it ended.
        let span = tracing::info_span!(
            "job",
            run = c.run.0,
            job = lease.job.0,
            epoch = lease.epoch,
            elf = %self.elf.name,
            task = %task.info.name,
            attempt = c.attempt,
            outcome = tracing::field::Empty,
        );
        let outcome_of = |span: &tracing::Span, outcome: &Done| {
            span.record(
                "outcome",
                match outcome {
                    Done::Value(_) | Done::Flow(_) => "succeeded",
                    Done::Failed(_) => "failed",
                },
            );
        };
        let handle = if let (Body::Sync(f), None) = (task.body, c.timeout_ms) {
            // A sync task without a time limit reports from its blocking
            // thread straight to this loop: one hand-off fewer than through
            // an async task that awaits the thread.
            tokio::task::spawn_blocking(move || {
                let outcome = span.in_scope(|| runner::run_sync(task.info, f, &c, &sha, || cx));
                outcome_of(&span, &outcome);
                let _ = done.send((lease, sha, outcome));
            })
            .abort_handle()
        } else {
            tokio::spawn(async move {
                use tracing::Instrument;
                let outcome = runner::run(task, &c, &sha, cx).instrument(span.clone()).await;
                outcome_of(&span, &outcome);
                let _ = done.send((lease, sha, outcome));
            })
            .abort_handle()
        };
        if let Ok(mut h) = self.held.lock() {
            let task = Some(task.info.name);
            let holding = Holding { lease, abort: Some(handle), since: Instant::now(), task, waited };
            h.insert(lease.job, holding);
        }
    }

    /// Files a finished job: a value joins the next batch; a failure is
    /// written at once.
    async fn settle(&mut self, lease: Lease, sha: TaskSha, done: Done) -> Result<(), storage::Error> {
        let Some(Holding { since, task, waited, .. }) = self.held.lock().ok().and_then(|mut h| h.remove(&lease.job))
        else {
            // Cancelled or lost at a heartbeat: the result must not be reported.
            return Ok(());
        };
        if let Some(task) = task {
            let ran = since.elapsed();
            let before = self.expected.get(task).copied();
            self.expected.insert(task, pacing::expect(before, ran));
        }
        // A job long against a transaction does not wait for others to
        // finish: its slot is claimed for again at once.
        if matches!(done, Done::Value(_) | Done::Flow(_))
            && since.elapsed() >= self.turn_cost.saturating_mul(EAGER_RATIO)
        {
            self.long_done += 1;
        }
        if matches!(done, Done::Value(_) | Done::Flow(_)) && self.flush_since.is_none() {
            // Written with the next turn, at the latest FLUSH_AFTER from now.
            self.flush_since = Some(Instant::now());
        }
        match done {
            Done::Value(value) => {
                let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                self.completions.push(Completion { lease, ran_sha: Some(sha), value, waited_ms });
                Ok(())
            }
            Done::Failed(report) => {
                self.store.call(move |s| s.fail(&lease, &report)).await?;
                Ok(())
            }
            Done::Flow(ran) => {
                self.flows.settled(*ran);
                Ok(())
            }
        }
    }

    /// Stops: lets running jobs finish within the grace period, releases the
    /// rest, records a clean stop, then says goodbye on the doorbell.
    async fn stop(&mut self) -> Result<(), storage::Error> {
        let since = Instant::now();
        // Jobs claimed ahead go back at once, for other elves to run.
        let waiting: Vec<JobId> = self.waiting.drain(..).map(|(c, _)| c.lease.job).collect();
        let leases: Vec<Lease> = self
            .held
            .lock()
            .map(|mut h| waiting.iter().filter_map(|j| h.remove(j)).map(|h| h.lease).collect())
            .unwrap_or_default();
        self.give_back(leases).await?;
        loop {
            while let Ok((lease, sha, done)) = self.done_rx.try_recv() {
                self.settle(lease, sha, done).await?;
            }
            if !self.completions.is_empty() || self.flows.has_reports() {
                // A stopping elf claims nothing, successors neither.
                self.long_done = 0;
                self.turn(0).await?;
            }
            if self.in_flight() == 0 || since.elapsed() >= self.options.grace {
                break;
            }
            if let Ok(Some((lease, sha, done))) =
                tokio::time::timeout(self.options.grace.saturating_sub(since.elapsed()), self.done_rx.recv()).await
            {
                self.settle(lease, sha, done).await?;
            }
        }
        self.release_all().await?;
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        // The store hears of the clean stop before the doorbell closes, so a
        // closed line is never mistaken for a death.
        let me = self.instance.clone();
        self.store.call(move |s| s.elf_gone(&me, Departure::Stopped)).await?;
        if let Some(b) = &self.bell {
            b.bye().await;
        }
        Ok(())
    }

    async fn release_all(&mut self) -> Result<(), storage::Error> {
        let leases: Vec<Lease> = self
            .held
            .lock()
            .map(|mut h| {
                h.drain()
                    .map(|(_, h)| {
                        if let Some(a) = h.abort {
                            a.abort();
                        }
                        h.lease
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.give_back(leases).await
    }

    /// Releases `leases` and rings for what became ready.
    async fn give_back(&mut self, leases: Vec<Lease>) -> Result<(), storage::Error> {
        if leases.is_empty() {
            return Ok(());
        }
        let released = self.store.call(move |s| s.release(&leases)).await?;
        if let Some(b) = &self.bell {
            b.ring(&released.readied);
        }
        Ok(())
    }
}

/// Renews the elf's leases every third of the TTL; drops jobs that were
/// cancelled or lost so their results are never reported.
async fn heartbeat_loop(store: Store, instance: InstanceId, held: Held, ttl: Duration) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        let leases: Vec<Lease> = held.lock().map(|h| h.values().map(|h| h.lease).collect()).unwrap_or_default();
        let me = instance.clone();
        let sent = leases.clone();
        match store.call(move |s| s.heartbeat(&me, &sent, ttl_ms)).await {
            Ok(outcomes) => {
                for (lease, outcome) in leases.iter().zip(outcomes) {
                    if outcome != Outcome::Ok
                        && let Ok(mut h) = held.lock()
                        && let Some(gone) = h.remove(&lease.job)
                    {
                        if let Some(a) = gone.abort {
                            a.abort();
                        }
                        tracing::warn!(job = %lease.job, ?outcome, "stopped a job the elf no longer holds");
                    }
                }
            }
            Err(e) => tracing::warn!("heartbeat failed: {e}"),
        }
    }
}
