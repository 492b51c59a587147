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
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let mut doomed = Proc::elf("sender", &url, &["--lease-ttl-ms", "600"]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("crash");
    let out = o.call(sender::slow::call(1500).retries(3, Duration::ZERO));
    let run = o.submit_blocking().expect("submit");
    let job = run.jobs()[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    while myc.store().job(job).expect("job").expect("exists").state != JobState::Claimed {
        assert!(Instant::now() < deadline, "never claimed");
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.child.kill().expect("SIGKILL");
    let _ = doomed.child.wait();
    let _survivor = Proc::elf("sender", &url, &[]);
    let v: u64 = within(Duration::from_secs(30), run.wait(&out)).expect("value");
    assert_eq!(v, 1500);
    let j = myc.store().job(job).expect("job").expect("exists");
    assert_eq!(j.attempt, 2);
    let f = myc.store().failures(&FailureQuery { job: Some(job), ..Default::default() }).expect("failures");
    assert_eq!(f.len(), 1);
    assert!(matches!(f[0].report.kind, FailureKind::LeaseExpired | FailureKind::ElfLost), "{:?}", f[0].report.kind);
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
fn the_coordinator_restarted_mid_run_and_sigterm_exits_cleanly() {
    let (url, _dir) = fresh_sqlite();
    let coordinator = Proc::coordinator(&url);
    let sender = Proc::elf("sender", &url, &["--slots", "2"]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("restart");
    let outs: Vec<_> = (0..40).map(|_| o.call(sender::slow::call(20))).collect();
    let run = o.submit_blocking().expect("submit");
    std::thread::sleep(Duration::from_millis(100));
    drop(coordinator); // SIGKILL
    let _again = Proc::coordinator(&url);
    let p = within(Duration::from_secs(60), run.finished()).expect("finished");
    assert_eq!((p.state, outs.len() as u64), (RunState::Succeeded, p.total));
    assert!(sender.stop().success(), "an elf exits 0 on SIGTERM");
}

#[test]
fn two_coordinators_on_one_store_elect_one_leader() {
    let (url, _dir) = fresh_sqlite();
    let first = Proc::coordinator(&url);
    let deadline = Instant::now() + Duration::from_secs(20);
    let said = |p: &Proc, what: &str| -> bool {
        while Instant::now() < deadline {
            match p.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(what) => return true,
                _ => {}
            }
        }
        false
    };
    assert!(said(&first, "is the leader"));
    // The second cannot bind the doorbell socket the first holds, or stands by.
    let second = Proc::start(env!("CARGO_BIN_EXE_mycelium"), &url, &["coordinator", "--tick-ms", "100"]);
    let mut second_lines = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Ok(l) = second.lines.recv_timeout(Duration::from_millis(100)) {
            second_lines.push(l);
        }
    }
    assert!(!second_lines.iter().any(|l| l.contains("is the leader")), "two leaders: {second_lines:?}");
    // When the leader dies, the other takes over once its lease runs out.
    drop(first);
    let mut took_over = false;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && !took_over {
        if let Ok(l) = second.lines.recv_timeout(Duration::from_millis(100)) {
            took_over = l.contains("is the leader");
        }
    }
    assert!(took_over, "the standby never took over: {second_lines:?}");
}
