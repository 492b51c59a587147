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

/// `mycelium graph <run> --critical-path` on a real run: the path from the
/// source through a map to the reduce, each job's measured duration and
/// rank in JSON, the path bold red in dot; on a run not started yet, the
/// tasks' medians stand in for its jobs' durations.
#[test]
fn the_critical_path_of_a_real_run() {
    let (url, _dir) = fresh_sqlite();
    let store = Store::open(&url).expect("open");
    let (run, ids) = fan(&store, 4);
    let elf = Proc::elf("bench", &url, &[]);
    until(Duration::from_secs(30), "the run to finish", || {
        store.run(run).expect("run").expect("exists").state.is_final()
    });
    drop(elf);
    let doc: Value =
        serde_json::from_str(&ok(&url, &["graph", &run.to_string(), "--critical-path", "--json"])).expect("JSON");
    let path: Vec<i64> =
        doc["critical_path"].as_array().expect("critical_path").iter().map(|v| v.as_i64().expect("id")).collect();
    assert_eq!(path.len(), 3, "{doc}");
    assert_eq!((path[0], path[2]), (ids[0].0, ids[5].0));
    assert!(ids[1..5].iter().any(|m| m.0 == path[1]), "the middle is a map: {path:?}");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 6);
    let node = |id: i64| nodes.iter().find(|n| n["id"] == id).expect("node");
    for n in nodes {
        assert_eq!(n["duration"], "measured", "{n}");
        assert!(n["duration_ms"].is_u64() && n["rank_ms"].is_u64(), "{n}");
    }
    let ms = |n: &Value, k: &str| n[k].as_u64().expect("ms");
    // Each job's rank is its duration plus its best consumer's rank.
    let (source, mid, reduce) = (node(path[0]), node(path[1]), node(path[2]));
    assert_eq!(ms(reduce, "rank_ms"), ms(reduce, "duration_ms"));
    assert_eq!(ms(mid, "rank_ms"), ms(mid, "duration_ms") + ms(reduce, "rank_ms"));
    assert_eq!(ms(source, "rank_ms"), ms(source, "duration_ms") + ms(mid, "rank_ms"));
    assert_eq!(doc["critical_path_ms"], source["rank_ms"]);
    for m in &ids[1..5] {
        assert!(ms(node(m.0), "rank_ms") <= ms(mid, "rank_ms"));
    }
    let dot = ok(&url, &["graph", &run.to_string(), "--critical-path"]);
    let red_edges = dot.lines().filter(|l| l.contains("->") && l.contains("color=red")).count();
    let red_nodes = dot.lines().filter(|l| !l.contains("->") && l.contains("color=red")).count();
    assert_eq!((red_edges, red_nodes), (2, 3), "{dot}");
    assert!(dot.contains(&format!("j{} -> j{} [label=", path[1], path[2])), "{dot}");
    assert!(dot.contains("// critical path ("), "{dot}");
    // Without the flag, the graph is as before: nothing red.
    assert!(!ok(&url, &["graph", &run.to_string()]).contains("color=red"));
    // A run no elf has started: its durations are the tasks' medians.
    let (later, _) = fan(&store, 2);
    let doc: Value =
        serde_json::from_str(&ok(&url, &["graph", &later.to_string(), "--critical-path", "--json"])).expect("JSON");
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["duration"] == "median"), "{doc}");
    assert_eq!(doc["critical_path"].as_array().map(Vec::len), Some(3));
}

/// The duration the coordinator assumes for a task never measured.
const DEFAULT_MS: u64 = mycelium::coordinator::DEFAULT_DURATION_MS;

/// Two coordinators: the leader builds the graphs and ranks the run; it is
/// SIGKILLed mid-run; the standby takes the lead, rebuilds the graphs from
/// the store (the whole run, done jobs included), and the run completes.
#[test]
fn a_standby_rebuilds_the_graphs_when_the_leader_is_sigkilled() {
    let (url, _dir) = fresh_sqlite();
    let store = Store::open(&url).expect("open");
    let mut leader = Proc::coordinator(&url);
    leader.wait_for("graphs built: 0 run(s)", Duration::from_secs(30));
    let mut standby = Proc::coordinator(&url);
    standby.wait_for("standing by", Duration::from_secs(30));
    // A chain of 20 ms sleeps, long enough to be going when the leader dies.
    const N: u64 = 150;
    let jobs: Vec<JobSpec> = (0..N)
        .map(|k| {
            let arg = if k == 0 { json!(20) } else { json!({ "$output": (k - 1).to_string() }) };
            JobSpec::new("sender", "slow", json!([arg]))
        })
        .collect();
    let sub = store.submit(&Submission { run: RunSpec::named("chain"), jobs }).expect("submit");
    let line = leader.wait_for(&format!("ranked run {}", sub.run), Duration::from_secs(30));
    assert!(line.contains(&format!("critical path {} ms over {N} job(s)", N * DEFAULT_MS)), "{line}");
    let _elf = Proc::elf("sender", &url, &[]);
    until(Duration::from_secs(60), "the chain to be under way", || {
        store.run(sub.run).expect("run").expect("exists").open < N - 20
    });
    leader.kill9();
    let open = store.run(sub.run).expect("run").expect("exists").open;
    assert!(open > 0, "the run ended before the leader was killed");
    let built = standby.wait_for("graphs built", Duration::from_secs(30));
    assert!(built.contains(&format!("1 run(s), {N} job(s)")), "{built}");
    standby.wait_for(&format!("ranked run {}", sub.run), Duration::from_secs(30));
    until(Duration::from_secs(120), "the run to finish", || {
        store.run(sub.run).expect("run").expect("exists").state.is_final()
    });
    assert_eq!(store.run(sub.run).expect("run").expect("exists").state, RunState::Succeeded);
    let last = *sub.jobs.last().expect("jobs");
    assert_eq!(store.result(last).expect("result"), Some(json!(20)));
}
