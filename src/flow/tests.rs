//! Flows run by the elf runtime in-process against the in-memory store:
//! their commands, their waits, replay from scratch, determinism checks.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;

use super::{Flow, FlowError, Retry, SignalError, TaskFailed, retry};
use crate::Mycelium;
use crate::elf::{Elf, Options, serve};
use crate::model::{FailureKind, JobId, JobState, RunState, StepKind};
use crate::storage::{FailureQuery, JobQuery, ManualClock, Store};

/// The tasks and flows of these tests belong to the elf `flowtests`.
const ELF: &str = "flowtests";

/// Adds one.
#[crate::task]
fn inc(x: u64) -> u64 {
    x + 1
}

/// Fails on odd numbers.
#[crate::task]
fn even(x: u64) -> Result<u64, String> {
    if x % 2 == 1 { Err(format!("{x} is odd")) } else { Ok(x) }
}

/// Sleeps `ms`.
#[crate::task]
async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

/// Four calls in a chain.
#[crate::flow]
async fn chain(cx: &mut Flow, x: u64) -> Result<u64, FlowError> {
    let a = cx.call(inc::call(x)).await?;
    let b = cx.call(inc::call(a)).await?;
    let c = cx.call(inc::call(b)).await?;
    Ok(cx.call(inc::call(c)).await?)
}

/// A fan-out over `n` items, joined in order.
#[crate::flow]
async fn fan(cx: &mut Flow, n: u64) -> Result<Vec<u64>, FlowError> {
    let items: Vec<u64> = (0..n).collect();
    Ok(cx.map(items, inc::call).await?)
}

/// Failures come back as values.
#[crate::flow]
async fn tolerant(cx: &mut Flow) -> Result<String, FlowError> {
    match cx.call(even::call(3)).await {
        Ok(v) => Ok(format!("even {v}")),
        Err(e) => Ok(format!("handled: {}", e.message)),
    }
}

/// An approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Approval {
    by: String,
}

/// Waits for `approve`, with a timeout of `ms` (none when 0); writes who
/// approved.
#[crate::flow]
async fn approval(cx: &mut Flow, ms: u64) -> Result<String, FlowError> {
    let wait = cx.signal::<Approval>("approve");
    let wait = if ms > 0 { wait.timeout(Duration::from_millis(ms)) } else { wait };
    match wait.await {
        Ok(a) => {
            cx.write("stdout", format!("approved by {}", a.by))?;
            Ok(a.by)
        }
        Err(SignalError::Timeout { .. }) => Ok("timed out".to_owned()),
        Err(e) => Err(e.into()),
    }
}

/// Sleeps an hour of the store's clock, then reads it.
#[crate::flow]
async fn sleeper(cx: &mut Flow) -> Result<i64, FlowError> {
    let start = cx.now();
    cx.sleep(Duration::from_secs(3600)).await;
    Ok(cx.now() - start)
}

/// The first of two naps wins; the other is cancelled.
#[crate::flow]
async fn race(cx: &mut Flow) -> Result<(usize, u64), FlowError> {
    let slow = cx.spawn(nap::call(60_000));
    let fast = cx.spawn(nap::call(1));
    let (i, v) = cx.select(&[slow, fast]).cancel_rest().await;
    Ok((i, v?))
}

/// Retries a failing call (library retry over durable sleeps).
#[crate::flow]
async fn retrying(cx: &mut Flow) -> Result<String, FlowError> {
    let policy = Retry::new(3).backoff(Duration::from_millis(1), 1.0);
    match retry(cx, &policy, || even::call(5)).await {
        Ok(_) => Ok("no".into()),
        Err(e) => Ok(format!("gave up: {}", e.message)),
    }
}

/// Passes its own output to a child: refused.
#[crate::flow]
async fn narcissus(cx: &mut Flow) -> Result<String, FlowError> {
    let me = crate::Output::<u64>::of_job(cx.job());
    match cx.call(inc::call(me)).await {
        Ok(_) => Ok("called".into()),
        Err(e) => Ok(e.message),
    }
}

/// Panics in its own code.
#[crate::flow]
async fn clumsy(cx: &mut Flow) -> Result<u64, FlowError> {
    let v = cx.call(inc::call(1)).await?;
    let empty: Vec<u64> = Vec::new();
    Ok(v + empty[v as usize])
}

/// What a flow draws or reads (a random number, an id, the time) before a
/// suspension, returned after it; and a spawned call joined later.
#[crate::flow]
async fn dice(cx: &mut Flow) -> Result<(u64, String, i64, u64, u64), FlowError> {
    let drawn = cx.random();
    let id = cx.id();
    let now = cx.now();
    let spawned = cx.spawn(inc::call(1));
    let called = cx.call(inc::call(10)).await?;
    let joined = cx.join(&spawned).await?;
    Ok((drawn, id, now, called, joined))
}

fn elf() -> Elf {
    Elf::new(ELF)
        .task(&inc::TASK)
        .task(&even::TASK)
        .task(&nap::TASK)
        .flow(&chain::FLOW)
        .flow(&fan::FLOW)
        .flow(&tolerant::FLOW)
        .flow(&approval::FLOW)
        .flow(&sleeper::FLOW)
        .flow(&race::FLOW)
        .flow(&retrying::FLOW)
        .flow(&narcissus::FLOW)
        .flow(&clumsy::FLOW)
        .flow(&dice::FLOW)
}

type Running = (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), crate::storage::Error>>);

/// Serves `elf` on `store` until the returned sender fires.
fn start(store: &Store, elf: Elf, keep_flows: bool) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let store = store.clone();
    let handle = tokio::spawn(async move {
        let options = Options { slots: 16, keep_flows, ..Options::default() };
        serve(&elf, store, &options, async move {
            let _ = stopped.await;
        })
        .await
    });
    (stop, handle)
}

/// Waits until the elf has registered (and so its flows).
async fn registered(store: &Store) {
    while store.elves().expect("elves").is_empty() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn stop((tx, handle): Running) {
    let _ = tx.send(());
    handle.await.expect("join").expect("the elf stopped cleanly");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn wait_state(store: &Store, job: JobId, state: JobState) {
    for _ in 0..5000 {
        if store.job(job).expect("job").is_some_and(|j| j.state == state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("job {job} never reached {state}: {:?}", store.job(job));
}

/// `cx.random`, `cx.id` and `cx.now` are drawn once and recorded: a flow
/// replayed from its history at every resume (it suspends twice here) gets
/// the values of its first run, and `spawn` then `join` gives the spawned
/// child's value.
#[test]
fn random_ids_and_time_are_recorded_once_and_replayed() {
    for keep in [true, false] {
        runtime().block_on(async {
            let store = Store::memory();
            let elf = start(&store, elf(), keep);
            let myc = Mycelium::new(store.clone());
            let mut o = myc.orchestration("dice");
            let d = o.call(dice::call());
            let d2 = o.call(dice::call());
            let run = o.submit().await.expect("submit");
            let limit = Some(Duration::from_secs(60));
            let (drawn, id, now, called, joined) = run.wait_for(&d, limit).await.expect("dice");
            assert_eq!((called, joined), (11, 2));
            let steps = store.flow_steps(run.jobs()[0], 0).expect("steps");
            let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
            assert_eq!(
                kinds,
                [StepKind::Random, StepKind::Random, StepKind::Now, StepKind::Spawn, StepKind::Call, StepKind::Join]
            );
            assert_eq!(steps[0].outcome, Some(json!(drawn)), "the number returned is the one recorded first");
            assert_eq!(steps[1].outcome, Some(json!(id.clone())));
            assert_eq!(steps[2].outcome, Some(json!(now)));
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is a UUID");
            let (drawn2, id2, ..) = run.wait_for(&d2, limit).await.expect("dice 2");
            assert_ne!((drawn, id), (drawn2, id2), "two flows draw their own");
            stop(elf).await;
        });
    }
}

/// Runs the flows once kept in memory, once replayed at every run: same
/// values, same histories.
#[test]
fn flows_give_the_same_values_kept_in_memory_or_replayed() {
    let mut histories = Vec::new();
    for keep in [true, false] {
        runtime().block_on(async {
            let store = Store::memory();
            let elf = start(&store, elf(), keep);
            let myc = Mycelium::new(store.clone());
            let mut o = myc.orchestration("flows");
            let c = o.call(chain::call(10u64));
            let f0 = o.call(fan::call(0u64));
            let f1 = o.call(fan::call(1u64));
            let f1000 = o.call(fan::call(1000u64));
            let t = o.call(tolerant::call());
            let r = o.call(retrying::call());
            let run = o.submit().await.expect("submit");
            let limit = Duration::from_secs(60);
            assert_eq!(run.wait_for(&c, Some(limit)).await.expect("chain"), 14);
            assert_eq!(run.wait_for(&f0, Some(limit)).await.expect("fan 0"), Vec::<u64>::new());
            assert_eq!(run.wait_for(&f1, Some(limit)).await.expect("fan 1"), vec![1]);
            let big = run.wait_for(&f1000, Some(limit)).await.expect("fan 1000");
            assert_eq!(big, (1..=1000).collect::<Vec<u64>>(), "joined in order");
            assert_eq!(run.wait_for(&t, Some(limit)).await.expect("tolerant"), "handled: 3 is odd");
            assert_eq!(run.wait_for(&r, Some(limit)).await.expect("retrying"), "gave up: 5 is odd");
            let p = run.finished_within(limit).await.expect("finished");
            // The run grew with the children: 6 flows, 4 + 0 + 1 + 1000 + 1 + 3 children.
            assert_eq!((p.total, p.open), (6 + 4 + 1 + 1000 + 1 + 3, 0), "{p:?}");
            assert_eq!(p.state, RunState::Failed, "the odd children failed (as values for their flows)");
            let jobs = store.jobs(&JobQuery { run: Some(run.id()), ..Default::default() }).expect("jobs");
            let flows: Vec<_> = jobs.iter().filter(|j| j.parent.is_none()).collect();
            assert_eq!(flows.len(), 6);
            assert!(flows.iter().all(|f| f.state == JobState::Succeeded && f.attempt == 1), "a resume is no attempt");
            let chain_job = run.jobs()[0];
            let children: Vec<_> = jobs.iter().filter(|j| j.parent == Some(chain_job)).collect();
            assert_eq!(children.len(), 4);
            let steps = store.flow_steps(chain_job, 0).expect("steps");
            assert_eq!(steps.len(), 4);
            assert!(steps.iter().all(|s| s.kind == StepKind::Call && s.outcome.is_some() && !s.awaited));
            histories.push(
                steps
                    .iter()
                    .map(|s| (s.k, s.kind, s.target.clone(), s.hash.clone(), s.outcome.clone()))
                    .collect::<Vec<_>>(),
            );
            stop(elf).await;
        });
    }
    assert_eq!(histories[0], histories[1], "kept or replayed, the history is the same");
}

#[test]
fn signals_are_buffered_consumed_once_and_time_out() {
    runtime().block_on(async {
        let store = Store::memory();
        let elf = start(&store, elf(), true);
        registered(&store).await;
        let myc = Mycelium::new(store.clone());
        // Waits first, then the signal comes.
        let mut o = myc.orchestration("approvals");
        let waits = o.call(approval::call(0u64));
        let early = o.call(approval::call(0u64));
        let lapse = o.call(approval::call(300u64));
        let run = o.submit().await.expect("submit");
        let (waits_job, early_job) = (run.jobs()[0], run.jobs()[1]);
        // Sent before the flow waits (it may not even have started): kept.
        myc.signal(early_job, "approve", &Approval { by: "early".into() }).await.expect("buffered");
        wait_state(&store, waits_job, JobState::Waiting).await;
        // A payload that is not an Approval is refused, naming the type.
        let err = myc.signal(waits_job, "approve", &json!({"who": 3})).await.expect_err("wrong type");
        assert!(err.to_string().contains("Approval"), "{err}");
        let sent = myc.signal(waits_job, "approve", &Approval { by: "ana".into() }).await.expect("signal");
        assert!(sent.woke);
        let limit = Some(Duration::from_secs(30));
        assert_eq!(run.wait_for(&waits, limit).await.expect("approved"), "ana");
        assert_eq!(run.wait_for(&early, limit).await.expect("early"), "early");
        assert_eq!(run.wait_for(&lapse, limit).await.expect("lapsed"), "timed out");
        // Consumed once: both signals are marked, and the flow has ended.
        let signals = store.flow_signals(waits_job, false).expect("signals");
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].consumed_by, Some(0));
        let err = myc.signal(waits_job, "approve", &Approval { by: "late".into() }).await.expect_err("ended");
        assert!(err.to_string().contains("already ended"), "{err}");
        let inbox = store.inbox(waits_job, Some("stdout"), 0).expect("inbox");
        assert_eq!(inbox.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), vec!["approved by ana"]);
        stop(elf).await;
    });
}

#[test]
fn a_sleeping_flow_wakes_on_the_stores_clock() {
    runtime().block_on(async {
        let clock = ManualClock::starting_now();
        let store = Store::memory_with_clock(Arc::new(clock.clone()));
        let elf = start(&store, elf(), true);
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("sleep");
        let slept = o.call(sleeper::call());
        let run = o.submit().await.expect("submit");
        let job = run.jobs()[0];
        wait_state(&store, job, JobState::Waiting).await;
        let j = store.job(job).expect("job").expect("exists");
        assert_eq!(j.not_before, j.updated_at + 3_600_000, "the timer is in the store");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.job(job).expect("job").map(|j| j.state), Some(JobState::Waiting), "not due yet");
        clock.advance(3_600_000);
        let took: i64 = run.wait_for(&slept, Some(Duration::from_secs(30))).await.expect("woke");
        assert!(took >= 3_600_000, "{took}");
        stop(elf).await;
    });
}

#[test]
fn select_cancels_the_rest_and_cancel_reaches_children() {
    runtime().block_on(async {
        let store = Store::memory();
        let elf = start(&store, elf(), true);
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("race");
        let r = o.call(race::call());
        let run = o.submit().await.expect("submit");
        let limit = Some(Duration::from_secs(30));
        assert_eq!(run.wait_for(&r, limit).await.expect("race"), (1, 1));
        let children = store.children(run.jobs()[0]).expect("children");
        let slow = store.job(children[0]).expect("job").expect("slow");
        assert_eq!(slow.state, JobState::Cancelled, "the loser was cancelled");
        // Cancelling a flow cancels what it started.
        let mut o = myc.orchestration("cancel");
        let _ = o.call(approval::call(0u64));
        let run = o.submit().await.expect("submit");
        wait_state(&store, run.jobs()[0], JobState::Waiting).await;
        let cancelled = store.cancel_job(run.jobs()[0], "test").expect("cancel");
        assert_eq!(cancelled, vec![run.jobs()[0]]);
        let p = run.finished_within(Duration::from_secs(10)).await.expect("ended");
        assert_eq!(p.open, 0);
        stop(elf).await;
    });
}

#[test]
fn bad_calls_and_panics_fail_loudly() {
    runtime().block_on(async {
        let store = Store::memory();
        let elf = start(&store, elf(), true);
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("bad");
        let n = o.call(narcissus::call());
        let c = o.call(clumsy::call());
        let run = o.submit().await.expect("submit");
        let limit = Some(Duration::from_secs(30));
        let said = run.wait_for(&n, limit).await.expect("narcissus handles it");
        assert!(said.contains("cannot wait for itself"), "{said}");
        let err = run.wait_for(&c, limit).await.expect_err("clumsy panics");
        assert!(err.to_string().contains("index out of bounds"), "{err}");
        let f = store
            .failures(&FailureQuery { job: Some(run.jobs()[1]), ..Default::default() })
            .expect("failures")
            .pop()
            .expect("a failure");
        assert_eq!(f.report.kind, FailureKind::Panic);
        assert!(
            f.report.frames.iter().any(|fr| fr.of_interest && fr.function.contains("clumsy")),
            "{:?}",
            f.report.frames
        );
        stop(elf).await;
    });
}

mod v1 {
    use super::*;

    /// Calls inc, then even, then waits for a signal.
    #[crate::flow(elf = "flowtests")]
    pub(super) async fn ordered(cx: &mut Flow) -> Result<u64, FlowError> {
        let a = cx.call(inc::call(1)).await?;
        let b = cx.call(even::call(2)).await?;
        let _: Approval = cx.signal("approve").await?;
        Ok(a + b)
    }
}

mod v2 {
    use super::*;

    /// The same flow with its two calls swapped.
    #[crate::flow(elf = "flowtests")]
    pub(super) async fn ordered(cx: &mut Flow) -> Result<u64, FlowError> {
        let b = cx.call(even::call(2)).await?;
        let a = cx.call(inc::call(1)).await?;
        let _: Approval = cx.signal("approve").await?;
        Ok(a + b)
    }
}

#[test]
fn a_changed_flow_fails_its_old_history_naming_both_commands() {
    runtime().block_on(async {
        let store = Store::memory();
        let first = start(&store, Elf::new(ELF).task(&inc::TASK).task(&even::TASK).flow(&v1::ordered::FLOW), true);
        let myc = Mycelium::new(store.clone());
        let mut o = myc.orchestration("versions");
        let out = o.call(v1::ordered::call());
        let run = o.submit().await.expect("submit");
        let job = run.jobs()[0];
        wait_state(&store, job, JobState::Waiting).await;
        stop(first).await;
        let second = start(&store, Elf::new(ELF).task(&inc::TASK).task(&even::TASK).flow(&v2::ordered::FLOW), true);
        myc.signal(job, "approve", &Approval { by: "ana".into() }).await.expect("signal");
        let err = run.wait_for(&out, Some(Duration::from_secs(30))).await.expect_err("nondeterminism");
        assert!(err.to_string().contains("failed"), "{err}");
        let f = store.failures(&FailureQuery { job: Some(job), ..Default::default() }).expect("failures").pop();
        let f = f.expect("a failure");
        assert_eq!(f.report.kind, FailureKind::Nondeterminism);
        let m = f.report.mismatch.as_ref().expect("both commands");
        assert_eq!(m.step, 0);
        assert_eq!(m.recorded.target, "flowtests/inc");
        assert_eq!(m.issued.as_ref().map(|c| c.target.as_str()), Some("flowtests/even"));
        assert_ne!(m.recorded.sha, m.issued.as_ref().and_then(|c| c.sha.clone()), "two versions");
        assert!(f.report.message.contains("flowtests/inc") && f.report.message.contains("flowtests/even"));
        stop(second).await;
    });
}

#[test]
fn task_failed_reads_well() {
    let f = TaskFailed {
        job: Some(JobId(7)),
        task: "e/t".into(),
        state: Some(JobState::Failed),
        kind: Some(FailureKind::Error),
        failure: Some(crate::model::FailureId(3)),
        message: "boom".into(),
    };
    assert_eq!(f.to_string(), "job 7 (e/t) failed (error): boom (see `mycelium failure 3`)");
}
