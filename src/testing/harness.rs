//! [`Harness`]: elves' tasks run in the test's process against an in-memory
//! store on a manual clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::agent::Context;
use crate::agent::client::Bus;
use crate::driver::{Error, Mycelium, Orchestration, RunHandle};
use crate::elf::Elf;
use crate::elf::runner::{self, Done};
use crate::flow::run::Live;
use crate::lifecycle::{Clock as _, ManualClock};
use crate::model::{
    Build, Claimed, Completion, ElfInstance, ElfState, Event, Failure, FailureKind, FailureReport, InstanceId, Job,
    JobState, Lease, Millis, Origin,
};
use crate::storage::{self, ClaimRequest, EventQuery, FailureQuery, FlowClaim, FlowReport, JobQuery, Resume, Store};
use crate::task::Output;

/// A failure to inject into the next calls of a task, instead of running it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Injection {
    /// The task panics with this message.
    Panic(String),
    /// The task returns a retryable error with this message.
    Error(String),
    /// The task returns a non-retryable error with this message.
    Fatal(String),
    /// The elf running the task dies (an infrastructure loss: the attempt is
    /// not charged).
    ElfLost,
    /// The call never returns (a hung dependency). It holds its job, as a
    /// live elf would, until the task's time limit passes on the harness's
    /// clock: then it fails with [`FailureKind::Timeout`], as on an elf. A
    /// task without a time limit hangs for good.
    Hang,
}

/// What one [`Harness::run_until_idle`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ran {
    /// Attempts run (injected ones included).
    pub attempts: u64,
    /// Of those, attempts whose result was stored.
    pub succeeded: u64,
    /// Of those, attempts that failed (retried or not).
    pub failed: u64,
}

/// An in-memory mycelium with elves in this process and a clock the test
/// moves. See the [module](crate::testing) docs for an example.
#[derive(Debug)]
pub struct Harness {
    store: Store,
    clock: ManualClock,
    myc: Mycelium,
    elves: Vec<(Elf, InstanceId)>,
    /// Each task's version, computed once.
    shas: HashMap<&'static str, crate::model::TaskSha>,
    injections: HashMap<(String, String), VecDeque<Injection>>,
    /// Flows' reports waiting for their elf's next turn, by elf.
    reports: Vec<Vec<FlowReport>>,
    /// Attempts that hang ([`Injection::Hang`]), until their time limit.
    hung: Vec<Hung>,
    runtime: tokio::runtime::Runtime,
}

/// An attempt that does not return: it ends when the clock reaches its
/// deadline (never, without a time limit).
#[derive(Debug)]
struct Hung {
    lease: Lease,
    limit: Option<Duration>,
    deadline: Option<Millis>,
    args: serde_json::Value,
    sha: crate::model::TaskSha,
}

/// Who leads the coordinator role in a harness (to tick schedules).
const HOLDER: &str = "mycelium::testing";

/// Jobs claimed per elf per round.
const BATCH: u32 = 512;
/// The lease of an in-process attempt (it ends before the round does).
const TTL_MS: i64 = 60_000;

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// An empty in-memory store on a manual clock standing at this
    /// machine's time now, with no elf yet.
    pub fn new() -> Self {
        let clock = ManualClock::starting_now();
        let store = Store::memory_with_clock(Arc::new(clock.clone()));
        // A runtime of its own: tests need none, and async tasks run here.
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => panic!("mycelium::testing: cannot start a runtime: {e}"),
        };
        Self {
            myc: Mycelium::new(store.clone()),
            store,
            clock,
            elves: Vec::new(),
            shas: HashMap::new(),
            injections: HashMap::new(),
            reports: Vec::new(),
            hung: Vec::new(),
            runtime,
        }
    }

    /// Serves `elf`'s tasks in this harness (it registers like a real elf).
    pub fn elf(mut self, elf: Elf) -> Self {
        let instance = InstanceId::random();
        let now = self.store.now();
        let me = ElfInstance {
            instance: instance.clone(),
            elf: elf.name().to_owned(),
            host: Origin::current().host,
            pid: std::process::id(),
            build: Build { version: env!("CARGO_PKG_VERSION").to_owned(), commit: None, program: None },
            tasks: elf.tasks().iter().map(|t| t.info.sha()).chain(elf.flows().iter().map(|f| f.info.sha())).collect(),
            slots: BATCH,
            started_at: now,
            heartbeat_at: now,
            lease_until: i64::MAX,
            state: ElfState::Running,
            label: Some("mycelium::testing".to_owned()),
            process_start: None,
        };
        let versions: Vec<_> =
            elf.tasks().iter().map(|t| t.info.version()).chain(elf.flows().iter().map(|f| f.version())).collect();
        // Its receivers, queues and schedules are declared as a real elf's are.
        let registered = elf.declarations().and_then(|d| {
            self.store.record_tasks(&versions)?;
            self.store.declare(&d)?;
            self.store.register_elf(&me)
        });
        if let Err(e) = registered {
            panic!("mycelium::testing: cannot register elf {}: {e}", elf.name());
        }
        for t in elf.tasks() {
            self.shas.insert(t.info.source, t.info.sha());
        }
        self.elves.push((elf, instance));
        self.reports.push(Vec::new());
        self
    }

    /// The store (every read and operation of [`Store`]).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock the store measures time on.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Starts composing an orchestration.
    pub fn orchestration(&self, name: &str) -> Orchestration {
        self.myc.orchestration(name)
    }

    /// Submits an orchestration (nothing runs until [`Harness::run_until_idle`]).
    pub fn submit(&self, o: Orchestration) -> Result<RunHandle, Error> {
        o.submit_blocking()
    }

    /// Makes the next call of `elf`/`task` fail as `injection` instead of
    /// running (calls after that run normally; inject again for more).
    pub fn inject(&mut self, elf: &str, task: &str, injection: Injection) -> &mut Self {
        self.injections.entry((elf.to_owned(), task.to_owned())).or_default().push_back(injection);
        self
    }

    /// Moves the clock forward by `by` (firing retry backoffs, lease
    /// expiries, timers, schedules' ticks and tasks' time limits at the next
    /// [`Harness::run_until_idle`]; an attempt running now, on another
    /// thread, times out at once).
    pub fn advance(&self, by: Duration) {
        self.clock.advance(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Runs every job that is ready at the clock's time now (schedules due
    /// by then tick first), and what they make ready (a signal's receivers,
    /// a queue's consumers), until nothing is left to run now.
    pub fn run_until_idle(&mut self) -> Result<Ran, storage::Error> {
        let mut ran = Ran::default();
        // Hung attempts whose time limit the clock has passed fail first, as
        // an elf's would have when their time came.
        self.time_out_hung(&mut ran)?;
        // Leases that ran out (an injected death, or the clock moved past
        // them) go back first; schedules due at the clock's time tick, as
        // the coordinator would make them.
        self.store.reap()?;
        if self.store.lead("coordinator", HOLDER, TTL_MS)? {
            self.store.fire_schedules("coordinator", HOLDER)?;
        }
        loop {
            let mut any = false;
            for i in 0..self.elves.len() {
                let (elf, instance) = (&self.elves[i].0, self.elves[i].1.clone());
                let flows: Vec<String> = elf.flows().iter().map(|f| f.info.name.to_owned()).collect();
                let names: Vec<String> =
                    elf.tasks().iter().map(|t| t.info.name.to_owned()).chain(flows.iter().cloned()).collect();
                let req =
                    ClaimRequest { instance: &instance, elf: elf.name(), tasks: &names, max: BATCH, ttl_ms: TTL_MS };
                let reports = std::mem::take(&mut self.reports[i]);
                // An elf that serves flows commits their reports, wakes them
                // and fires their due timers in its turn, as a real one does.
                let (claimed, mut resumes) = if flows.is_empty() {
                    (self.store.claim(&req)?, HashMap::new())
                } else {
                    let turn = self.store.flow_turn(&[], &reports, &FlowClaim { request: req, flows: &flows })?;
                    (turn.claimed, turn.resumes.into_iter().map(|r| (r.job, r)).collect())
                };
                if claimed.is_empty() && reports.is_empty() {
                    continue;
                }
                any = true;
                let (flow_jobs, task_jobs): (Vec<Claimed>, Vec<Claimed>) =
                    claimed.into_iter().partition(|c| resumes.contains_key(&c.lease.job));
                for c in flow_jobs {
                    let Some(resume) = resumes.remove(&c.lease.job) else { continue };
                    self.run_flow(i, c, &resume, &mut ran)?;
                }
                if !task_jobs.is_empty() {
                    self.run_batch(i, task_jobs, &mut ran)?;
                }
            }
            if !any {
                return Ok(ran);
            }
        }
    }

    /// How many attempts hang now ([`Injection::Hang`]), holding their jobs.
    pub fn hanging(&self) -> usize {
        self.hung.len()
    }

    /// Fails, as timed out, every hung attempt whose deadline has come.
    fn time_out_hung(&mut self, ran: &mut Ran) -> Result<(), storage::Error> {
        let now = self.clock.now();
        let (due, rest): (Vec<Hung>, Vec<Hung>) =
            std::mem::take(&mut self.hung).into_iter().partition(|h| h.deadline.is_some_and(|d| d <= now));
        self.hung = rest;
        for h in due {
            let limit = h.limit.unwrap_or_default();
            if let Done::Failed(report) = runner::timed_out(limit, &h.args, &h.sha) {
                self.store.fail(&h.lease, &report)?;
            }
            ran.attempts += 1;
            ran.failed += 1;
        }
        Ok(())
    }

    /// Runs the claimed flow `c` of elf `i` (replayed from its history, as
    /// an elf that did not keep it in memory would) until it suspends,
    /// completes or fails; its report goes with the elf's next turn.
    fn run_flow(&mut self, i: usize, c: Claimed, resume: &Resume, ran: &mut Ran) -> Result<(), storage::Error> {
        let elf = &self.elves[i].0;
        let Some(def) = elf.flows().iter().copied().find(|f| f.info.name == c.task) else {
            let report =
                FailureReport::new(FailureKind::BadInput, format!("this harness's elf has no flow `{}`", c.task));
            self.store.fail(&c.lease, &report)?;
            ran.failed += 1;
            return Ok(());
        };
        let steps = if resume.len == 0 { Vec::new() } else { self.store.flow_steps(c.lease.job, 0)? };
        let _inside = self.runtime.enter();
        let live = Live::replay(def, &c, def.info.sha(), self.store.clone(), steps);
        let flow_ran = crate::flow::run::run(live, c.lease, resume);
        ran.attempts += 1;
        self.reports[i].push(flow_ran.report);
        Ok(())
    }

    /// Runs one claimed batch of elf `i`: injections first, the rest for real.
    fn run_batch(&mut self, i: usize, claimed: Vec<Claimed>, ran: &mut Ran) -> Result<(), storage::Error> {
        let elf_name = self.elves[i].0.name().to_owned();
        let mut to_run: Vec<Claimed> = Vec::with_capacity(claimed.len());
        let mut failed: Vec<(Lease, FailureReport)> = Vec::new();
        let mut hung = Vec::new();
        for c in claimed {
            let injected = self.injections.get_mut(&(elf_name.clone(), c.task.clone())).and_then(VecDeque::pop_front);
            match injected.as_ref().map(report_of) {
                None => to_run.push(c),
                Some(Some(report)) => failed.push((c.lease, report)),
                Some(None) => match self.elves[i].0.find(&c.task) {
                    // No such task: running it says so.
                    None => to_run.push(c),
                    Some(task) => {
                        let limit = c.timeout_ms.map(Duration::from_millis);
                        let deadline =
                            c.timeout_ms.map(|t| claimed_at(&c).saturating_add(i64::try_from(t).unwrap_or(i64::MAX)));
                        let sha = self.shas.get(task.info.source).cloned().unwrap_or_else(|| task.info.sha());
                        hung.push(Hung { lease: c.lease, limit, deadline, args: c.args, sha });
                    }
                },
            }
        }
        if !hung.is_empty() {
            // A live elf renews the leases of what it runs, however long:
            // the clock moving past the harness's lease must not take the
            // job from the hung call.
            let leases: Vec<Lease> = hung.iter().map(|h| h.lease).collect();
            self.store.heartbeat(&self.elves[i].1, &leases, i64::MAX)?;
            self.hung.extend(hung);
        }
        let elf = self.elves[i].0.clone();
        // Sync tasks without a time limit run right here, in order; the
        // others on the harness's runtime, together.
        let mut outcomes: Vec<(Lease, Option<crate::model::TaskSha>, Done)> = Vec::new();
        let shas = &self.shas;
        let clock = self.clock.clone();
        let store = self.store.clone();
        let elf_name = elf.name().to_owned();
        // The context a task sees: its job, and the harness's store for what
        // it emits, sends or calls.
        let context = move |task: &str, c: &Claimed| {
            let bus = Bus::for_job(store.clone(), format!("{elf_name}/{task}"), None, c.lease.job);
            Context::for_job(bus, c.lease.job, c.run, c.attempt)
        };
        to_run.retain(|c| {
            let Some(task) = elf.find(&c.task) else { return true };
            let sha = shas.get(task.info.source).cloned().unwrap_or_else(|| task.info.sha());
            match runner::run_here(task, c, &sha, || context(task.info.name, c)) {
                Some(done) => {
                    outcomes.push((c.lease, Some(sha), done));
                    false
                }
                None => true,
            }
        });
        let on_runtime: Vec<(Lease, Option<crate::model::TaskSha>, Done)> = self.runtime.block_on(async {
            let handles: Vec<_> = to_run
                .into_iter()
                .map(|c| {
                    let task = elf.find(&c.task);
                    let cx = task.map(|t| context(t.info.name, &c));
                    let clock = clock.clone();
                    tokio::spawn(async move {
                        match (task, cx) {
                            (Some(task), Some(cx)) => {
                                let sha = task.info.sha();
                                let done = run_on_clock(task, &c, &sha, cx, &clock).await;
                                (c.lease, Some(sha), done)
                            }
                            _ => {
                                let report = FailureReport::new(
                                    FailureKind::BadInput,
                                    format!("this harness's elf has no task `{}`", c.task),
                                );
                                (c.lease, None, Done::Failed(Box::new(report)))
                            }
                        }
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                if let Ok(r) = h.await {
                    out.push(r);
                }
            }
            out
        });
        outcomes.extend(on_runtime);
        let mut completions = Vec::new();
        for (lease, sha, done) in outcomes {
            match done {
                Done::Value(value) => completions.push(Completion { lease, ran_sha: sha, value, waited_ms: 0 }),
                Done::Failed(report) => failed.push((lease, *report)),
                // Only tasks run here (a flow is not found among them).
                Done::Flow(_) => failed.push((
                    lease,
                    FailureReport::new(FailureKind::BadInput, "the harness runs tasks, not flows".to_owned()),
                )),
            }
        }
        ran.attempts += (completions.len() + failed.len()) as u64;
        if !completions.is_empty() {
            let done = self.store.complete(&completions)?;
            ran.succeeded += done.outcomes.iter().filter(|o| **o == crate::model::Outcome::Ok).count() as u64;
        }
        for (lease, report) in failed {
            self.store.fail(&lease, &report)?;
            ran.failed += 1;
        }
        Ok(())
    }

    /// The value of `out` in `run`, decoded; an error if its job did not
    /// succeed (or has not yet: call [`Harness::run_until_idle`] first).
    pub fn value<T: DeserializeOwned>(&self, run: &RunHandle, out: &Output<T>) -> Result<T, Error> {
        let job = run.output(out)?.job().ok_or(Error::NotInRun { run: run.id() })?;
        let j = self.store.job(job)?.ok_or(storage::Error::UnknownJob(job))?;
        if j.state != JobState::Succeeded {
            let last = self.store.failures(&FailureQuery { job: Some(job), limit: Some(1), ..Default::default() })?;
            let last = last.into_iter().next();
            return Err(Error::JobFailed {
                job,
                task: format!("{}/{}", j.elf, j.task),
                state: j.state.to_string(),
                failure: last.as_ref().map(|f| f.id),
                message: last.map(|f| f.report.message),
            });
        }
        let whole = self.store.result(job)?.unwrap_or(serde_json::Value::Null);
        let part = whole.pointer(&out_path(out)).cloned().unwrap_or(serde_json::Value::Null);
        serde_json::from_value(part).map_err(|e| Error::Decode {
            job,
            ty: std::any::type_name::<T>(),
            problem: e.to_string(),
        })
    }

    /// The jobs of `run`, by id.
    pub fn jobs(&self, run: &RunHandle) -> Result<Vec<Job>, storage::Error> {
        self.store.jobs(&JobQuery { run: Some(run.id()), ..Default::default() })
    }

    /// The failures of `run`, most recent first.
    pub fn failures(&self, run: &RunHandle) -> Result<Vec<Failure>, storage::Error> {
        self.store.failures(&FailureQuery { run: Some(run.id()), ..Default::default() })
    }

    /// The events of `run`, in log order.
    pub fn events(&self, run: &RunHandle) -> Result<Vec<Event>, storage::Error> {
        self.store.events(&EventQuery { run: Some(run.id()), limit: u32::MAX, ..Default::default() })
    }

    /// The payloads of signal `name` emitted so far that reached at least
    /// one receiver (an emission nobody receives is only counted: see
    /// [`Store::signals`]), oldest first, one per emission.
    pub fn emitted(&self, name: &str) -> Result<Vec<serde_json::Value>, storage::Error> {
        let mut runs: Vec<_> = self
            .store
            .runs(&crate::storage::RunQuery::default())?
            .into_iter()
            .filter(|r| r.labels.get("signal").map(String::as_str) == Some(name))
            .collect();
        runs.sort_by_key(|r| r.id);
        let mut out = Vec::with_capacity(runs.len());
        for r in runs {
            let jobs = self.store.jobs(&JobQuery { run: Some(r.id), limit: Some(1), ..Default::default() })?;
            if let Some(j) = jobs.first() {
                out.push(j.args.get(0).cloned().unwrap_or(serde_json::Value::Null));
            }
        }
        Ok(out)
    }

    /// The messages of queue `name` that `which` selects (queued: waiting
    /// or being consumed; or dead), oldest first: their jobs, whose
    /// `args[0]` is the message.
    pub fn messages(&self, name: &str, which: crate::storage::Messages) -> Result<Vec<Job>, storage::Error> {
        self.store.queue_messages(name, which, u32::MAX)
    }
}

/// When `c` was claimed, on the store's clock: its lease ran from then.
/// Time limits count from the claim, not from when the harness got round to
/// starting the call: another thread may move the clock in between (as soon
/// as it sees the job claimed), and a limit counted from after that move
/// would never be reached.
fn claimed_at(c: &Claimed) -> Millis {
    c.lease_until.saturating_sub(TTL_MS)
}

/// Runs `task` for `c` with its time limit measured on the harness's clock
/// from the claim: the attempt times out when the clock is moved past it (by
/// the task itself, or by another thread), however little real time passed;
/// one that ends when the clock stands past its limit timed out too, since
/// an elf would have stopped it first.
async fn run_on_clock(
    task: &'static crate::task::Task,
    c: &Claimed,
    sha: &crate::model::TaskSha,
    cx: Context,
    clock: &ManualClock,
) -> Done {
    let start = claimed_at(c);
    let deadline = |t: Duration| start.saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    let done = runner::run_within(task, c, sha, cx, |t| clock.reached(deadline(t))).await;
    match c.timeout_ms.map(Duration::from_millis) {
        Some(t)
            if clock.now() >= deadline(t) && !matches!(&done, Done::Failed(r) if r.kind == FailureKind::Timeout) =>
        {
            let inputs: HashMap<crate::model::JobId, serde_json::Value> = c.inputs.iter().cloned().collect();
            let args = crate::refs::resolve(&c.args, &inputs).unwrap_or_else(|_| c.args.clone());
            runner::timed_out(t, &args, sha)
        }
        _ => done,
    }
}

/// The JSON pointer an output selects in its job's value.
fn out_path<T>(out: &Output<T>) -> String {
    out.path.clone()
}

/// The failure an injection stands for at once (none for a hang, which
/// fails only when its time limit passes).
fn report_of(injection: &Injection) -> Option<FailureReport> {
    let (kind, message, retryable) = match injection {
        Injection::Panic(m) => (FailureKind::Panic, format!("{m} (injected by mycelium::testing)"), true),
        Injection::Error(m) => (FailureKind::Error, format!("{m} (injected by mycelium::testing)"), true),
        Injection::Fatal(m) => (FailureKind::Error, format!("{m} (injected by mycelium::testing)"), false),
        Injection::ElfLost => (FailureKind::ElfLost, "the elf died (injected by mycelium::testing)".to_owned(), true),
        Injection::Hang => return None,
    };
    let mut report = FailureReport::new(kind, message);
    report.retryable = retryable;
    Some(report)
}
