//! Scheduling in the coordinator, with real processes on a SQLite store:
//! self-repair of a count corrupted on purpose, the critical path of a real
//! run, and a standby that rebuilds the graphs when the leader is SIGKILLed.

use std::process::Command;
use std::time::{Duration, Instant};

use mycelium::model::{EventKind, JobId, JobSpec, JobState, RunId, RunSpec, RunState, Submission};
use mycelium::storage::{EventQuery, Store};
use serde_json::{Value, json};

use crate::util::{MYCELIUM, Proc, fresh_sqlite};

/// Runs `mycelium --store url args...`; its stdout, asserting success.
fn ok(url: &str, args: &[&str]) -> String {
    let out = Command::new(MYCELIUM)
        .arg("--store")
        .arg(url)
        .args(args)
        .env_remove("MYCELIUM_URL")
        .output()
        .expect("run mycelium");
    assert!(
        out.status.success(),
        "mycelium {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// W3 of size `n`: source → n maps → reduce (ids in that order).
fn fan(store: &Store, n: u64) -> (RunId, Vec<JobId>) {
    let job = |task: &str, args: Value| JobSpec::new("bench", task, args);
    let mut jobs = vec![job("source", json!([]))];
    jobs.extend((0..n).map(|i| job("map", json!([{ "$output": "0" }, i]))));
    let all: Vec<Value> = (1..=n).map(|k| json!({ "$output": k.to_string() })).collect();
    jobs.push(job("reduce", json!([all])));
    let sub = store.submit(&Submission { run: RunSpec::named("fan"), jobs }).expect("submit");
    (sub.run, sub.jobs)
}

/// Waits until `f` holds, up to `limit`.
fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A consumer's count of unmet producers, corrupted on purpose with SQL,
/// leaves it pending after its producers succeed; the coordinator's audit
/// repairs it (one `job_repaired` event, shown by `mycelium history`) and
/// the run finishes.
#[test]
fn a_corrupted_count_is_repaired_and_the_run_finishes() {
    let (url, dir) = fresh_sqlite();
    let store = Store::open(&url).expect("open");
    let (run, ids) = fan(&store, 3);
    let reduce = *ids.last().expect("jobs");
    // Three maps feed it; it is told seven do.
    let db = rusqlite::Connection::open(dir.path().join("mycelium.db")).expect("open the database");
    let n = db.execute("UPDATE jobs SET unmet = 7 WHERE id = ?1", [reduce.0]).expect("corrupt");
    assert_eq!(n, 1);
    drop(db);
    // No coordinator yet: the maps run, the reduce stays pending for good.
    let _elf = Proc::elf("bench", &url, &[]);
    until(Duration::from_secs(30), "the maps to succeed", || {
        let run = store.run(run).expect("run").expect("exists");
        run.open == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    let job = store.job(reduce).expect("job").expect("exists");
    assert_eq!((job.state, job.unmet), (JobState::Pending, 4), "the corruption holds without a coordinator");
    let mut coordinator =
        Proc::start(MYCELIUM, &url, &["coordinator", "--tick-ms", "100", "--audit-ms", "200"]).ready();
    let line = coordinator.wait_for("repaired run", Duration::from_secs(30));
    assert!(line.contains("1 stuck job(s) made ready"), "{line}");
    until(Duration::from_secs(30), "the run to finish", || {
        store.run(run).expect("run").expect("exists").state.is_final()
    });
    assert_eq!(store.run(run).expect("run").expect("exists").state, RunState::Succeeded);
    assert_eq!(store.result(reduce).expect("result"), Some(json!(7 * 3 + 3)));
    let events = store.events(&EventQuery { job: Some(reduce), limit: 100, ..EventQuery::default() }).expect("events");
    let repaired: Vec<_> = events.iter().filter(|e| e.kind == EventKind::JobRepaired).collect();
    assert_eq!(repaired.len(), 1, "{events:?}");
    assert_eq!(
        (repaired[0].data["problem"].as_str(), repaired[0].data["unmet_was"].as_u64()),
        (Some("stuck"), Some(4))
    );
    let history = ok(&url, &["history", &run.to_string()]);
    assert!(history.contains("job_repaired"), "{history}");
}
