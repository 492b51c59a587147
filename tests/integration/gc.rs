//! `mycelium gc` on a real SQLite store: finished runs go with their jobs,
//! results and events, the file gives the space back, open runs stay, and
//! bad input changes nothing.

use std::process::{Command, Output};

use mycelium::model::{Completion, InstanceId, JobSpec, RunSpec, Submission};
use mycelium::storage::{ClaimRequest, Store};
use serde_json::{Value, json};

use crate::util::{MYCELIUM, fresh_sqlite};

fn myc(url: &str, args: &[&str]) -> Output {
    Command::new(MYCELIUM).arg("--store").arg(url).args(args).env_remove("MYCELIUM_URL").output().expect("run mycelium")
}

fn text(o: &Output) -> String {
    format!("status {}\n{}{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Submits `runs` runs of `jobs` jobs with 2 KB arguments each and runs them
/// all to success.
fn finished_runs(s: &Store, runs: usize, jobs: usize) {
    let pad = "x".repeat(2048);
    let me = InstanceId::random();
    let tasks = vec!["t".to_owned()];
    for r in 0..runs {
        let specs: Vec<JobSpec> = (0..jobs).map(|i| JobSpec::new("gc", "t", json!([r, i, pad]))).collect();
        s.submit(&Submission { run: RunSpec::named("gc"), jobs: specs }).expect("submit");
        loop {
            let claimed = s
                .claim(&ClaimRequest { instance: &me, elf: "gc", tasks: &tasks, max: 512, ttl_ms: 60_000 })
                .expect("claim");
            if claimed.is_empty() {
                break;
            }
            let done: Vec<Completion> = claimed
                .iter()
                .map(|c| Completion { lease: c.lease, ran_sha: None, value: json!(pad.clone()), waited_ms: 0 })
                .collect();
            s.complete(&done).expect("complete");
        }
    }
    s.checkpoint().expect("checkpoint");
}

#[test]
fn gc_deletes_finished_runs_and_the_file_shrinks() {
    let (url, dir) = fresh_sqlite();
    let path = dir.path().join("mycelium.db");
    let s = Store::open(&url).expect("open");
    finished_runs(&s, 20, 200);
    let open = s
        .submit(&Submission { run: RunSpec::named("open"), jobs: vec![JobSpec::new("gc", "t", json!([0]))] })
        .expect("submit");
    let size = || std::fs::metadata(&path).expect("size").len();
    let before = size();
    assert!(before > 8 << 20, "the store holds the runs ({before} bytes)");

    // Bad input names itself and changes nothing.
    for bad in [vec!["gc", "--older-than", "7x"], vec!["gc", "--older-than", "-1d"], vec!["gc"]] {
        let o = myc(&url, &bad);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("--older-than"), "the error names the flag: {}", text(&o));
    }
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 21);

    // Too recent: nothing goes. A dry run says what would.
    let o = myc(&url, &["gc", "--older-than", "1d"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("deleted 0 run(s)"), "{}", text(&o));
    let o = myc(&url, &["--json", "gc", "--older-than", "0s", "--dry-run"]);
    let dry: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(dry["deleted"]["runs"], 20, "{dry}");
    assert_eq!(dry["deleted"]["jobs"], 4000, "{dry}");
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 21, "a dry run deletes nothing");

    let o = myc(&url, &["--json", "gc", "--older-than", "0s"]);
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(got["deleted"]["runs"], 20, "{got}");
    assert_eq!(got["deleted"]["jobs"], 4000, "{got}");
    assert_eq!(got["deleted"]["results"], 4000, "{got}");
    assert_eq!(got["reclaimed"]["reclaimed"], "bytes", "{got}");
    let freed = got["reclaimed"]["bytes"].as_u64().expect("bytes");
    let after = size();
    assert!(after < before / 4, "the file shrank from {before} to {after} bytes ({freed} freed)");
    // The open run is whole.
    let left = s.runs(&Default::default()).expect("runs");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, open.run);
    assert!(s.job(open.jobs[0]).expect("job").is_some());

    // A full vacuum works too, and the store still serves.
    let o = myc(&url, &["gc", "--older-than", "0s", "--vacuum"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 1);
}

/// `mycelium gc` deleting finished runs in many small writes while two elf
/// processes work another run: the live run loses nothing (every job
/// succeeds on its first attempt, every result is there) and keeps moving
/// while gc runs; the finished runs are gone, jobs, results and events.
#[test]
fn gc_runs_beside_elves_working_another_run() {
    use crate::elves::bench;
    use crate::util::{Proc, within};
    use mycelium::model::{JobState, RunState};
    use mycelium::storage::{EventQuery, JobQuery};
    use std::time::Duration;

    const LIVE: u64 = 3000;
    let (url, _dir) = fresh_sqlite();
    let s = Store::open(&url).expect("open");
    finished_runs(&s, 10, 300);
    let old: Vec<_> = s.runs(&Default::default()).expect("runs").into_iter().map(|r| r.id).collect();
    assert_eq!(old.len(), 10);

    let _e1 = Proc::elf("bench", &url, &["--slots", "16"]);
    let _e2 = Proc::elf("bench", &url, &["--slots", "16"]);
    let myc = mycelium::connect(&url).expect("connect");
    let mut o = myc.orchestration("live");
    let _outs: Vec<_> = (0..LIVE).map(|i| o.call(bench::nap::call(20, i))).collect();
    let run = o.submit_blocking().expect("submit");
    // 3,000 naps of 20 ms on 32 slots: about two seconds of work.
    let done = || {
        let p = run.progress().expect("progress");
        p.total - p.open
    };
    let waited = std::time::Instant::now();
    while done() == 0 {
        assert!(waited.elapsed() < Duration::from_secs(60), "the elves never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = done();
    let o = myc_gc(&url);
    let after = done();
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(got["deleted"]["runs"], 10, "{got}");
    assert_eq!(got["deleted"]["jobs"], 3000, "{got}");
    assert!(got["writes"].as_u64().expect("writes") >= 150, "one write per 20 jobs at least: {got}");
    assert!(before < LIVE, "the live run had not finished when gc began");
    assert!(after > before, "the elves made progress while gc ran ({before} → {after} of {LIVE})");
    eprintln!("gc beside elves: {got}; the live run went from {before} to {after} jobs meanwhile");

    within(Duration::from_secs(120), run.finished()).expect("the live run finishes");
    let p = run.progress().expect("progress");
    assert_eq!((p.state, p.failed), (RunState::Succeeded, 0), "{p:?}");
    let values = run.values().expect("values");
    assert_eq!(values.len() as u64, LIVE, "one result per job");
    let jobs = s.jobs(&JobQuery { run: Some(run.id()), ..Default::default() }).expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded && j.attempt == 1), "gc cost a job an attempt");
    for id in old {
        assert!(s.run(id).expect("run").is_none(), "run {id} is deleted");
        let events = s.events(&EventQuery { run: Some(id), limit: 10, ..Default::default() }).expect("events");
        assert!(events.is_empty(), "run {id}'s events are deleted");
    }
}

/// `mycelium --json gc --finished-before 0s`, 20 jobs per write.
fn myc_gc(url: &str) -> Output {
    myc(url, &["--json", "gc", "--finished-before", "0s", "--jobs-per-write", "20"])
}
