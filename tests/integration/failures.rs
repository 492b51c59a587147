//! Failures that explain themselves: each kind of failure, retries,
//! timeouts, replay and task versions, with real elf processes.

use std::process::Command;
use std::time::Duration;

use mycelium::__private::TaskInfo;
use mycelium::model::{FailureKind, FailureReport, InstanceId, JobState, RunState};
use mycelium::storage::{ClaimRequest, FailureQuery};
use serde_json::Value;

use crate::elves::{sender, trials, trials_v2};
use crate::util::{MYCELIUM, Proc, elf_exe, fresh_sqlite, within};

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

/// The file line of `info`'s source that holds `needle` (exactly one does).
fn line_of(info: &TaskInfo, needle: &str) -> u32 {
    let found: Vec<usize> =
        info.source.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i).collect();
    assert_eq!(found.len(), 1, "{needle:?} in\n{}", info.source);
    info.line + found[0] as u32
}

/// `mycelium failure <id>`: the marked source line (as text) and the
/// `failing_line` of `--json`.
fn marked(url: &str, failure: mycelium::model::FailureId) -> (String, Value) {
    let id = failure.to_string();
    let out = Command::new(MYCELIUM).args(["--store", url, "failure", &id]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with(">>")).collect();
    assert_eq!(marked.len(), 1, "one line marked in\n{text}");
    let out = Command::new(MYCELIUM).args(["--store", url, "--json", "failure", &id]).output().expect("run");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    (marked[0].to_owned(), json["failing_line"].clone())
}

#[test]
fn an_error_is_marked_at_the_line_where_it_arose() {
    let (url, dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let missing = dir.path().join("missing").display().to_string();
    let (letters, empty, bad_line) = (file("letters", "abc\n"), file("empty", "\n"), file("bad", "1\nx\n"));
    let mut o = myc.orchestration("errors");
    // In call order: (task, the line that must be marked, what the error says).
    let cases = [
        // `?` on a std error (a `map_err`ed io::Error, boxed).
        {
            let _ = o.call(trials::read_number::call(missing.clone()));
            (&trials::read_number::INFO, "read_to_string", "cannot read")
        },
        // `?` on a std error inside the tail: `Ok(text.parse()?)`.
        {
            let _ = o.call(trials::read_number::call(letters));
            (&trials::read_number::INFO, "Ok(text.trim()", "invalid digit")
        },
        // `?` on the project's own error type.
        {
            let _ = o.call(trials::parse_setting::call("retries".to_owned()));
            (&trials::parse_setting::INFO, "ok_or_else", "has no `=`")
        },
        {
            let _ = o.call(trials::parse_setting::call("retries=many".to_owned()));
            (&trials::parse_setting::INFO, "BadValue", "bad value")
        },
        // anyhow: `?` after `with_context`, `bail!`, `?` in a loop.
        {
            let _ = o.call(trials::sum_file::call(missing));
            (&trials::sum_file::INFO, "cannot read {path}", "cannot read")
        },
        {
            let _ = o.call(trials::sum_file::call(empty));
            (&trials::sum_file::INFO, "bail!", "holds no number")
        },
        {
            let _ = o.call(trials::sum_file::call(bad_line));
            (&trials::sum_file::INFO, "is not a number", "`x` is not")
        },
        // An explicit `return Err(..)`, a tail `Err(..)`, and an async task's `?`.
        {
            let _ = o.call(trials::check_age::call(-3));
            (&trials::check_age::INFO, "return Err", "age -3")
        },
        {
            let _ = o.call(trials::refuse::call("no".to_owned()));
            (&trials::refuse::INFO, "Err(mycelium::Fatal", "refused")
        },
        {
            let _ = o.call(trials::halve_later::call(3, 5));
            (&trials::halve_later::INFO, "is odd", "3 is odd")
        },
    ];
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(60), run.finished()).expect("the run ends");
    for (index, (info, needle, says)) in cases.into_iter().enumerate() {
        let job = run.jobs()[index];
        let f = &failures_of(&myc, job)[0];
        assert_eq!(f.report.kind, FailureKind::Error, "{}: {f:?}", info.name);
        assert!(f.report.message.contains(says), "{}: {}", info.name, f.report.message);
        let line = line_of(info, needle);
        // The innermost frame of interest is the task's own, at that line.
        let top = f.report.frames.iter().find(|fr| fr.of_interest).expect("a frame of interest");
        assert_eq!((top.line, top.function.rsplit("::").next()), (Some(line), Some(info.name)), "{top:?}");
        assert!(top.file.as_deref().is_some_and(|p| p.ends_with("/elves/trials/tasks.rs")), "{top:?}");
        // No frame of mycelium's own is of interest.
        for fr in f.report.frames.iter().filter(|fr| fr.of_interest) {
            assert!(fr.file.as_deref().is_some_and(|p| p.contains("/elves/")), "{}: {fr:?}", info.name);
        }
        let (text, json) = marked(&url, f.id);
        assert!(
            text.starts_with(">>") && text.contains(&format!(" {line} |")) && text.contains(needle),
            "{}: {text}",
            info.name
        );
        assert_eq!(json, Value::from(line), "{}", info.name);
    }
}

/// Tracebacks that a debug and a release build of elf-trials recorded
/// (`mycelium --json failure <id>`, its `report.frames`), built in two
/// directories, for `pick(7)` (a panic) and `read_number` of a missing file
/// (an error returned with `?`). The release profile's
/// `debug = "line-tables-only"` names inlined frames without their paths
/// (`trace`, `{closure#0}`; the elf restores the task's own). Re-capture
/// them when those two tasks' bodies change.
const PROFILES: [(&str, FailureKind, &str, &str); 2] = [
    (
        "pick",
        FailureKind::Panic,
        include_str!("../fixtures/frames/debug-pick.json"),
        include_str!("../fixtures/frames/release-pick.json"),
    ),
    (
        "read_number",
        FailureKind::Error,
        include_str!("../fixtures/frames/debug-read_number.json"),
        include_str!("../fixtures/frames/release-read_number.json"),
    ),
];

#[test]
fn one_failure_has_one_signature_in_debug_and_release_builds() {
    let report = |kind: FailureKind, frames: &str| FailureReport {
        frames: serde_json::from_str(frames).expect("fixture frames"),
        ..FailureReport::new(kind, "the message does not count")
    };
    // This test's own elf (another build, another directory) fails the same way.
    let (url, dir) = fresh_sqlite();
    let elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("profiles");
    o.call(trials::pick::call(7));
    o.call(trials::read_number::call(dir.path().join("missing").display().to_string()));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.finished()).expect("the run ends");
    drop(elf);
    for (index, (task, kind, debug, release)) in PROFILES.into_iter().enumerate() {
        let (debug, release) = (report(kind, debug), report(kind, release));
        // The profiles name the other frames differently (`trace` for
        // `backtrace::backtrace::libunwind::trace`)...
        let names = |r: &FailureReport, of_interest: bool| {
            r.frames.iter().filter(|f| f.of_interest == of_interest).map(|f| f.function.clone()).collect::<Vec<_>>()
        };
        assert_ne!(names(&debug, false), names(&release, false), "{task}: the profiles name the frames alike");
        // ...but the frames of interest alike: the task's own, never mycelium's.
        assert_eq!(names(&debug, true), names(&release, true), "{task}");
        for f in debug.frames.iter().chain(&release.frames).filter(|f| f.of_interest) {
            assert!(f.file.as_deref().is_some_and(|p| p.ends_with("/elves/trials/tasks.rs")), "{task}: {f:?}");
        }
        let signature = release.signature("trials", task);
        assert_eq!(debug.signature("trials", task), signature, "{task}");
        assert_eq!(failures_of(&myc, run.jobs()[index])[0].signature, signature, "{task}: this build's elf");
    }

    // `mycelium failures --group`: one group per failure, whatever built the elf.
    let (url, _dir) = fresh_sqlite();
    let store = mycelium::Store::open(&url).expect("open");
    let mut o = mycelium::Mycelium::new(store.clone()).orchestration("profiles");
    for _ in 0..2 {
        o.call(trials::pick::call(7));
        o.call(trials::read_number::call("/missing".to_owned()));
    }
    o.submit_blocking().expect("submit");
    let instance = InstanceId::random();
    let names = vec!["pick".to_owned(), "read_number".to_owned()];
    let request = ClaimRequest { instance: &instance, elf: "trials", tasks: &names, max: 4, ttl_ms: 60_000 };
    for claimed in store.claim(&request).expect("claim") {
        let (_, kind, debug, release) = PROFILES[usize::from(claimed.task != "pick")];
        // Jobs 1 and 2 fail as the debug elf recorded, 3 and 4 as the release one.
        let frames = if claimed.lease.job.0 <= 2 { debug } else { release };
        store.fail(&claimed.lease, &report(kind, frames)).expect("fail");
    }
    let out = Command::new(MYCELIUM).args(["--store", &url, "--json", "failures", "--group"]).output().expect("run");
    let groups: Value = serde_json::from_slice(&out.stdout).expect("json");
    let counts: Vec<(Value, Value)> =
        groups.as_array().expect("groups").iter().map(|g| (g["task"].clone(), g["count"].clone())).collect();
    assert_eq!(counts.len(), 2, "{groups:#}");
    assert!(counts.iter().all(|(_, n)| *n == 2), "{groups:#}");
}

#[test]
fn an_upstream_failure_names_its_cause_instead_of_a_replay() {
    let (url, _dir) = fresh_sqlite();
    let _elf = Proc::elf("trials", &url, &[]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("fruit");
    let fruit = o.call(trials::pick::call(7));
    let greeting = o.call(trials::greet::call(&fruit));
    let run = o.submit_blocking().expect("submit");
    within(Duration::from_secs(30), run.wait(&greeting)).expect_err("upstream failed");
    let cause = &failures_of(&myc, run.jobs()[0])[0];
    let upstream = &failures_of(&myc, run.jobs()[1])[0];
    assert_eq!(upstream.report.kind, FailureKind::UpstreamFailed);
    let out =
        Command::new(MYCELIUM).args(["--store", &url, "failure", &upstream.id.to_string()]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let expected = format!(
        "cause: upstream job {} (trials/pick) failed: failure {} (panic): index out of bounds",
        run.jobs()[0],
        cause.id
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains(&format!("see it with: mycelium failure {}", cause.id)), "{text}");
    // greet has a recorded version, but this job never ran one: no note.
    assert!(!text.contains("newer version") && !text.contains("reproduce:"), "{text}");
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
    let replay =
        Command::new(elf_exe("trials")).args(["--store", &url, "replay", &job.to_string()]).output().expect("replay");
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(!replay.status.success() && text.contains("cannot read"), "{text}");
    std::fs::write(&path, "42\n").expect("fix the input");
    let replay =
        Command::new(elf_exe("trials")).args(["--store", &url, "replay", &job.to_string()]).output().expect("replay");
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
