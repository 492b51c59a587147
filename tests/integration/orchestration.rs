//! Whole orchestrations with real elf and coordinator processes.

use std::time::{Duration, Instant};

use mycelium::model::{FailureKind, JobState, RunState};
use mycelium::storage::{EventQuery, FailureQuery, JobQuery};

use crate::elves::{printer, sender};
use crate::util::{Proc, fresh_sqlite, within};

#[test]
fn elves_started_after_the_driver_run_the_orchestration() {
    let (url, _dir) = fresh_sqlite();
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("hello");
    let msg = o.call(sender::send::call("hello, elves".to_owned()));
    let printed = o.call(printer::print_it::call(&msg));
    let words: Vec<_> = ["a", "bb", "ccc"].iter().map(|w| o.call(sender::send::call(w.to_string()))).collect();
    let nested = o.call(printer::print_all::call(vec![words[..1].to_vec(), words[1..].to_vec()]));
    let run = o.submit_blocking().expect("submit");
    // Only now do the elves start, in either order.
    let _printer = Proc::elf("printer", &url, &[]);
    let _sender = Proc::elf("sender", &url, &[]);
    let (chars, groups) = within(Duration::from_secs(30), async {
        (run.wait(&printed).await.expect("printed"), run.wait(&nested).await.expect("nested"))
    });
    assert_eq!((chars, groups), (12usize, 3usize));
    let p = run.progress().expect("progress");
    assert_eq!(p.state, RunState::Succeeded);
}

#[test]
fn two_instances_share_a_run_and_no_job_runs_twice() {
    let (url, _dir) = fresh_sqlite();
    let _a = Proc::elf("sender", &url, &["--slots", "4"]);
    let _b = Proc::elf("sender", &url, &["--slots", "4"]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("shared");
    let outs: Vec<_> = (0..300).map(|i| o.call(sender::slow::call(i % 3))).collect();
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(60), run.finished()).expect("finished");
    let store = myc.store();
    let jobs = store.jobs(&JobQuery { run: Some(run.id()), ..Default::default() }).expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded && j.attempt == 1), "a job ran twice");
    let holders: std::collections::HashSet<_> = jobs.iter().filter_map(|j| j.holder.clone()).collect();
    assert_eq!(holders.len(), 2, "both instances should have worked");
    let claims = store
        .events(&EventQuery { run: Some(run.id()), limit: 100_000, ..Default::default() })
        .expect("events")
        .into_iter()
        .filter(|e| e.state == Some(JobState::Claimed))
        .count();
    assert_eq!(claims, outs.len());
}

#[test]
fn a_sigkilled_elf_s_job_runs_again_elsewhere_with_one_result() {
    // No retry options: the default policy allows one attempt, and losing
    // the elf must not spend it.
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let mut doomed = Proc::elf("sender", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("crash");
    let out = o.call(sender::slow::call(1500));
    let run = o.submit_blocking().expect("submit");
    let job = run.jobs()[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    while myc.store().job(job).expect("job").expect("exists").state != JobState::Claimed {
        assert!(Instant::now() < deadline, "never claimed");
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.kill9();
    let _survivor = Proc::elf("sender", &url, &[]);
    let v: u64 = within(Duration::from_secs(30), run.wait(&out)).expect("value");
    assert_eq!(v, 1500);
    let j = myc.store().job(job).expect("job").expect("exists");
    assert_eq!((j.attempt, j.lost, j.max_attempts), (1, 1, 1), "the loss was charged to the task");
    let f = myc.store().failures(&FailureQuery { job: Some(job), ..Default::default() }).expect("failures");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].report.kind, FailureKind::ElfLost, "the death is evidence: no need to wait for the lease");
    assert!(f[0].will_retry);
    assert_eq!(myc.store().results(&[job]).expect("results").len(), 1);
}

#[test]
fn a_failing_task_fails_its_consumers_and_explains_itself() {
    let (url, _dir) = fresh_sqlite();
    let _sender = Proc::elf("sender", &url, &[]);
    let _printer = Proc::elf("printer", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("fails");
    let loud = o.call(sender::shout::call(String::new()));
    let printed = o.call(printer::print_it::call(&loud));
    let run = o.submit_blocking().expect("submit");
    let err = within(Duration::from_secs(30), run.wait(&printed)).expect_err("must fail");
    assert!(err.to_string().contains("upstream_failed"), "{err}");
    let err = within(Duration::from_secs(30), run.wait(&loud)).expect_err("must fail");
    assert!(err.to_string().contains("nothing to shout"), "{err}");
    let p = within(Duration::from_secs(30), run.finished()).expect("finished");
    assert_eq!(p.state, RunState::Failed);
    let store = myc.store();
    let f = store.failures(&FailureQuery { job: Some(run.jobs()[0]), ..Default::default() }).expect("failures");
    let report = &f[0].report;
    assert_eq!(report.kind, FailureKind::Error);
    assert_eq!(report.inputs, serde_json::json!([""]));
    let sha = report.ran_sha.clone().expect("the version that ran");
    let source = store.task_version(&sha).expect("read").expect("recorded").source;
    assert!(source.contains("fn shout(text: String)"), "{source}");
}

#[test]
fn the_coordinator_restarted_mid_run_gives_back_a_silent_elf_s_jobs() {
    use rustix::process::{Pid, Signal, kill_process};
    let (url, _dir) = fresh_sqlite();
    let mut coordinator = Proc::coordinator(&url);
    let stuck = Proc::elf("sender", &url, &["--slots", "2", "--lease-ttl-ms", "600"]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("restart");
    let outs: Vec<_> = (0..40).map(|_| o.call(sender::slow::call(20))).collect();
    let run = o.submit_blocking().expect("submit");
    let store = myc.store();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .jobs(&JobQuery { run: Some(run.id()), states: vec![JobState::Claimed], ..Default::default() })
        .expect("jobs")
        .is_empty()
    {
        assert!(Instant::now() < deadline, "nothing was claimed");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The elf hangs (alive, silent) and the coordinator dies: nobody else can
    // tell that the elf stopped working. Only the restarted coordinator can.
    let pid = Pid::from_raw(stuck.pid() as i32).expect("pid");
    kill_process(pid, Signal::STOP).expect("SIGSTOP the elf");
    coordinator.kill9();
    let mut again = Proc::coordinator(&url);
    again.wait_for("is the leader", Duration::from_secs(10));
    let reaped = again.wait_for("lost elf instance", Duration::from_secs(10));
    assert!(reaped.contains(", 1 lost elf instance"), "{reaped}");
    let elves = store.elves().expect("elves");
    assert_eq!(elves.iter().find(|e| e.pid == stuck.pid()).map(|e| e.state), Some(mycelium::model::ElfState::Lost));
    // Another elf finishes the run; the silent one, when it wakes, is fenced.
    let worker = Proc::elf("sender", &url, &[]);
    let p = within(Duration::from_secs(60), run.finished()).expect("finished");
    assert_eq!((p.state, outs.len() as u64), (RunState::Succeeded, p.total));
    kill_process(pid, Signal::CONT).expect("SIGCONT the elf");
    let jobs = store.jobs(&JobQuery { run: Some(run.id()), ..Default::default() }).expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded && j.attempt == 1), "a loss was charged");
    assert_eq!(store.results(run.jobs()).expect("results").len(), 40);
    assert!(worker.stop().success(), "an elf exits 0 on SIGTERM");
    drop(stuck);
}

#[test]
fn two_coordinators_on_one_store_elect_one_leader() {
    let (url, _dir) = fresh_sqlite();
    let mut first = Proc::coordinator(&url);
    first.wait_for("is the leader", Duration::from_secs(20));
    // The second cannot bind the doorbell socket the first holds, or stands by.
    let mut second = Proc::start(env!("CARGO_BIN_EXE_mycelium"), &url, &["coordinator", "--tick-ms", "100"]);
    second.wait_for("is standing by", Duration::from_secs(20));
    let mut second_lines = Vec::new();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Some(l) = second.next_line(Duration::from_millis(100)) {
            second_lines.push(l);
        }
    }
    assert!(!second_lines.iter().any(|l| l.contains("is the leader")), "two leaders: {second_lines:?}");
    // When the leader dies, the other takes over once its lease runs out.
    drop(first);
    let mut took_over = false;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && !took_over {
        if let Some(l) = second.next_line(Duration::from_millis(100)) {
            took_over = l.contains("is the leader");
        }
    }
    assert!(took_over, "the standby never took over: {second_lines:?}");
}

#[test]
fn a_run_no_elf_serves_says_which_binary_to_start() {
    let (url, _dir) = fresh_sqlite();
    // An elf that once served the task, now stopped: its binary is known.
    let once = Proc::elf("sender", &url, &[]);
    assert!(once.stop().success());
    let mut coordinator = Proc::coordinator(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("unserved");
    o.call(sender::send::call("hello".to_owned()));
    let run = o.submit_blocking().expect("submit");
    let out = std::process::Command::new(crate::util::MYCELIUM)
        .args(["--store", &url, "run", &run.id().to_string()])
        .output()
        .expect("mycelium run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("waiting: 1 job(s) of sender/send wait for an elf: start `elf-sender`"), "{text}");
    let json = std::process::Command::new(crate::util::MYCELIUM)
        .args(["--store", &url, "--json", "run", &run.id().to_string()])
        .output()
        .expect("mycelium run --json");
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(json["unserved"][0]["program"], "elf-sender", "{json}");
    // The coordinator says it too.
    let said = coordinator.wait_for("waiting:", Duration::from_secs(30));
    assert!(said.contains("elf-sender"), "{said}");
    // Once an elf serves it, the run ends and nothing waits.
    let _sender = Proc::elf("sender", &url, &[]);
    within(Duration::from_secs(30), run.finished()).expect("finished");
    assert!(run.unserved().expect("unserved").is_empty());
    coordinator.kill9();
}

/// A driver is a process that may die once it has submitted: another one
/// reattaches to the run by id and sees its jobs, waits with a bound (which
/// says why it did not get there), and reads the values once elves serve it.
#[test]
fn a_driver_process_that_died_is_replaced_by_one_that_reattaches_by_id() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    // The first driver: `mycelium start`, a process that submits and exits.
    let out = std::process::Command::new(crate::util::MYCELIUM)
        .args(["--store", &url, "--json", "start", "sender/send", "[\"still here\"]"])
        .output()
        .expect("run mycelium start");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = mycelium::model::RunId(started["run"].as_i64().expect("a run id"));
    // The driver that comes back.
    let myc = mycelium::connect(&url).expect("connect");
    let run = myc.run(id).expect("reattach");
    assert_eq!(run.jobs().len(), 1, "the reattached run sees its job");
    let err = within(Duration::from_secs(30), run.finished_within(Duration::from_millis(300)))
        .expect_err("no elf serves it yet");
    assert!(err.to_string().contains("did not get there"), "{err}");
    let _sender = Proc::elf("sender", &url, &[]);
    within(Duration::from_secs(60), run.finished_within(Duration::from_secs(30))).expect("finished");
    let values = run.values().expect("values");
    assert_eq!(values.len(), 1);
    assert_eq!(values.values().next(), Some(&serde_json::json!("still here")), "{values:?}");
    assert!(myc.run(mycelium::model::RunId(id.0 + 1000)).is_err(), "an unknown run is an error");
}

/// An output of one orchestration passed into another, typed or through the
/// JSON API, is refused at submit, naming it, with elves running: nothing
/// is submitted, and nothing runs or prints.
#[test]
fn an_output_of_another_orchestration_is_refused_with_elves_running() {
    let (url, _dir) = fresh_sqlite();
    let _printer = Proc::elf("printer", &url, &[]);
    let _sender = Proc::elf("sender", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut a = myc.orchestration("a");
    let msg = a.call(sender::send::call("from a".to_owned()));
    let mut b = myc.orchestration("b");
    let _own = b.call(sender::send::call("from b".to_owned()));
    b.call(printer::print_it::call(msg.clone()));
    let err = b.submit_blocking().expect_err("a typed foreign output");
    assert!(err.to_string().contains("another orchestration"), "{err}");
    let mut c = myc.orchestration("c");
    let _own = c.call(sender::send::call("from c".to_owned()));
    c.call(mycelium::Call::<usize>::dynamic("printer", "print_it", vec![msg.to_json()]));
    let err = c.submit_blocking().expect_err("a foreign reference through the JSON API");
    let text = err.to_string();
    assert!(text.contains("another orchestration") && text.contains('#'), "{text}");
    assert!(myc.store().runs(&Default::default()).expect("runs").is_empty(), "nothing was submitted");
    assert!(myc.store().jobs(&JobQuery::default()).expect("jobs").is_empty(), "nothing can run");
}

/// A job that kills every elf that takes it (`trials/crash` SIGKILLs its own
/// process) is run again after each death without spending its one
/// attempt, until its budget of losses is spent: then it fails as a poison
/// job, and what it fed is `upstream_failed`. The dead elves are replaced
/// as a supervisor would.
#[test]
fn a_job_that_kills_every_elf_that_takes_it_ends_as_poison() {
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("poison");
    let bad = o.call(crate::elves::trials::crash::call(1));
    let _after = o.call(crate::elves::trials::pick::call(&bad));
    let run = o.submit_blocking().expect("submit");
    let (bad_job, after_job) = (run.jobs()[0], run.jobs()[1]);
    let mut elves: Vec<Proc> = (0..2).map(|_| Proc::elf("trials", &url, &[])).collect();
    let mut deaths = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while myc.store().job(bad_job).expect("read").expect("job").state != JobState::Failed {
        assert!(Instant::now() < deadline, "the poison job never ended: {:?}", myc.store().job(bad_job));
        for e in &mut elves {
            if e.exited() {
                deaths += 1;
                *e = Proc::elf("trials", &url, &[]);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last death (the one that spent the budget) came before the failure.
    deaths += elves.iter_mut().map(Proc::exited).filter(|&gone| gone).count();
    let j = myc.store().job(bad_job).expect("read").expect("job");
    let policy = mycelium::model::RetryPolicy::default();
    assert_eq!(j.attempt, 0, "every loss gave its attempt back: {j:?}");
    assert_eq!(j.lost, policy.max_lost, "failed once its budget of losses was spent: {j:?}");
    let failures = myc.store().failures(&FailureQuery { job: Some(bad_job), ..Default::default() }).expect("failures");
    let last = failures.iter().max_by_key(|f| f.id).expect("a failure");
    assert_eq!(last.report.kind, FailureKind::Poison, "{last:?}");
    let lost = failures.iter().filter(|f| f.report.kind == FailureKind::ElfLost).count() as u32;
    assert_eq!(lost + 1, policy.max_lost, "each loss before the last is recorded as one: {failures:?}");
    assert_eq!(deaths, policy.max_lost as usize, "one elf died per loss");
    assert_eq!(myc.store().job(after_job).expect("read").expect("job").state, JobState::UpstreamFailed);
    assert_eq!(run.progress().expect("progress").state, RunState::Failed);
}
