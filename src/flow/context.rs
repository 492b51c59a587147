//! [`Flow`]: a flow's context, the only way its code touches the world.
//! Every method is a command, recorded in the flow's history.

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::commands::{Awaited, JoinAll, Mapped, Select, SignalWait, Sleep};
use super::error::{FlowError, TaskFailed};
use super::machine::{Diverged, Issue, Machine, digest};
use crate::model::{JobId, JobSpec, Millis, RunId, StepKind};
use crate::refs::{self, Producer};
use crate::task::Call;

/// A flow's context: passed to the flow's code as `cx: &mut Flow`.
///
/// Each method is a **command**, recorded in the mycelium as the flow's
/// history: calls and spawns of tasks and other flows, joins, sleeps, the
/// time, random numbers, signals and inbox lines. When the flow runs again
/// (after it waited, after a crash, on another elf), its code is replayed
/// against the history: every command up to where it stopped gets what it
/// got the first time, so the flow's code must issue the same commands in
/// the same order (a flow does its side effects in tasks, never in its own
/// code).
///
/// ```ignore
/// #[mycelium::flow]
/// async fn nightly(cx: &mut Flow, day: String) -> Result<u64, FlowError> {
///     let files = cx.call(etl::list::call(day)).await?;          // a child job; its result recorded
///     let sizes = cx.map(files, |f| etl::parse::call(f)).await?; // fan-out, joined in order
///     cx.sleep(Duration::from_secs(60)).await;                   // a durable timer
///     let ok: Approval = cx.signal("approve").timeout(Duration::from_secs(3600)).await?;
///     cx.write("stdout", format!("approved by {}", ok.by))?;      // exactly once
///     Ok(sizes.iter().sum())
/// }
/// ```
pub struct Flow {
    m: Arc<Mutex<Machine>>,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").field("job", &self.job()).finish_non_exhaustive()
    }
}

/// Locks the machine (a panic while it was held poisons nothing it keeps).
pub(crate) fn lock(m: &Mutex<Machine>) -> MutexGuard<'_, Machine> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops the flow's code: the machine says why (a failed determinism check).
pub(crate) fn stop() -> ! {
    std::panic::resume_unwind(Box::new(Diverged))
}

/// A child job started by [`Flow::spawn`]: join it, or select over several.
pub struct Handle<T> {
    pub(crate) k: Result<u32, TaskFailed>,
    pub(crate) task: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self { k: self.k.clone(), task: self.task.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("step", &self.k.as_ref().ok()).field("task", &self.task).finish()
    }
}

/// The job a child call creates, its target and the digest of its inputs;
/// or why the call is refused.
fn child_of_call<T>(flow: JobId, call: Call<T>) -> Result<(JobSpec, String, String), TaskFailed> {
    let task = format!("{}/{}", call.elf, call.task);
    let refuse = |m: String| TaskFailed::refused(task.clone(), m);
    if call.options.key.is_some() {
        return Err(refuse(
            "a call inside a flow cannot have a key (keys name the jobs of a driver's orchestration)".into(),
        ));
    }
    let mut args = Vec::with_capacity(call.args.len());
    for (i, a) in call.args.into_iter().enumerate() {
        args.push(a.json.map_err(|e| refuse(format!("argument {i} cannot be encoded as JSON: {e}")))?);
    }
    let args = Value::Array(args);
    let text = args.to_string();
    if text.contains(refs::OUTPUT) {
        let found = refs::scan(&args).map_err(|e| refuse(format!("the arguments hold a bad reference: {e}")))?;
        for f in found {
            match f.producer {
                Producer::Job(id) if id == flow => {
                    return Err(refuse(format!(
                        "the argument at `{}` is the flow's own output (job {flow}): a flow cannot wait for itself \
                         (pass a value instead)",
                        f.at
                    )));
                }
                Producer::Job(_) => {}
                Producer::Key(k) => {
                    return Err(refuse(format!(
                        "the argument at `{}` is the output `{k}` of an orchestration that is not submitted: inside \
                         a flow, pass values or outputs of existing jobs (`Output::of_job`)",
                        f.at
                    )));
                }
            }
        }
    }
    let mut spec = JobSpec::new(call.elf, call.task, args);
    if let Some(info) = call.info {
        spec.expected_sha = Some(info.sha());
        spec.retry = info.retry.policy();
        spec.timeout_ms = info.timeout_ms;
    }
    if let Some(retry) = call.options.retry {
        spec.retry = retry;
    }
    if let Some(t) = call.options.timeout {
        spec.timeout_ms = Some(u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    }
    spec.priority = call.options.priority;
    let hash = digest(&[&task, &text]);
    Ok((spec, task, hash))
}

/// The target of a command over several steps: `3..5` or `3,7,9`.
pub(crate) fn steps_target(ks: &[u32]) -> String {
    match ks {
        [] => "none".to_owned(),
        [one] => one.to_string(),
        [first, .., last] if ks.windows(2).all(|w| w[1] == w[0] + 1) => format!("{first}..{last}"),
        many if many.len() <= 8 => many.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        many => format!("{} steps from {}", many.len(), many[0]),
    }
}

impl Flow {
    pub(crate) fn new(m: Arc<Mutex<Machine>>) -> Self {
        Self { m }
    }

    /// The flow's own job.
    pub fn job(&self) -> JobId {
        lock(&self.m).job
    }

    /// The flow's run (its children belong to it too).
    pub fn run(&self) -> RunId {
        lock(&self.m).run
    }

    fn issue(&self, c: Issue) -> u32 {
        match lock(&self.m).issue(c) {
            Ok(k) => k,
            Err(Diverged) => stop(),
        }
    }

    fn start<T>(&self, kind: StepKind, call: Call<T>, at: &'static Location<'static>) -> Result<u32, TaskFailed> {
        let job = self.job();
        let (spec, target, hash) = child_of_call(job, call)?;
        let mut c = Issue::new(kind, target, hash, at);
        c.child = Some(spec);
        Ok(self.issue(c))
    }

    /// Calls a task (or another flow) and waits for its outcome: its value,
    /// or `Err(TaskFailed)` when it failed, could not run or was cancelled.
    /// The call creates a child job in the flow's run; its outcome is
    /// recorded, so a replay gets it without calling again.
    #[track_caller]
    pub fn call<T: DeserializeOwned>(&mut self, call: Call<T>) -> Awaited<T> {
        let at = Location::caller();
        let task = format!("{}/{}", call.elf, call.task);
        let k = self.start(StepKind::Call, call, at);
        Awaited::new(self.m.clone(), k, task, None)
    }

    /// Starts a task (or another flow) without waiting: join the handle
    /// later, or select over several.
    #[track_caller]
    pub fn spawn<T>(&mut self, call: Call<T>) -> Handle<T> {
        let at = Location::caller();
        let task = format!("{}/{}", call.elf, call.task);
        let k = self.start(StepKind::Spawn, call, at);
        Handle { k, task, _t: PhantomData }
    }

    /// Waits for a spawned child's outcome.
    #[track_caller]
    pub fn join<T: DeserializeOwned>(&mut self, handle: &Handle<T>) -> Awaited<T> {
        let at = Location::caller();
        match &handle.k {
            Ok(k) => {
                let j = self.issue(Issue::new(StepKind::Join, k.to_string(), String::new(), at));
                Awaited::new(self.m.clone(), Ok(*k), handle.task.clone(), Some(j))
            }
            Err(refused) => Awaited::new(self.m.clone(), Err(refused.clone()), handle.task.clone(), None),
        }
    }

    /// Waits for every spawned child, and gives their outcomes in order.
    #[track_caller]
    pub fn join_all<T: DeserializeOwned>(&mut self, handles: &[Handle<T>]) -> JoinAll<T> {
        let at = Location::caller();
        let ks: Vec<u32> = handles.iter().filter_map(|h| h.k.as_ref().ok().copied()).collect();
        let j = self.issue(Issue::new(StepKind::JoinAll, steps_target(&ks), digest(&[&format!("{ks:?}")]), at));
        JoinAll::new(self.m.clone(), handles.iter().map(|h| (h.k.clone(), h.task.clone())).collect(), j)
    }

    /// Waits for the first of the spawned children to end; gives its index
    /// among `handles` and its outcome. The others go on running, unless
    /// [`Select::cancel_rest`] asks for them to be cancelled.
    #[track_caller]
    pub fn select<T: DeserializeOwned>(&mut self, handles: &[Handle<T>]) -> Select<T> {
        let at = Location::caller();
        Select::new(self.m.clone(), handles.iter().map(|h| (h.k.clone(), h.task.clone())).collect(), at)
    }

    /// Calls `f(item)` for every item (a list known only now: a dynamic
    /// fan-out), runs the calls as children, and waits for all of them:
    /// their values in order, or the first failure in order.
    #[track_caller]
    pub fn map<I, T, F>(&mut self, items: impl IntoIterator<Item = I>, mut f: F) -> Mapped<T>
    where
        T: DeserializeOwned,
        F: FnMut(I) -> Call<T>,
    {
        let at = Location::caller();
        let mut handles: Vec<(Result<u32, TaskFailed>, String)> = Vec::new();
        for item in items {
            let call = f(item);
            let task = format!("{}/{}", call.elf, call.task);
            handles.push((self.start(StepKind::Spawn, call, at), task));
        }
        let ks: Vec<u32> = handles.iter().filter_map(|(k, _)| k.as_ref().ok().copied()).collect();
        let j = self.issue(Issue::new(StepKind::JoinAll, steps_target(&ks), digest(&[&format!("{ks:?}")]), at));
        Mapped::new(JoinAll::new(self.m.clone(), handles, j))
    }

    /// Waits `duration` on the store's clock. The timer is in the store: the
    /// flow holds no process while it sleeps, and a crash does not restart
    /// the count.
    #[track_caller]
    pub fn sleep(&mut self, duration: Duration) -> Sleep {
        let at = Location::caller();
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4);
        let due = lock(&self.m).now().saturating_add(ms);
        let mut c = Issue::new(StepKind::Sleep, String::new(), ms.to_string(), at);
        c.due = Some(due);
        Sleep::new(self.m.clone(), self.issue(c))
    }

    /// Waits until `at` (milliseconds since the Unix epoch, on the store's
    /// clock).
    #[track_caller]
    pub fn sleep_until(&mut self, until: Millis) -> Sleep {
        let at = Location::caller();
        let mut c = Issue::new(StepKind::Sleep, "until".into(), until.to_string(), at);
        c.due = Some(until);
        Sleep::new(self.m.clone(), self.issue(c))
    }

    /// The store's time (milliseconds since the Unix epoch), as first read:
    /// a replay gets the same value, so deadlines count from the first run.
    #[track_caller]
    pub fn now(&mut self) -> Millis {
        let at = Location::caller();
        let now = lock(&self.m).now();
        let mut c = Issue::new(StepKind::Now, String::new(), String::new(), at);
        c.outcome = Some(json!(now));
        let k = self.issue(c);
        lock(&self.m).outcome(k).and_then(Value::as_i64).unwrap_or(now)
    }

    /// A random number, drawn once: a replay gets the same.
    #[track_caller]
    pub fn random(&mut self) -> u64 {
        let at = Location::caller();
        let drawn: u64 = rand::random();
        let mut c = Issue::new(StepKind::Random, "u64".into(), String::new(), at);
        c.outcome = Some(json!(drawn));
        let k = self.issue(c);
        lock(&self.m).outcome(k).and_then(Value::as_u64).unwrap_or(drawn)
    }

    /// A random UUID (v4), drawn once: a replay gets the same.
    #[track_caller]
    pub fn id(&mut self) -> String {
        let at = Location::caller();
        let drawn = uuid::Uuid::new_v4().to_string();
        let mut c = Issue::new(StepKind::Random, "id".into(), String::new(), at);
        c.outcome = Some(json!(drawn));
        let k = self.issue(c);
        lock(&self.m).outcome(k).and_then(Value::as_str).map_or(drawn, str::to_owned)
    }

    /// Waits for the signal `name` sent to this flow (`mycelium signal`,
    /// [`Mycelium::signal`](crate::Mycelium::signal)), decoded as `T`. A
    /// signal sent before the flow waits is kept; each is consumed once.
    /// The awaited type's JSON Schema is recorded, so a sender whose payload
    /// does not match it is refused.
    #[track_caller]
    pub fn signal<T: DeserializeOwned + JsonSchema>(&mut self, name: &str) -> SignalWait<T> {
        SignalWait::new(self.m.clone(), name.to_owned(), Location::caller())
    }

    /// Appends `line` to the flow's inbox `inbox` (`stdout`, `stderr`, or
    /// any name of letters, digits, `_ - .`), exactly once however often the
    /// flow replays. Read them with `mycelium inbox <job>`.
    #[track_caller]
    pub fn write(&mut self, inbox: &str, line: impl Into<String>) -> Result<(), FlowError> {
        let at = Location::caller();
        if inbox.is_empty()
            || inbox.len() > 64
            || !inbox.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "inbox name `{inbox}` is empty, longer than 64 characters, or has characters other than letters, \
                 digits, _ - . (use a name such as stdout)"
            )
            .into());
        }
        let line = line.into();
        let mut c = Issue::new(StepKind::Write, inbox.to_owned(), digest(&[&line]), at);
        c.outcome = Some(json!(line));
        self.issue(c);
        Ok(())
    }
}
