//! Failures that explain themselves: each kind of failure, retries,
//! timeouts, replay and task versions, with real elf processes.

use std::process::Command;
use std::time::Duration;

use mycelium::model::{FailureKind, JobState, RunState};
use mycelium::storage::FailureQuery;

use crate::elves::{sender, trials, trials_v2};
use crate::util::{MYCELIUM, Proc, fresh_sqlite, within};

fn failures_of(myc: &mycelium::Mycelium, job: mycelium::model::JobId) -> Vec<mycelium::model::Failure> {
    let mut f = myc.store().failures(&FailureQuery { job: Some(job), ..Default::default() }).expect("failures");
    f.reverse();
    f
}

#[test]
fn a_panic_is_caught_with_its_backtrace_and_the_elf_keeps_serving() {
    let (url, _dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("panics");
    let bad = o.call(trials::pick::call(7));
    let good = o.call(trials::pick::call(1));
    let run = o.submit_blocking().expect("submit");
    let err = within(Duration::from_secs(30), run.wait(&bad)).expect_err("panics");
    assert!(err.to_string().contains("index out of bounds"), "{err}");
    assert_eq!(within(Duration::from_secs(30), run.wait(&good)).expect("the elf survived"), "pear");
    let f = &failures_of(&myc, run.jobs()[0])[0];
    assert_eq!(f.report.kind, FailureKind::Panic);
    assert!(f.instance.is_some() && f.pid.is_some() && f.host.is_some(), "{f:?}");
    let frame = f.report.frames.iter().find(|fr| fr.of_interest).expect("a frame of interest");
    assert!(frame.function.contains("pick"), "{frame:?}");
    assert!(frame.file.as_deref().is_some_and(|p| p.ends_with("elves/trials/tasks.rs")), "{frame:?}");
    let v = myc.store().task_version(f.report.ran_sha.as_ref().expect("sha")).expect("read").expect("recorded");
    let line = frame.line.expect("line");
    assert!(
        line >= v.line && line < v.line + v.source.lines().count() as u32,
        "the failing line is in the recorded source"
    );
    assert_eq!(f.report.inputs, serde_json::json!([7]));
    // `mycelium failure` shows it beside the source, the failing line marked.
    let out = Command::new(MYCELIUM).args(["--store", &url, "failure", &f.id.to_string()]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(">>") && text.contains("fruits[n as usize]"), "{text}");
    assert!(text.contains("replay"), "{text}");
}

#[test]
fn an_error_keeps_its_cause_chain() {
    let (url, _dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("chain");
    let s = o.call(trials::parse_setting::call("retries=many".to_owned()));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.wait(&s)).expect_err("fails");
    let f = &failures_of(&myc, run.jobs()[0])[0];
    assert_eq!(f.report.kind, FailureKind::Error);
    assert_eq!(f.report.message, "setting `retries` has a bad value");
    assert_eq!(f.report.causes, vec!["invalid digit found in string".to_owned()]);
}

#[test]
fn retries_until_success_and_until_exhaustion() {
    let (url, dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let ok_counter = dir.path().join("ok").display().to_string();
    let bad_counter = dir.path().join("bad").display().to_string();
    let mut o = myc.orchestration("retries");
    let ok = o.call(trials::flaky::call(ok_counter, 2).retries(3, Duration::from_millis(20)));
    let bad = o.call(trials::flaky::call(bad_counter, 5).retries(3, Duration::from_millis(20)));
    let run = o.submit_blocking().expect("submit");
    assert_eq!(within(Duration::from_secs(30), run.wait(&ok)).expect("third time lucky"), 3);
    within(Duration::from_secs(30), run.wait(&bad)).expect_err("out of attempts");
    let oks = failures_of(&myc, run.jobs()[0]);
    assert_eq!(oks.iter().map(|f| (f.attempt, f.will_retry)).collect::<Vec<_>>(), vec![(1, true), (2, true)]);
    let bads = failures_of(&myc, run.jobs()[1]);
    assert_eq!(
        bads.iter().map(|f| (f.attempt, f.will_retry)).collect::<Vec<_>>(),
        vec![(1, true), (2, true), (3, false)]
    );
    assert!(bads[1].at - bads[0].at >= 15, "the backoff was not respected");
}

#[test]
fn a_non_retryable_error_fails_at_once() {
    let (url, _dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("fatal");
    let r = o.call(trials::refuse::call("no".to_owned()).retries(5, Duration::ZERO));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.wait(&r)).expect_err("refused");
    let f = failures_of(&myc, run.jobs()[0]);
    assert_eq!(f.len(), 1);
    assert!(!f[0].will_retry && !f[0].report.retryable);
    assert_eq!(f[0].report.message, "refused: no");
}

#[test]
fn timeouts_cancel_async_tasks_and_abandon_sync_ones() {
    let (url, _dir) = fresh_sqlite();
    let _trials = Proc::elf("trials", &url, &[]);
    let _sender = Proc::elf("sender", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("timeouts");
    let nap = o.call(trials::nap::call(10_000).timeout(Duration::from_millis(200)));
    let slow = o.call(sender::slow::call(1_500).timeout(Duration::from_millis(200)));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.wait(&nap)).expect_err("timed out");
    within(Duration::from_secs(30), run.wait(&slow)).expect_err("timed out");
    for job in run.jobs() {
        let f = failures_of(&myc, *job);
        assert_eq!(f[0].report.kind, FailureKind::Timeout);
        assert!(f[0].report.message.contains("200 ms"), "{}", f[0].report.message);
    }
    // The abandoned sync attempt finishes later; its result is never written.
    std::thread::sleep(Duration::from_millis(1_600));
    assert_eq!(myc.store().result(run.jobs()[1]).expect("result"), None);
    assert_eq!(myc.store().job(run.jobs()[1]).expect("job").expect("exists").state, JobState::Failed);
}

#[test]
fn a_retry_after_fixing_the_input_succeeds_and_replay_reproduces() {
    let (url, dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let path = dir.path().join("number.txt");
    let mut o = myc.orchestration("fix");
    let n = o.call(trials::read_number::call(path.display().to_string()));
    let greeting = o.call(trials::greet::call(n.at::<String>("")));
    let run = o.submit_blocking().expect("submit");
    let job = run.jobs()[0];
    within(Duration::from_secs(30), run.wait(&n)).expect_err("no file yet");
    assert_eq!(within(Duration::from_secs(30), run.finished()).expect("ended").state, RunState::Failed);
    // Replay reproduces the failure locally, writing nothing.
    let replay = Command::new(env!("CARGO_BIN_EXE_elf-trials"))
        .args(["--store", &url, "replay", &job.to_string()])
        .output()
        .expect("replay");
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(!replay.status.success() && text.contains("cannot read"), "{text}");
    std::fs::write(&path, "42\n").expect("fix the input");
    let replay = Command::new(env!("CARGO_BIN_EXE_elf-trials"))
        .args(["--store", &url, "replay", &job.to_string()])
        .output()
        .expect("replay");
    assert!(replay.status.success() && String::from_utf8_lossy(&replay.stdout).contains("42"));
    assert_eq!(myc.store().job(job).expect("job").expect("exists").state, JobState::Failed, "replay wrote");
    // Now retry it for real, from the command line.
    let out = Command::new(MYCELIUM).args(["--store", &url, "retry", &format!("j{job}")]).output().expect("retry");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(within(Duration::from_secs(30), run.wait(&n)).expect("fixed"), 42);
    assert_eq!(myc.store().job(job).expect("job").expect("exists").attempt, 2);
    let _ = greeting;
}

#[test]
fn a_changed_task_source_is_a_new_version_and_each_job_records_its_own() {
    let (url, _dir) = fresh_sqlite();
    let myc = mycelium::connect(&url).expect("connect");
    let v1 = Proc::elf("trials", &url, &[]);
    let mut o = myc.orchestration("v1");
    let a = o.call(trials::greet::call("ada".to_owned()));
    let run1 = o.submit_blocking().expect("submit");
    assert_eq!(within(Duration::from_secs(30), run1.wait(&a)).expect("v1"), "hello, ada");
    assert!(v1.stop().success());
    let _v2 = Proc::elf("trials-v2", &url, &[]);
    let mut o = myc.orchestration("v2");
    let b = o.call(trials_v2::greet::call("bob".to_owned()));
    let run2 = o.submit_blocking().expect("submit");
    assert_eq!(within(Duration::from_secs(30), run2.wait(&b)).expect("v2"), "hello, bob!");
    let store = myc.store();
    let sha1 = store.job(run1.jobs()[0]).expect("job").expect("exists").ran_sha.expect("ran");
    let sha2 = store.job(run2.jobs()[0]).expect("job").expect("exists").ran_sha.expect("ran");
    assert_ne!(sha1, sha2);
    assert_eq!(sha1, trials::greet::INFO.sha());
    assert_eq!(sha2, trials_v2::greet::INFO.sha());
    let versions = store.task_versions("trials", "greet").expect("versions");
    assert_eq!(versions.iter().map(|v| v.sha.clone()).collect::<Vec<_>>(), vec![sha1.clone(), sha2.clone()]);
    let out = Command::new(MYCELIUM)
        .args(["--store", &url, "source", "trials/greet", "--diff", sha1.short(), sha2.short()])
        .output()
        .expect("diff");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("-    format!(\"hello, {name}\")") && text.contains("+    format!(\"hello, {name}!\")"),
        "{text}"
    );
}
