//! Durable flows with real processes: the flows elf (`elf-flows`), its
//! tasks' elf (`elf-flow-tasks`) and a coordinator on an embedded store,
//! SIGKILLed while flows wait; signals and inboxes through the `mycelium`
//! command.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mycelium::Mycelium;
use mycelium::model::{FailureKind, JobId, JobState, RunState, StepKind};
use mycelium::storage::{FailureQuery, Store};

use crate::elves::flows::{self, Polled};
use crate::util::{MYCELIUM, Proc, fresh_sqlite, within};

/// The processes of a flow test.
struct Fleet {
    url: String,
    coordinator: Proc,
    tasks: Proc,
    flows: Proc,
}

impl Fleet {
    fn start(url: &str) -> Fleet {
        Fleet {
            url: url.to_owned(),
            coordinator: Proc::coordinator(url),
            tasks: Proc::elf("flow-tasks", url, &[]),
            flows: Proc::elf("flows", url, &[]),
        }
    }

    /// SIGKILLs every process.
    fn kill_all(&mut self) {
        self.flows.kill9();
        self.tasks.kill9();
        self.coordinator.kill9();
    }

    /// Starts every process again.
    fn restart_all(&mut self) {
        self.coordinator = Proc::coordinator(&self.url);
        self.tasks = Proc::elf("flow-tasks", &self.url, &[]);
        self.flows = Proc::elf("flows", &self.url, &[]);
    }
}

/// Runs `mycelium --store url args...`.
fn myc(url: &str, args: &[&str]) -> Output {
    Command::new(MYCELIUM).arg("--store").arg(url).args(args).env_remove("MYCELIUM_URL").output().expect("run mycelium")
}

fn show(args: &[&str], out: &Output) -> String {
    format!(
        "mycelium {}\nstatus: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(url: &str, args: &[&str]) -> String {
    let out = myc(url, args);
    assert!(out.status.success(), "expected success\n{}", show(args, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(url: &str, args: &[&str], code: i32, needles: &[&str]) {
    let out = myc(url, args);
    assert_eq!(out.status.code(), Some(code), "wrong exit code\n{}", show(args, &out));
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}\n{}", show(args, &out));
    }
}

/// Waits until `check` holds (polling the store), at most `limit`.
fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn state(store: &Store, job: JobId) -> Option<JobState> {
    store.job(job).expect("read job").map(|j| j.state)
}

/// The lines of `file` in `dir` (none when it does not exist).
fn lines(dir: &std::path::Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// The issue's first check: `f4(f3(f2(f1(x))))` inside a flow whose elf is
/// SIGKILLed after f2 completed: after a restart, f1 and f2 are not sent
/// again, f3 and f4 run once, and the value is an uninterrupted run's.
#[test]
fn a_chain_survives_the_flows_elf_killed_after_f2() {
    let (url, dir) = fresh_sqlite();
    let trace = dir.path().join("trace");
    std::fs::create_dir_all(&trace).expect("trace dir");
    let t = trace.display().to_string();
    let mut fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("chain");
    let out = o.call(flows::chain::call(t.clone(), 1u64, 1500u64));
    let run = o.submit_blocking().expect("submit");
    let flow = run.jobs()[0];
    let store = myc.store().clone();
    until("f2 to complete", Duration::from_secs(30), || lines(&trace, "calls.log").len() >= 2);
    fleet.flows.kill9();
    std::thread::sleep(Duration::from_millis(300));
    fleet.flows = Proc::elf("flows", &url, &[]);
    let value: u64 = within(Duration::from_secs(60), run.wait(&out)).expect("the chain's value");
    let calls = lines(&trace, "calls.log");
    assert_eq!(calls, vec!["f1", "f2", "f3", "f4"], "each step ran exactly once");
    // An uninterrupted run gives the same value.
    let mut o = myc.orchestration("chain again");
    let again = o.call(flows::chain::call(t, 1u64, 0u64));
    let run2 = o.submit_blocking().expect("submit");
    let value2: u64 = within(Duration::from_secs(60), run2.wait(&again)).expect("value");
    assert_eq!((value, value2), (5, 5));
    let steps = store.flow_steps(flow, 0).expect("steps");
    assert_eq!(steps.iter().map(|s| s.kind).collect::<Vec<_>>(), vec![StepKind::Call; 4]);
    let f = store.job(flow).expect("job").expect("flow");
    assert_eq!(
        (f.state, f.attempt),
        (JobState::Succeeded, 1),
        "resumes are not attempts; the lost run was not charged"
    );
    let listing = ok(&url, &["run", &run.id().to_string()]);
    assert!(
        listing.contains("PARENT") && listing.contains("flows/chain") && listing.contains("flowtasks/step"),
        "{listing}"
    );
    let history = ok(&url, &["flow", &format!("j{flow}")]);
    assert!(history.contains("4 command(s)") && history.contains("ok 5"), "{history}");
    drop(fleet);
}

/// Create-then-poll: a flow starts an external job and polls it every
/// 100 ms under a deadline; the elves and the coordinator are SIGKILLed
/// between creation and completion: the job is created once, and the
/// deadline counts from the flow's first start.
#[test]
fn create_then_poll_survives_every_process_and_keeps_its_deadline() {
    let (url, dir) = fresh_sqlite();
    let trace = dir.path().join("trace");
    std::fs::create_dir_all(&trace).expect("trace dir");
    let t = trace.display().to_string();
    let mut fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("poll");
    // The external job would finish after a minute; the deadline is 4 s.
    let out = o.call(flows::create_then_poll::call(t, 60_000u64, 4_000i64));
    let run = o.submit_blocking().expect("submit");
    let flow = run.jobs()[0];
    let store = myc.store().clone();
    until("the external job to be created and polled", Duration::from_secs(30), || {
        store.flow_steps(flow, 0).expect("steps").iter().filter(|s| s.kind == StepKind::Sleep).count() >= 2
    });
    fleet.kill_all();
    let down = Duration::from_millis(2_500);
    std::thread::sleep(down);
    fleet.restart_all();
    let polled: Polled = within(Duration::from_secs(60), run.wait(&out)).expect("the flow's verdict");
    assert!(!polled.done);
    assert_eq!(lines(&trace, "created.log").len(), 1, "the external job was created once");
    // Counted from the first start: a deadline restarted with the elf
    // would have ended 2.5 s later, past 6.5 s.
    assert!((4_000..6_000).contains(&polled.elapsed_ms), "{polled:?}");
    let steps = store.flow_steps(flow, 0).expect("steps");
    let start = steps[0].outcome.as_ref().and_then(|v| v.as_i64()).expect("the recorded start");
    let created: i64 = lines(&trace, "created.log")[0].parse().expect("a time");
    assert!(created >= start && created - start < 2_000, "created {created}, flow started {start}");
    assert!(polled.polls >= 5, "{polled:?}");
    drop(fleet);
}

/// Signals: a flow waits for `approve`; every process is SIGKILLed and
/// restarted; `mycelium signal` wakes it, and it completes once. A signal
/// sent before the flow waits is received too (named by the run's key); a
/// wait with a 1 s timeout ends with a typed error the flow handles.
#[test]
fn a_signal_reaches_a_flow_across_a_crash_of_every_process() {
    let (url, _dir) = fresh_sqlite();
    signal_across_a_crash(&url);
}

/// The same on the strict ArangoDB stand-in (`tests/arango/`): flows'
/// histories, signals and timers on the ArangoDB backend, across SIGKILLs.
#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn a_signal_reaches_a_flow_across_a_crash_of_every_process_on_arangodb() {
    let (url, _server) = crate::conformance_arango::stand_in::fresh();
    signal_across_a_crash(&url);
}

fn signal_across_a_crash(url: &str) {
    let url = url.to_owned();
    let mut fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    let mut o = myc.orchestration("approvals");
    let waits = o.call(flows::approval::call(0u64, 0u64));
    let lapses = o.call(flows::approval::call(0u64, 1_000u64));
    let run = o.submit_blocking().expect("submit");
    let waiting = run.jobs()[0];
    // The early one: the signal comes while the flow still runs its first call.
    let mut o = myc.orchestration("early approval");
    o.idempotency_key("early-approval");
    let early = o.call(flows::approval::call(1_500u64, 0u64));
    let early_run = o.submit_blocking().expect("submit");
    until("the flow to wait", Duration::from_secs(30), || state(&store, waiting) == Some(JobState::Waiting));
    let sent = ok(&url, &["signal", "early-approval", "approve", "--data", r#"{"by": "bo"}"#]);
    assert!(sent.contains("kept until the flow waits for it"), "{sent}");
    fleet.kill_all();
    std::thread::sleep(Duration::from_millis(300));
    fleet.restart_all();
    // The restarted flows elf runs the flow on to its wait for the signal.
    until("the flow to wait for its signal", Duration::from_secs(30), || {
        let steps = store.flow_steps(waiting, 0).expect("steps");
        state(&store, waiting) == Some(JobState::Waiting)
            && steps.last().is_some_and(|s| s.kind == StepKind::Signal && s.awaited)
    });
    let sent = ok(&url, &["signal", &format!("j{waiting}"), "approve", "--data", r#"{"by": "ana"}"#]);
    assert!(sent.contains("ready again"), "{sent}");
    let limit = Duration::from_secs(60);
    let said: String = within(limit, run.wait(&waits)).expect("approved");
    assert_eq!(said, "approved by ana");
    let said: String = within(limit, run.wait(&lapses)).expect("lapsed");
    assert_eq!(said, "no approval within 1000 ms");
    let said: String = within(limit, early_run.wait(&early)).expect("early");
    assert_eq!(said, "approved by bo");
    let signals = store.flow_signals(waiting, false).expect("signals");
    assert_eq!(signals.iter().map(|s| s.consumed_by).collect::<Vec<_>>(), vec![Some(1)], "consumed once");
    let f = store.job(waiting).expect("job").expect("flow");
    assert_eq!((f.state, f.attempt), (JobState::Succeeded, 1));
    fails(&url, &["signal", &format!("j{waiting}"), "approve"], 1, &["already ended"]);
    drop(fleet);
    // Retention deletes the ended runs with the flows' histories and signals.
    std::thread::sleep(Duration::from_millis(20));
    let all =
        mycelium::storage::Retention { older_than_ms: 0, keep_failures: false, dry_run: false, jobs_per_write: None };
    let got = store.collect(&all).expect("collect");
    assert!(got.runs.contains(&f.run), "{got:?}");
    assert!(store.job(waiting).expect("job").is_none());
    assert!(store.flow_steps(waiting, 0).expect("steps").is_empty(), "the flow's history is deleted");
    assert!(store.flow_signals(waiting, false).expect("signals").is_empty(), "the flow's signals are deleted");
}

/// A fan-out over a list produced at run time: 0, 1 and 1,000 items,
/// joined in order.
#[test]
fn fan_out_over_zero_one_and_a_thousand_items() {
    let (url, _dir) = fresh_sqlite();
    let fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("fan");
    let outs: Vec<_> = [0u64, 1, 1000].iter().map(|n| o.call(flows::fan::call(*n))).collect();
    let run = o.submit_blocking().expect("submit");
    for (n, out) in [0u64, 1, 1000].iter().zip(&outs) {
        let v: Vec<u64> = within(Duration::from_secs(120), run.wait(out)).expect("joined");
        assert_eq!(v, (0..*n).map(|i| i * i).collect::<Vec<_>>(), "fan-out of {n}");
    }
    let p = run.progress().expect("progress");
    assert_eq!((p.state, p.total, p.failed), (RunState::Succeeded, 3 + 1001, 0), "{p:?}");
    drop(fleet);
}

/// `mycelium start` starts a flow as a run of one job with JSON arguments,
/// once per idempotency key; malformed input starts nothing.
#[test]
fn the_command_line_starts_a_flow_once_per_key() {
    let (url, _dir) = fresh_sqlite();
    let fleet = Fleet::start(&url);
    let store = Store::open(&url).expect("store");
    let started: serde_json::Value =
        serde_json::from_str(&ok(&url, &["--json", "start", "flows/fan", "[3]", "--key", "nightly-1"])).expect("json");
    assert_eq!(started["existing"], false, "{started}");
    let job = JobId(started["job"].as_i64().expect("a job id"));
    until("the flow to end", Duration::from_secs(60), || state(&store, job) == Some(JobState::Succeeded));
    assert_eq!(store.result(job).expect("result"), Some(serde_json::json!([0, 1, 4])));
    let again: serde_json::Value =
        serde_json::from_str(&ok(&url, &["--json", "start", "flows/fan", "[5]", "--key", "nightly-1"])).expect("json");
    assert_eq!((&again["run"], &again["job"], &again["existing"]), (&started["run"], &started["job"], &true.into()));
    let text = ok(&url, &["start", "flows/fan", "[0]", "--name", "by hand"]);
    assert!(text.starts_with("started run ") && text.contains("(flows/fan)"), "{text}");
    let runs = store.runs(&Default::default()).expect("runs").len();
    fails(&url, &["start", "flows/fan", "[3"], 1, &["`[3` are not JSON"]);
    fails(&url, &["start", "flows/fan", "3"], 1, &["not a JSON list"]);
    fails(&url, &["start", "fan", "[3]"], 1, &["`fan` is not a task: expected elf/task"]);
    fails(&url, &["start", "flows/fan", "[3]", "--weight", "0"], 1, &["run `fan`", "weight 0 is outside 1..=1024"]);
    assert_eq!(store.runs(&Default::default()).expect("runs").len(), runs, "refused input started nothing");
    let text = ok(&url, &["start", "flows/fan", "[1]", "--name", "heavy", "--weight", "3"]);
    assert!(text.starts_with("started run "), "{text}");
    drop(fleet);
}

/// One line in an inbox, exactly once, across a SIGKILL right after the
/// write was committed.
#[test]
fn an_inbox_line_is_written_once_across_a_kill() {
    let (url, _dir) = fresh_sqlite();
    let mut fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("greeter");
    let out = o.call(flows::greeter::call());
    let run = o.submit_blocking().expect("submit");
    let flow = format!("j{}", run.jobs()[0]);
    until("the line", Duration::from_secs(30), || ok(&url, &["inbox", &flow, "stdout"]).contains("hello"));
    fleet.flows.kill9();
    fleet.flows = Proc::elf("flows", &url, &[]);
    ok(&url, &["signal", &flow, "go"]);
    let n: u32 = within(Duration::from_secs(60), run.wait(&out)).expect("done");
    assert_eq!(n, 2);
    assert_eq!(ok(&url, &["inbox", &flow, "stdout"]), "hello from the flow\nbye\n");
    assert_eq!(ok(&url, &["inbox", &flow]), "stdout: hello from the flow\nstdout: bye\n");
    assert_eq!(ok(&url, &["inbox", &flow, "stdout", "--follow"]), "hello from the flow\nbye\n");
    drop(fleet);
}

/// Determinism: version 2 of a flow swaps two calls; resuming a history
/// that version 1 started fails the flow, and `mycelium failure` shows
/// both commands and both versions' sources.
#[test]
fn a_changed_flow_fails_an_old_history_naming_both_commands() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let _tasks = Proc::elf("flow-tasks", &url, &[]);
    let v1 = Proc::elf("flows", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    let mut o = myc.orchestration("ordered");
    let out = o.call(flows::ordered::call());
    let run = o.submit_blocking().expect("submit");
    let flow = run.jobs()[0];
    until("the flow to wait for the approval", Duration::from_secs(30), || {
        state(&store, flow) == Some(JobState::Waiting) && store.flow_steps(flow, 0).expect("steps").len() == 3
    });
    assert!(v1.stop().success());
    let v2 = Proc::elf("flows-v2", &url, &[]);
    ok(&url, &["signal", &format!("j{flow}"), "approve", "--data", r#"{"by": "ana"}"#]);
    let err = within(Duration::from_secs(60), run.wait(&out)).expect_err("a changed flow");
    assert!(err.to_string().contains("failed"), "{err}");
    let f = store.failures(&FailureQuery { job: Some(flow), ..Default::default() }).expect("failures");
    let f = f.first().expect("a failure");
    assert_eq!(f.report.kind, FailureKind::Nondeterminism);
    let story = ok(&url, &["failure", &f.id.to_string()]);
    for needle in [
        "failure 1: nondeterminism in flows/ordered",
        "determinism check failed at command 0",
        "recorded  `call flowtasks/square`",
        "issued    `call flowtasks/nap`",
        "that recorded the history",
        ">> ",
    ] {
        assert!(story.contains(needle), "missing {needle:?} in\n{story}");
    }
    assert_eq!(story.matches(">> ").count(), 2, "both versions' lines are marked\n{story}");
    // Back on version 1, a retry resumes from the history: no call again,
    // the kept signal consumed.
    assert!(v2.stop().success());
    let _v1 = Proc::elf("flows", &url, &[]);
    let retried = ok(&url, &["retry", &format!("j{flow}")]);
    assert!(retried.contains("re-queued 1 job(s)"), "{retried}");
    let v: u64 = within(Duration::from_secs(60), run.wait(&out)).expect("resumed");
    assert_eq!(v, 4 + 1);
    assert_eq!(store.children(flow).expect("children").len(), 2, "the calls were not made again");
    let f = store.job(flow).expect("job").expect("flow");
    assert_eq!(f.state, JobState::Succeeded);
}

/// Bad input: an unknown signal target, a payload of the wrong type, a
/// signal to a task, a flow awaiting its own output.
#[test]
fn bad_input_to_flows_is_refused_with_the_fix() {
    let (url, _dir) = fresh_sqlite();
    let fleet = Fleet::start(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    let mut o = myc.orchestration("bad");
    let _waits = o.call(flows::approval::call(0u64, 0u64));
    let me = o.call(flows::narcissus::call());
    let run = o.submit_blocking().expect("submit");
    let waiting = run.jobs()[0];
    until("the flow to wait", Duration::from_secs(30), || state(&store, waiting) == Some(JobState::Waiting));
    fails(&url, &["signal", "j999999", "approve"], 3, &["job 999999 does not exist"]);
    fails(&url, &["signal", "no-such-key", "approve"], 3, &["`no-such-key` names no flow"]);
    fails(&url, &["signal", &format!("j{waiting}"), "approve", "--data", "{by: ana}"], 1, &["is not JSON"]);
    fails(
        &url,
        &["signal", &format!("j{waiting}"), "approve", "--data", r#"{"who": 3}"#],
        1,
        &["Approval", "the type the flow awaits at step 1", "field `by` is missing"],
    );
    let child = store.children(waiting).expect("children")[0];
    fails(&url, &["signal", &format!("j{child}"), "approve"], 1, &["is a task, not a flow"]);
    let err = within(Duration::from_secs(60), run.wait(&me)).expect_err("a flow cannot wait for itself");
    assert!(err.to_string().contains("cannot wait for itself"), "{err}");
    assert!(store.flow_signals(waiting, false).expect("signals").is_empty(), "nothing refused was stored");
    drop(fleet);
}

/// A sleeping flow needs no process and wakes close to its due time with
/// an idle elf running (the figure the issue asks for: within 100 ms).
#[test]
fn a_sleeping_flow_wakes_within_100_ms_of_its_due_time() {
    let (url, _dir) = fresh_sqlite();
    let fleet = Fleet::start(&url);
    let myc = Mycelium::new(Store::open(&url).expect("open"));
    let mut o = myc.orchestration("sleepy");
    let out = o.call(flows::sleepy::call(300i64, 5u32));
    let run = o.submit_blocking().expect("submit");
    let mut late: Vec<i64> = within(Duration::from_secs(60), run.wait(&out)).expect("slept");
    late.sort_unstable();
    eprintln!("flows woke late by {late:?} ms");
    assert!(late.iter().all(|l| *l >= 0), "{late:?}");
    assert!(late[late.len() / 2] <= 100, "median lateness over 100 ms: {late:?}");
    drop(fleet);
}
