//! Agents with real elf and coordinator processes on an embedded store:
//! signals fanned out to receivers in two binaries (one started late),
//! queues with retries, dead letters and a SIGKILLed consumer, exchanges,
//! RPC, schedules through coordinator restarts, and bad input.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mycelium::agent::Queue;
use mycelium::model::{EventKind, JobState};
use mycelium::storage::{EventQuery, JobQuery, Store};
use serde_json::Value;

use crate::elves::agents::{Ask, Job, Ping};
use crate::util::{MYCELIUM, Proc, elf_exe, fresh_sqlite, within};

/// Runs `mycelium --store url args...`.
fn myc(url: &str, args: &[&str]) -> Output {
    Command::new(MYCELIUM).arg("--store").arg(url).args(args).env_remove("MYCELIUM_URL").output().expect("run mycelium")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits up to `limit` for `done`.
fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The jobs of `elf`/`task`.
fn jobs_of(store: &Store, elf: &str, task: &str) -> Vec<mycelium::model::Job> {
    store.jobs(&JobQuery { elf: Some(elf.into()), task: Some(task.into()), ..JobQuery::default() }).expect("jobs")
}

/// The results of `elf`/`task`'s succeeded jobs.
fn values_of(store: &Store, elf: &str, task: &str) -> Vec<Value> {
    let ids: Vec<_> =
        jobs_of(store, elf, task).into_iter().filter(|j| j.state == JobState::Succeeded).map(|j| j.id).collect();
    store.results(&ids).expect("results").into_iter().map(|(_, v)| v).collect()
}

#[test]
fn two_receivers_in_two_binaries_run_every_emission_once_one_started_late() {
    let (url, _dir) = fresh_sqlite();
    two_receivers(&url);
}

/// The same on the strict ArangoDB stand-in (`tests/arango/`): the agents'
/// catalog and job counts on the ArangoDB backend.
#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn two_receivers_run_every_emission_once_on_arangodb() {
    let (url, _server) = crate::conformance_arango::stand_in::fresh();
    two_receivers(&url);
}

fn two_receivers(url: &str) {
    let url = url.to_owned();
    let _coordinator = Proc::coordinator(&url);
    // agents-b is deployed (its subscriptions recorded) but not running.
    let out = Command::new(elf_exe("agents-b")).args(["--store", &url, "register"]).output().expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("receives ping (ping_b)"), "{}", text(&out));
    let _a = Proc::elf("agents-a", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    within(Duration::from_secs(30), async {
        for n in 1..=3 {
            let e = myc.emit(&Ping { n }).await.expect("emit");
            assert_eq!(e.deliveries.len(), 2, "{e:?}");
        }
    });
    until("agents-a's three", Duration::from_secs(30), || values_of(&store, "agents-a", "ping_a").len() == 3);
    assert!(values_of(&store, "agents-b", "ping_b").is_empty(), "no agents-b runs yet");
    let _b = Proc::elf("agents-b", &url, &[]);
    within(Duration::from_secs(30), async {
        for n in 4..=5 {
            myc.emit(&Ping { n }).await.expect("emit");
        }
    });
    until("every delivery", Duration::from_secs(30), || {
        values_of(&store, "agents-a", "ping_a").len() == 5 && values_of(&store, "agents-b", "ping_b").len() == 5
    });
    for (elf, task) in [("agents-a", "ping_a"), ("agents-b", "ping_b")] {
        let mut got: Vec<u64> = values_of(&store, elf, task).iter().filter_map(Value::as_u64).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3, 4, 5], "{elf}");
        assert!(jobs_of(&store, elf, task).iter().all(|j| j.attempt == 1), "{elf} ran a delivery twice");
    }
    let claims = store
        .events(&EventQuery { limit: 100_000, ..EventQuery::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.state == Some(JobState::Claimed))
        .count();
    assert_eq!(claims, 10, "each delivery claimed once");
}

#[test]
fn queues_retry_die_requeue_survive_sigkill_and_share_between_instances() {
    let (url, dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let mut a1 = Proc::elf("agents-a", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let store = myc.store().clone();
    let flaky: Queue<Job> = Queue::named("flaky");
    let doomed: Queue<Job> = Queue::named("doomed");
    let work: Queue<Job> = Queue::named("work");
    let marker = dir.path().join("fixed");
    let marker_text = marker.display().to_string();
    let dead_job = within(Duration::from_secs(30), async {
        myc.send(&flaky, &Job { n: 1, ms: 0, unless: None }).await.expect("send");
        let d = myc.send(&doomed, &Job { n: 2, ms: 0, unless: Some(marker_text.clone()) }).await.expect("send");
        d.messages[0].1
    });

    // Fails twice, then succeeds on its third attempt.
    until("the flaky message", Duration::from_secs(30), || values_of(&store, "agents-a", "flaky").len() == 1);
    let j = &jobs_of(&store, "agents-a", "flaky")[0];
    assert_eq!((j.attempt, j.state), (3, JobState::Succeeded));

    // Always fails: dead, listed, then requeued once it can succeed.
    until("the dead letter", Duration::from_secs(30), || store.queue("doomed").map(|q| q.dead == 1).unwrap_or(false));
    let out = myc_ok(&url, &["queue", "dead", "doomed"]);
    assert!(out.contains(&dead_job.to_string()) && out.contains("cannot be consumed yet"), "{out}");
    let out = myc_ok(&url, &["queue"]);
    assert!(out.lines().any(|l| l.starts_with("doomed") && l.contains("agents-a/doomed")), "{out}");
    std::fs::write(&marker, "ok").expect("write the marker");
    let out = myc_ok(&url, &["queue", "requeue", "doomed"]);
    assert!(out.contains("requeued 1 dead message(s)"), "{out}");
    until("the requeued message", Duration::from_secs(30), || {
        store.job(dead_job).ok().flatten().is_some_and(|j| j.state == JobState::Succeeded)
    });
    assert_eq!(store.queue("doomed").expect("queue").dead, 0);

    // SIGKILL the consumer mid-message: the message is not lost.
    let slow_job = within(Duration::from_secs(30), async {
        myc.send(&work, &Job { n: 3, ms: 4_000, unless: None }).await.expect("send").messages[0].1
    });
    until("the slow message claimed", Duration::from_secs(30), || {
        store.job(slow_job).ok().flatten().is_some_and(|j| j.state == JobState::Claimed)
    });
    a1.kill9();
    let _a2 = Proc::elf("agents-a", &url, &[]);
    until("the slow message, again", Duration::from_secs(60), || {
        store.job(slow_job).ok().flatten().is_some_and(|j| j.state == JobState::Succeeded)
    });
    let j = store.job(slow_job).expect("job").expect("exists");
    assert_eq!((j.attempt, j.lost), (1, 1), "the loss was not charged to the message");
    assert_eq!(store.results(&[slow_job]).expect("results").len(), 1);

    // Two instances share a queue; no message runs twice.
    let _a3 = Proc::elf("agents-a", &url, &[]);
    let sent = within(Duration::from_secs(30), async {
        let batch: Vec<Job> = (0..200).map(|n| Job { n: 100 + n, ms: 5, unless: None }).collect();
        myc.bus().send_all(&work, &batch).await.expect("send")
    });
    let ids: Vec<_> = sent.messages.iter().map(|(_, j)| *j).collect();
    until("200 messages", Duration::from_secs(60), || {
        store.results(&ids).map(|r| r.len() == ids.len()).unwrap_or(false)
    });
    let jobs: Vec<_> = ids.iter().map(|id| store.job(*id).expect("job").expect("exists")).collect();
    assert!(jobs.iter().all(|j| j.attempt == 1 && j.lost == 0), "a message ran twice");
    let pids: HashSet<u64> =
        store.results(&ids).expect("results").iter().filter_map(|(_, v)| v.get(1).and_then(Value::as_u64)).collect();
    assert_eq!(pids.len(), 2, "both instances consumed");
    let claims = store
        .events(&EventQuery { run: sent.run, limit: 100_000, ..EventQuery::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.state == Some(JobState::Claimed))
        .count();
    assert_eq!(claims, 200, "a message was claimed twice");
}

fn myc_ok(url: &str, args: &[&str]) -> String {
    let out = myc(url, args);
    assert!(out.status.success(), "mycelium {args:?}\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn exchanges_route_fanout_and_topics_as_amqp_does() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let _a = Proc::elf("agents-a", &url, &[]);
    let store = Store::open(&url).expect("store");
    let publish = |exchange: &str, topic: &str, n: u64| {
        let data = format!("{{\"n\": {n}}}");
        myc_ok(&url, &["queue", "publish", exchange, "--topic", topic, "--data", &data])
    };
    let out = publish("push3", "user.ios", 1);
    assert!(out.contains("t_ios") && !out.contains("t_msg"), "{out}");
    assert!(publish("push3", "msg.ios", 2).contains("t_msg"));
    assert!(publish("push3", "msg", 3).contains("t_msg"));
    assert!(publish("push3", "a.b.ios", 4).contains("no bound queue matches"));
    let out = publish("bcast", "anything", 5);
    assert!(out.contains("f_one") && out.contains("f_two"), "{out}");
    let want: BTreeMap<&str, Vec<u64>> =
        BTreeMap::from([("t_ios", vec![1, 2]), ("t_msg", vec![2, 3]), ("f_one", vec![5]), ("f_two", vec![5])]);
    until("every routed message", Duration::from_secs(30), || {
        want.iter().all(|(task, ns)| values_of(&store, "agents-a", task).len() == ns.len())
    });
    for (task, ns) in want {
        let mut got: Vec<u64> = values_of(&store, "agents-a", task).iter().filter_map(Value::as_u64).collect();
        got.sort_unstable();
        assert_eq!(got, ns, "{task}");
    }
}

#[test]
fn rpc_answers_per_responder_times_out_empty_and_never_goes_stale() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let a = Proc::elf("agents-a", &url, &[]);
    let b = Proc::elf("agents-b", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    within(Duration::from_secs(60), async {
        let got = myc.call(&Ask { x: 20, think_ms: 0 }).timeout(Duration::from_secs(10)).await.expect("call");
        let mut answers: Vec<(String, u64)> = got.answers.iter().map(|a| (a.elf.clone(), a.value)).collect();
        answers.sort();
        assert_eq!(answers, [("agents-a".to_owned(), 21), ("agents-b".to_owned(), 40)]);
        assert!(got.answers.iter().all(|a| a.instance.is_some()));

        // The stale-timeout case in a driver: a 200 ms call, then a 500 ms
        // wait in the same task.
        let quick = myc.call(&Ask { x: 1, think_ms: 0 }).timeout(Duration::from_millis(200)).await.expect("call");
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(started.elapsed() >= Duration::from_millis(500));
        let _ = quick;
    });
    // The same inside a task: its job succeeds.
    let mut o = myc.orchestration("stale");
    let out = o.call(crate::elves::agents::ask_then_wait::call());
    let run = o.submit_blocking().expect("submit");
    let n: usize = within(Duration::from_secs(30), run.wait(&out)).expect("the task survived its own call's timeout");
    assert!(n <= 2);

    // With its responders down: empty, after the timeout.
    assert!(a.stop().success());
    assert!(b.stop().success());
    let out = myc_ok(&url, &["call", "ask", "--data", "{\"x\": 5}", "--timeout", "300ms"]);
    assert!(out.contains("0 answer(s)") && out.contains("did not answer"), "{out}");
}

#[test]
fn three_replicas_and_a_restarted_coordinator_make_one_job_per_tick() {
    let (url, _dir) = fresh_sqlite();
    one_job_per_tick(&url);
}

/// The same on the strict ArangoDB stand-in: schedules in the catalog,
/// ticks on the server's clock.
#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn three_replicas_and_a_restarted_coordinator_make_one_job_per_tick_on_arangodb() {
    let (url, _server) = crate::conformance_arango::stand_in::fresh();
    one_job_per_tick(&url);
}

fn one_job_per_tick(url: &str) {
    let url = url.to_owned();
    let mut coordinator = Proc::coordinator(&url);
    let _clocks: Vec<Proc> = (0..3).map(|_| Proc::elf("agents-clock", &url, &[])).collect();
    let store = Store::open(&url).expect("store");
    let anchor = store.schedule("agents-clock/beat").expect("declared").schedule.anchor;
    until("five ticks", Duration::from_secs(30), || values_of(&store, "agents-clock", "beat").len() >= 5);
    coordinator.kill9();
    std::thread::sleep(Duration::from_millis(2_500));
    let restarted = Proc::coordinator(&url);
    until("twenty ticks", Duration::from_secs(60), || values_of(&store, "agents-clock", "beat").len() >= 20);
    drop(restarted);
    let now = store.now();
    let jobs = jobs_of(&store, "agents-clock", "beat");
    let runs: Vec<_> = store.runs(&Default::default()).expect("runs");
    let mut ticks: Vec<i64> = runs
        .iter()
        .filter(|r| r.labels.get("schedule").map(String::as_str) == Some("agents-clock/beat"))
        .filter_map(|r| r.labels.get("tick")?.parse().ok())
        .collect();
    ticks.sort_unstable();
    let unique: BTreeSet<i64> = ticks.iter().copied().collect();
    assert_eq!(unique.len(), ticks.len(), "two jobs for one tick");
    assert_eq!(ticks.len(), jobs.len());
    // Every tick from the first up to the last due is there: none missed.
    let expected: Vec<i64> = (0..).map(|k| anchor + k * 1_000).take_while(|t| *t <= ticks[ticks.len() - 1]).collect();
    assert_eq!(ticks, expected, "a tick is missing (now {now})");
    // Each job ran once, on one of the replicas, with its own tick.
    let values: BTreeSet<i64> = values_of(&store, "agents-clock", "beat").iter().filter_map(Value::as_i64).collect();
    assert!(values.iter().all(|v| unique.contains(v)));
    let events = store.events(&EventQuery { limit: 1_000_000, ..EventQuery::default() }).expect("events");
    let per_job_claims = events.iter().filter(|e| e.state == Some(JobState::Claimed)).count();
    assert!(per_job_claims >= values.len());
    assert!(jobs.iter().all(|j| j.attempt <= 1));
}

#[test]
fn bad_input_names_the_input_and_the_fix() {
    let (url, _dir) = fresh_sqlite();
    for elf in ["agents-a", "agents-b"] {
        let out = Command::new(elf_exe(elf)).args(["--store", &url, "register"]).output().expect("run");
        assert!(out.status.success(), "{}", text(&out));
    }
    let check = |args: &[&str], code: i32, needles: &[&str]| {
        let out = myc(&url, args);
        assert_eq!(out.status.code(), Some(code), "mycelium {args:?}\n{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "mycelium {args:?}: stderr lacks {n:?}\n{}", text(&out));
        }
    };
    check(&["emit", "pnig", "--data", "{\"n\": 1}"], 3, &["unknown signal `pnig`", "ping"]);
    check(
        &["emit", "ping", "--data", "{\"n\": \"one\"}"],
        1,
        &["signal `ping`", "field `n`", "integer", "its JSON Schema"],
    );
    check(&["emit", "ping", "--data", "{\"m\": 1}"], 1, &["field `n`", "missing"]);
    check(&["emit", "ping", "--data", "not json"], 1, &["--data", "not JSON"]);
    check(&["queue", "send", "flakey", "--data", "{\"n\": 1}"], 3, &["unknown queue `flakey`", "flaky"]);
    check(&["queue", "send", "flaky", "--data", "{\"n\": -1}"], 1, &["queue `flaky`", "field `n`"]);
    check(&["queue", "publish", "nowhere", "--data", "{}"], 3, &["unknown exchange `nowhere`", "push3"]);
    check(
        &["schedules", "add", "x", "--task", "agents-a/ping_a", "--cron", "61 * * * *"],
        1,
        &["`61 * * * *`", "field 1 (minute) `61`"],
    );
    check(&["schedules", "add", "x", "--task", "agents-a/ping_a", "--cron", "0 0 * *"], 1, &["4 field(s)"]);
    check(
        &["schedules", "add", "x", "--task", "agents-a/ping_a", "--every", "1m"],
        1,
        &["takes 1 argument(s) (p: Ping)", "could not fill", "--args"],
    );
    check(&["schedules", "add", "x", "--task", "agents-a/nope", "--every", "1m"], 3, &["unknown task `agents-a/nope`"]);
    check(&["schedules", "pause", "nope"], 3, &["unknown schedule `nope`"]);
    // Nothing of that was written.
    let store = Store::open(&url).expect("store");
    assert!(store.jobs(&JobQuery::default()).expect("jobs").is_empty());
    assert!(store.schedules().expect("schedules").is_empty());
    // Good input works, and the schedule fills its arguments.
    let out = myc_ok(
        &url,
        &["schedules", "add", "pinger", "--task", "agents-a/ping_a", "--every", "1h", "--args", "[{\"n\": 9}]"],
    );
    assert!(out.contains("added pinger"), "{out}");
    let out = myc_ok(&url, &["schedules"]);
    assert!(out.contains("pinger") && out.contains("every 1h"), "{out}");
    let out = myc_ok(&url, &["schedules", "trigger", "pinger"]);
    assert!(out.contains("triggered pinger"), "{out}");
    assert_eq!(jobs_of(&store, "agents-a", "ping_a").len(), 1);
}

#[test]
fn a_crashed_server_stops_its_elf_cleanly_and_is_recorded() {
    let (url, _dir) = fresh_sqlite();
    let mut b = Proc::start_with(&elf_exe("agents-b"), &url, &[], &[("AGENTS_CRASH_AFTER_MS", "300")]).ready();
    b.wait_for("server `status` crashed", Duration::from_secs(30));
    b.wait_for("stopped", Duration::from_secs(30));
    let store = Store::open(&url).expect("store");
    until("the stop", Duration::from_secs(10), || {
        store.elves().map(|e| e.iter().all(|e| e.state == mycelium::model::ElfState::Stopped)).unwrap_or(false)
    });
    let events = store.events(&EventQuery { limit: 10_000, ..EventQuery::default() }).expect("events");
    let crash = events.iter().find(|e| e.kind == EventKind::ServerFailed).expect("the crash is recorded");
    assert!(crash.data["message"].as_str().unwrap_or("").contains("status port"), "{crash:?}");
    let status = b.stop();
    assert_eq!(status.code(), Some(1), "a crash exits 1");
}
