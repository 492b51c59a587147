//! The harness itself: every kind of handler it runs, and the clock.

use std::time::{Duration, Instant};

use super::{Harness, Injection};
use crate::elf::Elf;
use crate::model::{JobState, RunState};

const ELF: &str = "harnessed";

/// Returns `i`.
#[crate::task]
fn value(i: u64) -> u64 {
    i
}

/// Sums a list.
#[crate::task]
fn sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// Doubles, asynchronously.
#[crate::task]
async fn twice(x: u64) -> u64 {
    tokio::task::yield_now().await;
    x * 2
}

/// Fails on odd numbers; retried with a one-minute backoff.
#[crate::task(retries = 3, backoff_ms = 60_000)]
fn even(x: u64) -> Result<u64, String> {
    if x % 2 == 1 { Err(format!("{x} is odd")) } else { Ok(x) }
}

fn harness() -> Harness {
    Harness::new().elf(Elf::new(ELF).task(&value::TASK).task(&sum::TASK).task(&twice::TASK).task(&even::TASK))
}

#[test]
fn a_graph_runs_to_the_end_in_process() {
    let mut h = harness();
    let mut o = h.orchestration("graph");
    let mut xs = Vec::new();
    for i in 0..10 {
        let v = o.call(value::call(i));
        xs.push(o.call(twice::call(v)));
    }
    let total = o.call(sum::call(xs));
    let run = h.submit(o).expect("submit");
    let ran = h.run_until_idle().expect("run");
    assert_eq!((ran.attempts, ran.succeeded, ran.failed), (21, 21, 0));
    assert_eq!(h.value(&run, &total).expect("total"), 90);
    assert_eq!(run.progress().expect("progress").state, RunState::Succeeded);
}

#[test]
fn backoff_waits_for_the_clock_not_for_time() {
    let mut h = harness();
    let mut o = h.orchestration("backoff");
    let odd = o.call(even::call(3));
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    // Failed once; the retry is a minute away on the harness's clock.
    assert_eq!(h.run_until_idle().expect("run").attempts, 0, "retried before its backoff");
    h.advance(Duration::from_secs(59));
    assert_eq!(h.run_until_idle().expect("run").attempts, 0, "retried before its backoff");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.run_until_idle().expect("run").attempts, 1);
    h.advance(Duration::from_secs(60));
    h.run_until_idle().expect("run");
    let err = h.value(&run, &odd).expect_err("odd forever");
    assert!(err.to_string().contains("3 is odd"), "{err}");
    assert_eq!(h.failures(&run).expect("failures").len(), 3);
}

#[test]
fn injected_failures_take_the_place_of_a_call() {
    let mut h = harness();
    h.inject(ELF, "value", Injection::Panic("boom".into())).inject(ELF, "value", Injection::ElfLost).inject(
        ELF,
        "twice",
        Injection::Fatal("no".into()),
    );
    let mut o = h.orchestration("inject");
    let v = o.call(value::call(7).retries(2, Duration::ZERO));
    let t = o.call(twice::call(1));
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    // The panic spent one attempt, the lost elf none; then it ran.
    assert_eq!(h.value(&run, &v).expect("value"), 7);
    let job = h.jobs(&run).expect("jobs").into_iter().find(|j| j.task == "value").expect("job");
    assert_eq!((job.attempt, job.lost), (2, 1));
    // A fatal error is not retried.
    assert!(h.value(&run, &t).is_err());
    let mut kinds: Vec<_> = h.failures(&run).expect("failures").iter().map(|f| f.report.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["elf_lost", "error", "panic"]);
    let states: Vec<_> = h.jobs(&run).expect("jobs").iter().map(|j| j.state).collect();
    assert_eq!(states, vec![JobState::Succeeded, JobState::Failed]);
}

#[test]
fn ten_thousand_tasks_run_fast_in_process() {
    let mut h = harness();
    let mut o = h.orchestration("w1");
    let outs: Vec<_> = (0..10_000u64).map(|i| o.call(value::call(i))).collect();
    let started = Instant::now();
    let run = h.submit(o).expect("submit");
    let ran = h.run_until_idle().expect("run");
    let took = started.elapsed();
    assert_eq!(ran.succeeded, 10_000);
    let sum: u64 = run.values().expect("values").values().map(|v| v.as_u64().unwrap_or(0)).sum();
    assert_eq!(sum, 10_000 * 9_999 / 2);
    assert_eq!(h.value(&run, &outs[42]).expect("value"), 42);
    println!("mycelium::testing ran W1 (10,000 tasks) in {:.3} s", took.as_secs_f64());
}

/// A greeting, received in the harness.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Ping {
    n: u64,
}

impl crate::agent::Signal for Ping {
    const NAME: &'static str = "harness_ping";
}

/// Receives pings.
#[crate::task(elf = "harnessed_agents", receives = [Ping])]
fn pong(p: Ping) -> u64 {
    p.n + 1
}

/// Consumes the `harness_jobs` queue: fails on odd numbers (no retries).
#[crate::task(elf = "harnessed_agents", consumes = "harness_jobs")]
fn work(n: u64) -> Result<u64, String> {
    if n % 2 == 1 { Err(format!("{n} is odd")) } else { Ok(n) }
}

/// Receives pings and passes them on to the queue.
#[crate::task(elf = "harnessed_agents", receives = [Ping])]
fn relay(cx: &crate::agent::Context, p: Ping) -> Result<(), crate::agent::Error> {
    cx.send_blocking(&crate::agent::Queue::<u64>::named("harness_jobs"), &p.n)?;
    Ok(())
}

/// Ticks every hour.
#[crate::task(elf = "harnessed_agents", every = "1h")]
fn hourly(cx: &crate::agent::Context) -> i64 {
    cx.tick().unwrap_or(-1)
}

fn succeeded(h: &Harness, task: &str) -> Vec<crate::model::Job> {
    let q = crate::storage::JobQuery { task: Some(task.to_owned()), ..Default::default() };
    h.store().jobs(&q).expect("jobs").into_iter().filter(|j| j.state == JobState::Succeeded).collect()
}

#[test]
fn receivers_and_schedules_run_in_the_harness() {
    let elf = Elf::new("harnessed_agents").task(&pong::TASK).task(&relay::TASK).task(&work::TASK).task(&hourly::TASK);
    let mut h = Harness::new().elf(elf);
    // An emission makes one job per receiver, run at once; the relay's
    // message is consumed in the same round.
    let cx = crate::agent::Context::new(h.store().clone());
    cx.emit_blocking(&Ping { n: 41 }).expect("emit");
    cx.emit_blocking(&Ping { n: 42 }).expect("emit");
    h.run_until_idle().expect("run");
    let pongs = succeeded(&h, "pong");
    assert_eq!(pongs.len(), 2);
    assert_eq!(h.store().result(pongs[0].id).expect("result"), Some(serde_json::json!(42)));
    assert_eq!(
        h.emitted("harness_ping").expect("emitted"),
        vec![serde_json::json!({"n": 41}), serde_json::json!({"n": 42})]
    );
    // 42 was consumed; 41 failed for good and is dead.
    assert_eq!(succeeded(&h, "work").len(), 1);
    let dead = h.messages("harness_jobs", crate::storage::Messages::Dead).expect("dead");
    assert_eq!(dead.iter().map(|j| j.args[0].clone()).collect::<Vec<_>>(), vec![serde_json::json!(41)]);
    assert!(h.messages("harness_jobs", crate::storage::Messages::Queued).expect("queued").is_empty());
    // Without the clock moving, running again ticks nothing more; moving it
    // an hour ticks once more.
    let before = succeeded(&h, "hourly").len();
    h.run_until_idle().expect("run");
    assert_eq!(succeeded(&h, "hourly").len(), before, "no tick without time");
    h.advance(Duration::from_secs(3600));
    h.run_until_idle().expect("run");
    let ticks = succeeded(&h, "hourly");
    assert_eq!(ticks.len(), before + 1, "one tick for one hour");
    let last = ticks.iter().max_by_key(|j| j.id).expect("a tick");
    let at = h.store().result(last.id).expect("result").and_then(|v| v.as_i64()).expect("a tick time");
    assert!(at > 0 && at <= h.store().now(), "the task saw its tick time");
}

/// Adds one (a child of the flows below).
#[crate::task(elf = "harnessed_flows")]
fn plus_one(x: u64) -> u64 {
    x + 1
}

/// Calls `plus_one` three times in a row, then sleeps an hour of the
/// store's clock, then waits for `go` and adds what it carries.
#[crate::flow(elf = "harnessed_flows")]
async fn patient(cx: &mut crate::flow::Flow, x: u64) -> Result<u64, crate::flow::FlowError> {
    let a = cx.call(plus_one::call(x)).await?;
    let b = cx.call(plus_one::call(a)).await?;
    let c = cx.call(plus_one::call(b)).await?;
    cx.sleep(Duration::from_secs(3600)).await;
    let extra: u64 = cx.signal("go").await?;
    Ok(c + extra)
}

#[test]
fn flows_run_in_the_harness_with_its_clock_and_signals() {
    let mut h = Harness::new().elf(Elf::new("harnessed_flows").task(&plus_one::TASK).flow(&patient::FLOW));
    let mut o = h.orchestration("flows");
    let out = o.call(patient::call(10u64));
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    // Its three children ran; it sleeps on the store's clock.
    let flow_job = run.output(&out).expect("output").job().expect("a job");
    let state = |h: &Harness| h.store().job(flow_job).expect("job").expect("exists").state;
    assert_eq!(state(&h), JobState::Waiting, "asleep until the clock moves");
    let children = h.jobs(&run).expect("jobs").into_iter().filter(|j| j.task == "plus_one").count();
    assert_eq!(children, 3);
    h.advance(Duration::from_secs(3600));
    h.run_until_idle().expect("run");
    assert_eq!(state(&h), JobState::Waiting, "awake, now waiting for `go`");
    h.store().signal(flow_job, "go", &serde_json::json!(100)).expect("signal");
    h.run_until_idle().expect("run");
    assert_eq!(h.value(&run, &out).expect("value"), 113);
    assert_eq!(h.store().run(run.id()).expect("run").expect("exists").state, RunState::Succeeded);
}

/// Returns `x`, within half a minute.
#[crate::task(elf = "harnessed_limits", timeout_ms = 30_000, retries = 2, backoff_ms = 0)]
fn guarded(x: u64) -> u64 {
    x
}

/// Never returns, within a minute (a dependency that never answers).
#[crate::task(elf = "harnessed_limits", timeout_ms = 60_000)]
async fn stuck() -> u64 {
    std::future::pending::<()>().await;
    0
}

/// The clock a test lends to `slow` (only the test of `slow` sets it).
static SLOW_CLOCK: std::sync::Mutex<Option<crate::lifecycle::ManualClock>> = std::sync::Mutex::new(None);

/// Takes `ms` of the harness's clock (moves it by that much) and returns
/// them; its limit is one second.
#[crate::task(elf = "harnessed_limits", timeout_ms = 1_000)]
fn slow(ms: u64) -> u64 {
    if let Some(c) = SLOW_CLOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
        c.advance(i64::try_from(ms).unwrap_or(i64::MAX));
    }
    ms
}

/// Returns 0, with no time limit (the test makes it hang).
#[crate::task(elf = "harnessed_limits")]
fn forever() -> u64 {
    0
}

fn limits() -> Harness {
    Harness::new().elf(
        Elf::new("harnessed_limits").task(&guarded::TASK).task(&stuck::TASK).task(&slow::TASK).task(&forever::TASK),
    )
}

/// The only failure of `run`.
fn only_failure(h: &Harness, run: &crate::driver::RunHandle) -> crate::model::FailureReport {
    let failures = h.failures(run).expect("failures");
    assert_eq!(failures.len(), 1, "{failures:#?}");
    failures.into_iter().next().map(|f| f.report).expect("one failure")
}

#[test]
fn a_hung_call_times_out_when_the_clock_passes_its_limit() {
    let mut h = limits();
    h.inject("harnessed_limits", "guarded", Injection::Hang);
    let mut o = h.orchestration("hang");
    let out = o.call(guarded::call(7));
    let run = h.submit(o).expect("submit");
    let ran = h.run_until_idle().expect("run");
    assert_eq!((ran.attempts, h.hanging()), (0, 1), "the call hangs; the harness does not wait for it");
    let job = run.output(&out).expect("output").job().expect("a job");
    let state = |h: &Harness| h.store().job(job).expect("job").expect("exists").state;
    assert_eq!(state(&h), JobState::Claimed);
    // A millisecond short of the limit: still hanging.
    h.advance(Duration::from_millis(29_999));
    assert_eq!(h.run_until_idle().expect("run").attempts, 0);
    assert_eq!((h.hanging(), state(&h)), (1, JobState::Claimed));
    // At the limit it fails as an elf's attempt does; the retry (no
    // backoff) runs the task for real in the same round.
    h.advance(Duration::from_millis(1));
    let ran = h.run_until_idle().expect("run");
    assert_eq!((ran.attempts, ran.succeeded, ran.failed, h.hanging()), (2, 1, 1, 0));
    let report = only_failure(&h, &run);
    assert_eq!(report.kind, crate::model::FailureKind::Timeout);
    assert_eq!(report.message, "the attempt ran past its time limit of 30000 ms");
    assert!(report.retryable);
    assert_eq!(h.value(&run, &out).expect("value"), 7);
}

#[test]
fn a_hung_call_without_a_time_limit_keeps_its_job_however_far_the_clock_goes() {
    let mut h = limits();
    h.inject("harnessed_limits", "forever", Injection::Hang);
    let mut o = h.orchestration("forever");
    let out = o.call(forever::call());
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    // Far past the harness's lease: a live elf would renew it, so the job
    // is neither expired nor run again.
    h.advance(Duration::from_secs(24 * 3600));
    assert_eq!(h.run_until_idle().expect("run").attempts, 0);
    let job = run.output(&out).expect("output").job().expect("a job");
    assert_eq!(h.store().job(job).expect("job").expect("exists").state, JobState::Claimed);
    assert_eq!(h.hanging(), 1);
    assert!(h.failures(&run).expect("failures").is_empty());
}

#[test]
fn a_running_task_times_out_when_another_thread_moves_the_clock() {
    let mut h = limits();
    let mut o = h.orchestration("stuck");
    let out = o.call(stuck::call());
    let run = h.submit(o).expect("submit");
    let job = run.output(&out).expect("output").job().expect("a job");
    // The test's other hand: once the task runs, an hour passes on the
    // clock (in no time), while `run_until_idle` waits for the task.
    let (clock, store) = (h.clock().clone(), h.store().clone());
    let mover = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.job(job).ok().flatten().map(|j| j.state) != Some(JobState::Claimed) {
            assert!(Instant::now() < deadline, "the job was never claimed");
            std::thread::yield_now();
        }
        clock.advance(3_600_000);
    });
    let ran = h.run_until_idle().expect("run");
    mover.join().expect("the mover");
    assert_eq!((ran.attempts, ran.failed), (1, 1));
    let report = only_failure(&h, &run);
    assert_eq!(report.kind, crate::model::FailureKind::Timeout);
    assert_eq!(report.message, "the attempt ran past its time limit of 60000 ms");
    assert_eq!(h.store().job(job).expect("job").expect("exists").state, JobState::Failed);
}

#[test]
fn the_time_a_task_takes_on_the_clock_counts_against_its_limit() {
    let mut h = limits();
    *SLOW_CLOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(h.clock().clone());
    let mut o = h.orchestration("slow");
    let quick = o.call(slow::call(999));
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    assert_eq!(h.value(&run, &quick).expect("within its limit"), 999);
    let mut o = h.orchestration("slow");
    let late = o.call(slow::call(1_000));
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    let report = only_failure(&h, &run);
    assert_eq!(report.kind, crate::model::FailureKind::Timeout, "{report:?}");
    assert_eq!(report.message, "the attempt ran past its time limit of 1000 ms");
    assert!(h.value(&run, &late).is_err());
}

/// Waits ten minutes for `go`, and says whether it came.
#[crate::flow(elf = "harnessed_flows")]
async fn impatient(cx: &mut crate::flow::Flow) -> Result<String, crate::flow::FlowError> {
    match cx.signal::<u64>("go").timeout(Duration::from_secs(600)).await {
        Ok(n) => Ok(format!("got {n}")),
        Err(crate::flow::SignalError::Timeout { .. }) => Ok("timed out".to_owned()),
        Err(e) => Err(e.into()),
    }
}

#[test]
fn a_signal_wait_times_out_on_the_clock() {
    let mut h = Harness::new().elf(Elf::new("harnessed_flows").flow(&impatient::FLOW));
    let mut o = h.orchestration("impatient");
    let late = o.call(impatient::call());
    let on_time = o.call(impatient::call());
    let run = h.submit(o).expect("submit");
    h.run_until_idle().expect("run");
    h.advance(Duration::from_secs(599));
    h.run_until_idle().expect("run");
    let waiting = h.jobs(&run).expect("jobs").iter().filter(|j| j.state == JobState::Waiting).count();
    assert_eq!(waiting, 2, "a second short of the limit, both wait");
    let job = run.output(&on_time).expect("output").job().expect("a job");
    h.store().signal(job, "go", &serde_json::json!(5)).expect("signal");
    h.advance(Duration::from_secs(1));
    h.run_until_idle().expect("run");
    assert_eq!(h.value(&run, &on_time).expect("value"), "got 5");
    assert_eq!(h.value(&run, &late).expect("value"), "timed out");
}
