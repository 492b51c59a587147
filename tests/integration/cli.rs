//! The `mycelium` command against a store populated through the `Store`
//! trait: every listing, the failure story, and every bad input.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mycelium::model::{
    Build, Completion, ElfInstance, ElfState, FailureKind, FailureReport, Frame, InstanceId, JobId, JobSpec,
    RetryPolicy, RunId, RunSpec, Signature, Submission, TaskSha, TaskVersion, now_ms,
};
use mycelium::storage::{ClaimRequest, Store};
use serde_json::{Value, json};

use crate::util::{MYCELIUM, fresh_sqlite};

/// The first version of `parser/parse`, recorded from line 10 of its file.
const PARSE_V1: &str = "/// Parses rows.\n#[task]\nfn parse(text: String) -> Vec<u64> {\n    let rows = text.lines().map(|l| l.parse().unwrap()).collect();\n    rows\n}";
/// The fixed version.
const PARSE_V2: &str = "/// Parses rows.\n#[task]\nfn parse(text: String) -> Vec<u64> {\n    let rows = text.lines().filter_map(|l| l.parse().ok()).collect();\n    rows\n}";
const DOWNLOAD: &str = "#[task]\nfn download(url: String) -> String {\n    fetch(url)\n}";

/// Runs `mycelium --store url args...`.
fn myc(url: &str, args: &[&str]) -> Output {
    Command::new(MYCELIUM).arg("--store").arg(url).args(args).env_remove("MYCELIUM_URL").output().expect("run mycelium")
}

/// What a command did, for assertion messages.
fn show(args: &[&str], out: &Output) -> String {
    format!(
        "mycelium {}\nstatus: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a command that must succeed; returns its stdout.
fn ok(url: &str, args: &[&str]) -> String {
    let out = myc(url, args);
    assert!(out.status.success(), "expected success\n{}", show(args, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must exit with `code`; returns its stderr, asserting
/// it holds every one of `needles`.
fn fails(url: &str, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = myc(url, args);
    assert_eq!(out.status.code(), Some(code), "wrong exit code\n{}", show(args, &out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}\n{}", show(args, &out));
    }
    err
}

/// Asserts `text` contains each of `needles`.
fn has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in\n{text}");
    }
}

fn version(elf: &str, name: &str, source: &str, file: &str, line: u32) -> TaskVersion {
    TaskVersion {
        sha: TaskSha::of_source(source),
        elf: elf.into(),
        name: name.into(),
        source: source.into(),
        file: file.into(),
        line,
        signature: Signature::default(),
        doc: String::new(),
        first_seen: 0,
    }
}

fn frame(function: &str, file: &str, line: u32, of_interest: bool) -> Frame {
    Frame { function: function.into(), file: Some(file.into()), line: Some(line), column: Some(9), of_interest }
}

/// A populated store: run 1 (`nightly`) whose parse failed twice so its sum
/// could not run, run 2 (`pending`) still running.
struct Fixture {
    url: String,
    _dir: tempfile::TempDir,
    store: Store,
    run: RunId,
    other: RunId,
    parse: JobId,
    sum: JobId,
}

fn fixture() -> Fixture {
    let (url, dir) = fresh_sqlite();
    let store = Store::open(&url).expect("open");
    let v1 = version("parser", "parse", PARSE_V1, "elves/src/parser.rs", 10);
    let dl = version("fetcher", "download", DOWNLOAD, "elves/src/fetcher.rs", 3);
    store.record_tasks(&[v1.clone(), dl.clone()]).expect("record");
    let instance = InstanceId::random();
    store
        .register_elf(&ElfInstance {
            instance: instance.clone(),
            elf: "parser".into(),
            host: "testhost".into(),
            pid: 4242,
            build: Build::default(),
            tasks: vec![v1.sha.clone()],
            slots: 4,
            started_at: now_ms(),
            heartbeat_at: now_ms(),
            lease_until: now_ms() + 60_000,
            state: ElfState::Running,
            label: None,
            process_start: None,
        })
        .expect("register");
    let mut parse = JobSpec::new("parser", "parse", json!([{ "$output": "raw" }])).with_key("rows");
    parse.retry = RetryPolicy { max_attempts: 2, ..RetryPolicy::default() };
    let submission = Submission {
        run: RunSpec::named("nightly"),
        jobs: vec![
            JobSpec::new("fetcher", "download", json!(["http://example.invalid/data"])).with_key("raw"),
            parse,
            JobSpec::new("stats", "sum", json!([{ "$output": "rows", "path": "/0" }])).with_key("total"),
        ],
    };
    let done = store.submit(&submission).expect("submit");
    let tasks = |t: &str| vec![t.to_owned()];
    let claim = |elf: &str, task: &str| {
        let names = tasks(task);
        let req = ClaimRequest { instance: &instance, elf, tasks: &names, max: 1, ttl_ms: 60_000 };
        let mut claimed = store.claim(&req).expect("claim");
        assert_eq!(claimed.len(), 1, "one {elf}/{task} job to claim");
        claimed.remove(0)
    };
    let c = claim("fetcher", "download");
    let done_dl = Completion { lease: c.lease, ran_sha: Some(dl.sha.clone()), value: json!("1\n2\nx\n"), waited_ms: 0 };
    store.complete(&[done_dl]).expect("complete");
    for attempt in 1..=2 {
        let c = claim("parser", "parse");
        let report = FailureReport {
            kind: FailureKind::Panic,
            message: "called `Result::unwrap()` on an `Err` value: ParseIntError".into(),
            causes: vec!["invalid digit found in string".into(), "line 3 of the input".into()],
            frames: vec![
                frame("core::result::unwrap_failed", "/rustc/abc/library/core/src/result.rs", 1700, false),
                frame("parser::helper", "/home/u/proj/elves/src/util.rs", 12, true),
                frame("parser::parse::{{closure}}", "/home/u/proj/elves/src/parser.rs", 13, true),
                frame("tokio::runtime::task::harness::poll", "/cargo/tokio/src/harness.rs", 40, false),
            ],
            ran_sha: Some(v1.sha.clone()),
            inputs: json!(["1\n2\nx\n"]),
            inputs_truncated: attempt == 2,
            inputs_size: 4096,
            retryable: true,
            mismatch: None,
        };
        store.fail(&c.lease, &report).expect("fail");
    }
    let other = store
        .submit(&Submission {
            run: RunSpec::named("pending"),
            jobs: vec![
                JobSpec::new("fetcher", "download", json!(["b"])),
                JobSpec::new("fetcher", "download", json!(["c"])),
            ],
        })
        .expect("submit");
    store.record_tasks(&[version("parser", "parse", PARSE_V2, "elves/src/parser.rs", 10)]).expect("record the fix");
    Fixture { url, _dir: dir, store, run: done.run, other: other.run, parse: done.jobs[1], sum: done.jobs[2] }
}

#[test]
fn listings_show_runs_jobs_elves_and_history() {
    let f = fixture();
    let runs = ok(&f.url, &["runs"]);
    has(&runs, &["ID", "NAME", "nightly", "failed", "pending", "running", "ago"]);
    let only_failed = ok(&f.url, &["runs", "--state", "failed"]);
    assert!(only_failed.contains("nightly") && !only_failed.contains("pending"), "{only_failed}");
    let json: Value = serde_json::from_str(&ok(&f.url, &["--json", "runs", "--limit", "1"])).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");

    let run = ok(&f.url, &["run", &f.run.to_string()]);
    has(&run, &["run 1 \"nightly\": failed", "1 succeeded", "1 failed", "1 upstream_failed", "rows", "parser/parse"]);
    has(&run, &["2/2", "->", "arg 0", "mycelium failures --run 1"]);
    let json: Value = serde_json::from_str(&ok(&f.url, &["run", "r1", "--json"])).expect("json");
    assert_eq!(json["jobs"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["counts"]["upstream_failed"], 1);

    let elves = ok(&f.url, &["elves"]);
    has(&elves, &["ELF", "INSTANCE", "parser", "testhost", "4242", "running", "4"]);

    let history = ok(&f.url, &["history", "r1"]);
    has(&history, &["run_created", "job_state", "claimed", "failed", "upstream_failed"]);
    let job_history = ok(&f.url, &["history", &format!("j{}", f.parse)]);
    has(&job_history, &[&format!("job {} (parser/parse, run 1)", f.parse), "ready", "claimed", "failed"]);
    assert!(!job_history.contains("upstream_failed"), "{job_history}");
    let events: Value = serde_json::from_str(&ok(&f.url, &["--json", "history", "1"])).expect("json");
    assert!(events.as_array().is_some_and(|e| e.len() >= 6), "{events}");
}

#[test]
fn graph_prints_dot_and_json() {
    let f = fixture();
    let dot = ok(&f.url, &["graph", "1"]);
    has(&dot, &["digraph", "j1 -> j2", "label=\"arg 0\"", "parser/parse\\nfailed", "fillcolor=\"salmon\""]);
    let json: Value = serde_json::from_str(&ok(&f.url, &["graph", "1", "--format", "json"])).expect("json");
    assert_eq!(json["nodes"].as_array().map(Vec::len), Some(3), "{json}");
    let edges = json["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 2, "{json}");
    assert!(edges.iter().any(|e| e["from"] == 2 && e["to"] == 3 && e["paths"] == json!(["/0"])), "{json}");
    fails(&f.url, &["graph", "1", "--format", "svg"], 1, &["`svg` is not a graph format"]);
    // One edge per producer-consumer pair, however many places it feeds.
    let m = || json!({ "$output": "m" });
    let run = f
        .store
        .submit(&Submission {
            run: RunSpec::named("pairs"),
            jobs: vec![
                JobSpec::new("fetcher", "download", json!(["x"])).with_key("m"),
                JobSpec::new("parser", "parse", json!([[m(), m(), m()], [m()]])),
            ],
        })
        .expect("submit")
        .run;
    let json: Value = serde_json::from_str(&ok(&f.url, &["graph", &run.to_string(), "--json"])).expect("json");
    let edges = json["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 1, "{json}");
    assert_eq!(edges[0]["paths"], json!(["/0/0", "/0/1", "/0/2", "/1/0"]), "{json}");
    let dot = ok(&f.url, &["graph", &run.to_string()]);
    assert_eq!(dot.matches(" -> ").count(), 1, "{dot}");
    has(&dot, &["arg 0[0], arg 0[1], arg 0[2], arg 1[0]"]);
    let run_json: Value = serde_json::from_str(&ok(&f.url, &["--json", "run", &run.to_string()])).expect("json");
    assert_eq!(run_json["edges"].as_array().map(Vec::len), Some(1), "{run_json}");
}

#[test]
fn source_shows_lists_and_diffs_versions() {
    let f = fixture();
    let (v1, v2) = (TaskSha::of_source(PARSE_V1), TaskSha::of_source(PARSE_V2));
    let latest = ok(&f.url, &["source", "parser/parse"]);
    has(&latest, &["parser/parse", v2.as_str(), "elves/src/parser.rs:10", "first seen", "13 |", "filter_map"]);
    let old = ok(&f.url, &["source", &format!("parser/parse@{}", &v1.as_str()[..6])]);
    has(&old, &[v1.as_str(), "   13 |     let rows = text.lines().map(|l| l.parse().unwrap())"]);
    let list = ok(&f.url, &["source", "parser/parse", "--list"]);
    has(&list, &[v1.short(), v2.short(), "elves/src/parser.rs:10", "latest"]);
    let diff = ok(&f.url, &["source", "parser/parse", "--diff", &v1.as_str()[..8], &v2.as_str()[..8]]);
    has(&diff, &["--- parser/parse@", "+++ parser/parse@", "@@ -10,6 +10,6 @@", "-    let rows = text.lines().map("]);
    has(&diff, &["+    let rows = text.lines().filter_map(", "     rows"]);
    fails(&f.url, &["source", "parser/nope"], 3, &["parser/nope", "mycelium elves"]);
    fails(&f.url, &["source", "parser/parse@ffffff"], 3, &["`ffffff`", "mycelium source parser/parse --list"]);
    fails(&f.url, &["source", "parse"], 1, &["`parse` is not a task", "elf/task"]);
}

#[test]
fn failures_list_filter_and_group() {
    let f = fixture();
    let list = ok(&f.url, &["failures"]);
    has(&list, &["ID", "JOB", "parser/parse", "panic", "upstream_failed", "stats/sum", "called `Result::unwrap()`"]);
    let panics = ok(&f.url, &["failures", "--kind", "panic", "--run", "1", "--since", "1h"]);
    assert!(!panics.contains("upstream_failed"), "{panics}");
    assert_eq!(panics.lines().filter(|l| l.contains("panic")).count(), 2, "{panics}");
    let by_task = ok(&f.url, &["--json", "failures", "--task", "stats/sum"]);
    let by_task: Value = serde_json::from_str(&by_task).expect("json");
    assert_eq!(by_task.as_array().map(Vec::len), Some(1), "{by_task}");
    assert_eq!(by_task[0]["job"], f.sum.0);
    let grouped = ok(&f.url, &["failures", "--group"]);
    has(&grouped, &["COUNT", "SIGNATURE", "2      parser/parse  panic"]);
    let groups: Value = serde_json::from_str(&ok(&f.url, &["failures", "--group", "--json"])).expect("json");
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(ok(&f.url, &["failures", "--elf", "fetcher"]).trim(), "no failures");
    fails(&f.url, &["failures", "--kind", "oops"], 1, &["`oops` is not a failure kind", "panic"]);
    fails(&f.url, &["failures", "--since", "yesterday"], 1, &["`yesterday` is not a duration"]);
    fails(&f.url, &["failures", "--run", "99"], 3, &["run 99 does not exist", "mycelium runs"]);
}

#[test]
fn failure_tells_the_whole_story() {
    let f = fixture();
    let failures = f.store.failures(&Default::default()).expect("failures");
    let first = failures.iter().find(|x| x.job == f.parse && x.attempt == 1).expect("first attempt");
    let second = failures.iter().find(|x| x.job == f.parse && x.attempt == 2).expect("second attempt");
    let story = ok(&f.url, &["failure", &second.id.to_string()]);
    has(&story, &["panic in parser/parse", &format!("job        {} (run 1), attempt 2/2", f.parse), "testhost"]);
    has(&story, &["caused by: invalid digit found in string", "caused by: line 3 of the input"]);
    has(&story, &["* #1   parser::helper  at /home/u/proj/elves/src/util.rs:12", "parser::parse::{{closure}}"]);
    has(&story, &["... 1 frame of std", &format!("@ {}", TaskSha::of_source(PARSE_V1).short())]);
    let marked: Vec<_> = story.lines().filter(|l| l.starts_with(">>")).collect();
    assert_eq!(marked, vec![">> 13 |     let rows = text.lines().map(|l| l.parse().unwrap()).collect();"], "{story}");
    has(&story, &["inputs:", "\"1\\n2\\nx\\n\"", "(truncated: the full inputs were 4096 bytes)"]);
    has(&story, &[&format!("attempts of job {}", f.parse), &format!("->  {}", second.id), &first.id.to_string()]);
    has(&story, &["lineage of the inputs:", "fetcher/download  succeeded", TaskSha::of_source(DOWNLOAD).short()]);
    has(&story, &["note: parser/parse has a newer version", TaskSha::of_source(PARSE_V2).short(), "--diff"]);
    let last = story.lines().last().unwrap_or_default();
    assert!(last.starts_with("reproduce: <the parser elf's binary> --store sqlite://"), "{story}");
    assert!(last.ends_with(&format!("replay {}", f.parse)), "{story}");
    let json: Value = serde_json::from_str(&ok(&f.url, &["failure", &first.id.to_string(), "--json"])).expect("json");
    assert_eq!(json["failing_line"], 13);
    assert_eq!(json["attempts"].as_array().map(Vec::len), Some(2));
    let upstream = failures.iter().find(|x| x.job == f.sum).expect("upstream failure");
    let story = ok(&f.url, &["failure", &format!("f{}", upstream.id)]);
    has(&story, &["upstream_failed in stats/sum", "parser/parse", "failed"]);
    // It never ran: no replay, no version note; the failure upstream instead.
    let cause = format!("cause: upstream job {} (parser/parse) failed: failure {} (panic): called", f.parse, second.id);
    has(&story, &[&cause, &format!("see it with: mycelium failure {}", second.id)]);
    assert!(!story.contains("reproduce:") && !story.contains("newer version"), "{story}");
    let json: Value =
        serde_json::from_str(&ok(&f.url, &["failure", &upstream.id.to_string(), "--json"])).expect("json");
    assert_eq!((json["reproduce"].clone(), json["cause"]["id"].clone()), (Value::Null, json!(second.id.0)));
    fails(&f.url, &["failure", "999"], 3, &["failure 999 does not exist", "mycelium failures"]);
    fails(&f.url, &["failure", "x1"], 1, &["`x1` is not a failure id"]);
}

#[test]
fn cancel_follow_and_retry() {
    let f = fixture();
    let other = f.other.to_string();
    let mut child = Command::new(MYCELIUM)
        .args(["--store", &f.url, "run", &other, "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn follow");
    std::thread::sleep(Duration::from_millis(500));
    let cancelled = ok(&f.url, &["cancel", &other, "--reason", "test over"]);
    has(&cancelled, &[&format!("cancelled run {other}: 2 jobs cancelled")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("run --follow did not end after the run was cancelled");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let args = ["run", other.as_str(), "--follow"];
    assert_eq!(out.status.code(), Some(4), "{}", show(&args, &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    has(&stdout, &["run 2: 0/2 succeeded, 0 failed, 2 open", "run 2 cancelled"]);
    has(&String::from_utf8_lossy(&out.stderr), &["run 2 ended cancelled"]);
    let again = ok(&f.url, &["cancel", &other]);
    has(&again, &["already ended (cancelled)"]);
    let history = ok(&f.url, &["history", &other]);
    has(&history, &["cancelled", "test over"]);
    fails(&f.url, &["run", "1", "--follow"], 4, &["run 1 ended failed"]);
    let retried = ok(&f.url, &["retry", &format!("r{other}")]);
    has(&retried, &["re-queued 2 job(s) as new attempts", &format!("reopened run {other}")]);
    has(&ok(&f.url, &["history", &other]), &["run_reopened"]);
    has(&ok(&f.url, &["retry", &format!("r{other}")]), &["nothing to retry"]);
    fails(&f.url, &["retry", "j999"], 3, &["999"]);
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    let f = fixture();
    for args in
        [&["--json", "runs"][..], &["runs"], &["--json", "failures"], &["failure", "1", "--json"], &["graph", "1"]]
    {
        // The reader is gone before the command writes a byte: every write
        // meets EPIPE, as under `mycelium --json runs | head -0`.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(MYCELIUM)
            .arg("--store")
            .arg(&f.url)
            .args(args)
            .env_remove("MYCELIUM_URL")
            .stdout(writer)
            .output()
            .expect("run mycelium");
        assert!(out.status.success() && out.stderr.is_empty(), "{}", show(args, &out));
    }
    let help = ok(&f.url, &["--help"]);
    has(&help, &["retry", "Retries failed jobs"]);
    assert!(!help.contains("not available"), "{help}");
}

#[test]
fn bad_input_names_the_input_and_changes_nothing() {
    let f = fixture();
    fails(&f.url, &["run", "42"], 3, &["run 42 does not exist", "mycelium runs"]);
    fails(&f.url, &["run", "abc"], 1, &["`abc` is not a run id", "r12"]);
    fails(&f.url, &["history", "j999"], 3, &["job 999 does not exist"]);
    fails(&f.url, &["cancel", "77"], 3, &["run 77 does not exist"]);
    fails(&f.url, &["graph", "0"], 1, &["`0` is not a run id"]);
    fails(&f.url, &["runs", "--state", "sleepy"], 1, &["`sleepy` is not a run state"]);
    fails("sqlite:///no/such/dir/x.db", &["runs"], 1, &["error: ", "/no/such/dir/x.db"]);
    fails("ftp://x", &["runs"], 1, &["unknown scheme `ftp`"]);
    fails(&f.url, &["frobnicate"], 2, &[]);
    let help = ok(&f.url, &["--help"]);
    has(&help, &["Exit codes:", "3  not found", "4  a waited-on run"]);
    assert_eq!(f.store.run(f.other).expect("read").map(|r| r.state.as_str()), Some("running"));
}
