//! The ArangoDB backend beyond the conformance suite, against the strict
//! stand-in (`tests/arango/`):
//!
//! * every AQL text the backend can send passes the stand-in's checker, and
//!   no query text hides outside the list that test reads;
//! * the claim's query uses the ready-jobs index, and flows' timer scan the
//!   waiting-jobs index, with no sort step (EXPLAIN);
//! * C13: clients whose clocks are five minutes off neither steal live
//!   leases nor keep expired ones; leases are on the server's clock;
//! * C16: a write-write conflict is retried transparently; an answer lost
//!   after a commit is resolved by committing again; a claim whose every
//!   answer is lost is resolved by the reaper, with nothing lost or run
//!   twice; a multi-batch result inside a Stream Transaction returns every
//!   row; the client logs in again when its token expires; lock waits end
//!   on the server before the client's timeout;
//! * integers beyond 2^53 round-trip exactly; collection schemas are
//!   enforced; processes racing to create a fresh database all succeed; a
//!   store of the previous layout is upgraded in place, older and newer
//!   ones are refused.
//!
//! The same checks that make sense on a real server (EXPLAIN, C13) run there
//! too, `#[ignore]`d unless run with `--ignored` and `MYCELIUM_ARANGO_URL`.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use mycelium::Store;
use mycelium::model::{
    Completion, FailureKind, FailureReport, InstanceId, JobId, JobSpec, JobState, Lease, Outcome, RunSpec, RunState,
    Submission,
};
use mycelium::storage::{ClaimRequest, ErrorKind, EventQuery, FailureQuery, JobQuery};
use serde_json::{Value, json};

use crate::arango_standin::{Http, StandIn, check_aql};
use crate::conformance_arango::{PASSWORD, STAND_IN_OPTIONS, Scratch, real};
use crate::util::MYCELIUM;

/// The database every test here uses on its own stand-in.
const DB: &str = "backend";

/// A stand-in with the conformance options plus `extra`, and a logged-in
/// client.
fn stand_in(extra: &[&str]) -> (StandIn, Http) {
    let mut args: Vec<&str> = STAND_IN_OPTIONS.to_vec();
    args.extend_from_slice(extra);
    let server = StandIn::start(PASSWORD, &args).unwrap_or_else(|e| panic!("cannot start the stand-in: {e}"));
    let mut http = Http::new(server.url());
    http.keep_logged_in("root", PASSWORD);
    (server, http)
}

/// The store URL of database `db` on `server`, with extra `options`.
fn url(server: &StandIn, db: &str, options: &str) -> String {
    let sep = if options.is_empty() { "" } else { "&" };
    format!("{}/?database={db}{sep}{options}", server.credentials_url())
}

fn open(url: &str) -> Store {
    Store::open(url).unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
}

fn submit(s: &Store, jobs: Vec<JobSpec>) -> Vec<JobId> {
    s.submit(&Submission { run: RunSpec::named("backend"), jobs }).expect("submit").jobs
}

fn job(args: Value) -> JobSpec {
    JobSpec::new("e", "t", args)
}

fn claim(
    s: &Store,
    me: &InstanceId,
    max: u32,
    ttl_ms: i64,
) -> mycelium::storage::Result<Vec<mycelium::model::Claimed>> {
    let tasks = vec!["t".to_owned()];
    s.claim(&ClaimRequest { instance: me, elf: "e", tasks: &tasks, max, ttl_ms })
}

/// The stand-in's counters.
fn stats(http: &Http) -> Value {
    let (status, body) = http.call("GET", "/_admin/standin/stats", None);
    assert_eq!(status, 200, "{body}");
    body
}

/// Injects faults into the stand-in's next matching requests.
fn faults(http: &Http, list: Value) {
    let (status, body) = http.call("POST", "/_admin/standin/faults", Some(&list));
    assert_eq!(status, 200, "{body}");
}

/// What every test's server must never have seen from the backend.
fn assert_clean(http: &Http) {
    let s = stats(http);
    assert_eq!(s["deprecatedPutCursor"], json!(0), "the deprecated PUT /_api/cursor/{{id}} was used: {s}");
    assert_eq!(s["jsTransactionsRefused"], json!(0), "a JavaScript transaction was sent: {s}");
    assert_eq!(s["checkerViolations"], json!({}), "the server refused a query: {s}");
}

// ---- every query, checked ----

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn every_query_the_backend_sends_passes_the_checker() {
    let collections: serde_json::Map<String, Value> = mycelium::storage::arango::collections()
        .into_iter()
        .map(|(name, edge)| (name.to_owned(), json!({ "type": if edge { "edge" } else { "document" } })))
        .collect();
    let queries: Vec<Value> = mycelium::storage::arango::queries()
        .iter()
        .map(|(name, text, binds)| json!({ "name": name, "query": text, "bindVars": binds }))
        .collect();
    assert!(queries.len() >= 30, "only {} queries listed", queries.len());
    let input = json!({
        "collections": collections,
        "edges": { "deps": { "from": ["jobs"], "to": ["jobs"] } },
        "queries": queries,
    });
    let violations = check_aql(&input).expect("check.js runs");
    assert_eq!(violations, Vec::<Value>::new(), "queries a real server would refuse");
}

/// A string literal of a Rust source line that reads like AQL.
fn aql_literals(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let literal = &after[..end];
        let words: Vec<&str> = literal.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').collect();
        let has = |w: &str| words.contains(&w);
        let keyword = ["RETURN", "INSERT", "UPDATE", "UPSERT", "REMOVE", "REPLACE", "COLLECT"].iter().any(|w| has(w));
        if keyword || (has("FOR") && has("IN")) {
            out.push(literal.to_owned());
        }
        rest = &after[end + 1..];
    }
    out
}

#[test]
fn no_query_text_hides_outside_the_checked_list() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/arango");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read src/storage/arango") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".rs") || name == "aql.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for (i, line) in text.lines().enumerate() {
            for literal in aql_literals(line) {
                found.push(format!("{name}:{}: {literal}", i + 1));
            }
        }
        assert!(!text.contains("_api/transaction\""), "{name} sends a JavaScript transaction");
    }
    assert!(found.is_empty(), "AQL outside src/storage/arango/aql.rs (put it there and in ALL): {found:#?}");
    // Every query constant of aql.rs is in the list the checker test reads.
    let aql = std::fs::read_to_string(dir.join("aql.rs")).expect("read aql.rs");
    let listed: Vec<&str> = mycelium::storage::arango::queries().iter().map(|(n, _, _)| *n).collect();
    for line in aql.lines() {
        if let Some(rest) = line.strip_prefix("pub(super) const ")
            && let Some((name, ty)) = rest.split_once(':')
            && ty.trim_start().starts_with("&str")
        {
            assert!(listed.contains(&name), "aql.rs defines {name} but ALL does not list it");
        }
    }
    // The test above finds AQL where it is: this line would be reported.
    assert_eq!(aql_literals(r#"let q = "FOR j IN jobs RETURN j";"#).len(), 1);
}

// ---- EXPLAIN of the claim ----

/// Asserts that the claim's query runs on the ready-jobs index with no sort
/// step and no collection scan, on the server `http` talks to.
pub(crate) fn assert_claim_uses_its_index(http: &Http, db: &str) {
    let (query, index) = mycelium::storage::arango::claim_query();
    let binds = json!({ "elf": "e", "now": 1_700_000_000_000_i64, "tasks": ["t"], "max": 64 });
    assert_uses_index(http, db, "the claim", query, binds, index);
}

/// Asserts that flows' timer scan runs on the waiting-jobs index with no
/// sort step and no collection scan.
pub(crate) fn assert_timers_use_their_index(http: &Http, db: &str) {
    let (query, index, earliest) = mycelium::storage::arango::timer_query();
    let binds = json!({ "elf": "e", "earliest": earliest, "now": 1_700_000_000_000_i64, "limit": 64 });
    assert_uses_index(http, db, "the timer scan", query, binds, index);
}

/// Asserts that `query` runs on `index` with no sort step and no
/// collection scan.
fn assert_uses_index(http: &Http, db: &str, what: &str, query: &str, binds: Value, index: &str) {
    let body = json!({ "query": query, "bindVars": binds });
    let (status, plan) = http.call("POST", &format!("/_db/{db}/_api/explain"), Some(&body));
    assert_eq!(status, 200, "EXPLAIN failed: {plan}");
    let nodes = plan["plan"]["nodes"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = nodes.iter().filter_map(|n| n["type"].as_str()).collect();
    let used: Vec<String> = nodes
        .iter()
        .filter(|n| n["type"] == "IndexNode")
        .flat_map(|n| n["indexes"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect();
    assert!(used.iter().any(|u| u == index), "{what} does not use index {index}: nodes {types:?}, indexes {used:?}");
    assert!(!types.contains(&"SortNode"), "{what} still sorts: nodes {types:?}");
    assert!(!types.contains(&"EnumerateCollectionNode"), "{what} scans the collection: nodes {types:?}");
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn the_claim_and_the_timer_scan_use_their_indexes_with_no_sort_step() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    submit(&s, vec![job(json!([1]))]);
    assert_claim_uses_its_index(&http, DB);
    assert_timers_use_their_index(&http, DB);
    assert_clean(&http);
}

#[test]
#[ignore = "needs MYCELIUM_ARANGO_URL: a real ArangoDB server (scripts/arango-live-check.sh)"]
fn real_server_claim_and_timer_scan_use_their_indexes_with_no_sort_step() {
    let (url, _scratch) = Scratch::on(&real::server_url(), "mycelium_explain");
    let s = open(&url);
    submit(&s, vec![job(json!([1]))]);
    let config = mycelium::storage::arango::Config::parse(&url).expect("a URL");
    let creds = config.credentials(|k| std::env::var(k).ok()).expect("credentials");
    let mut http = Http::new(config.endpoint.as_str().trim_end_matches('/').to_owned());
    http.keep_logged_in(&creds.user, creds.password.expose());
    assert_claim_uses_its_index(&http, &config.database);
    assert_timers_use_their_index(&http, &config.database);
}

// ---- C13: clocks ----

/// The server's clock, read with a query.
fn server_now(http: &Http, db: &str) -> i64 {
    let rows = http.query(db, "RETURN DATE_NOW()", json!({}), None).expect("DATE_NOW");
    rows[0].as_i64().expect("a number")
}

/// C13: a client whose clock is five minutes ahead does not steal a live
/// lease; one five minutes behind does not keep an expired one; leases are
/// measured on the server's clock (here two hours ahead of every client).
fn c13_clocks(base: &str, http: &Http, db: &str) {
    let skewed = |ms: i64| {
        let sep = if base.contains('?') { "&" } else { "?" };
        format!("{base}{sep}clock_skew_ms={ms}")
    };
    let ahead = open(&skewed(300_000));
    let behind = open(&skewed(-300_000));
    // Both clients know the server's time, whatever their own clocks say.
    let before = server_now(http, db);
    let (a, b) = (ahead.now(), behind.now());
    let after = server_now(http, db);
    for (who, t) in [("ahead", a), ("behind", b)] {
        assert!(t >= before - 50 && t <= after + 50, "{who}: {t} is not the server's time ({before}..{after})");
    }
    let ids = submit(&ahead, vec![job(json!([1]))]);
    // A client behind claims with a short lease, from another process.
    let mut holder =
        crate::util::Proc::start(MYCELIUM, &skewed(-300_000), &["probe", "hold", "--elf", "e", "--ttl-ms", "1500"]);
    let held = wait_line(&mut holder, "held ");
    let lease_until = ahead.job(ids[0]).expect("read").expect("exists").lease_until.expect("claimed");
    let now = server_now(http, db);
    assert!(
        (lease_until - (now + 1500)).abs() < 1500,
        "the lease ends at {lease_until}, not about 1.5 s after the server's {now}: not on the server's clock"
    );
    // Ahead by five minutes, the lease still runs on the server: not stolen.
    let thief = InstanceId::random();
    assert!(claim(&ahead, &thief, 1, 60_000).expect("claim").is_empty(), "a client ahead stole a live lease");
    assert!(ahead.reap().expect("reap").expired.is_empty(), "a client ahead reaped a live lease");
    // Once it ran out on the server, a client behind sees it expired.
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(behind.reap().expect("reap").expired, ids, "a client behind kept an expired lease");
    let taken = claim(&ahead, &thief, 1, 60_000).expect("claim");
    assert_eq!(taken.len(), 1);
    let epoch: i64 = held.split(' ').nth(2).and_then(|e| e.parse().ok()).expect("an epoch");
    assert!(taken[0].lease.epoch > epoch);
    let stale = Completion { lease: Lease { job: ids[0], epoch }, ran_sha: None, value: json!("late"), waited_ms: 0 };
    assert_eq!(behind.complete(&[stale]).expect("complete").outcomes, vec![Outcome::LeaseLost]);
    drop(holder);
}

/// Waits for a line with `prefix` from `p`.
fn wait_line(p: &mut crate::util::Proc, prefix: &str) -> String {
    p.wait_for(prefix, Duration::from_secs(30))
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c13_skewed_clients_follow_the_servers_clock() {
    let (server, http) = stand_in(&["--clock-offset-ms", "7200000"]);
    let base = url(&server, DB, "");
    open(&base);
    c13_clocks(&base, &http, DB);
    assert_clean(&http);
}

#[test]
#[ignore = "needs MYCELIUM_ARANGO_URL: a real ArangoDB server (scripts/arango-live-check.sh)"]
fn real_server_c13_skewed_clients_follow_the_servers_clock() {
    let (url, _scratch) = Scratch::on(&real::server_url(), "mycelium_clock");
    open(&url);
    let config = mycelium::storage::arango::Config::parse(&url).expect("a URL");
    let creds = config.credentials(|k| std::env::var(k).ok()).expect("credentials");
    let mut http = Http::new(config.endpoint.as_str().trim_end_matches('/').to_owned());
    http.keep_logged_in(&creds.user, creds.password.expose());
    c13_clocks(&url, &http, &config.database);
}

// ---- C16: the backend's own failure modes ----

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_a_write_write_conflict_is_retried_transparently() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    let id = submit(&s, vec![job(json!([1]))])[0];
    // A writer outside the mycelium (an operator's script, say) holds an
    // uncommitted change of the job: the claim's write conflicts (1200).
    let (status, begun) = http.call(
        "POST",
        &format!("/_db/{DB}/_api/transaction/begin"),
        Some(&json!({ "collections": { "write": ["jobs"] } })),
    );
    assert_eq!(status, 201, "{begun}");
    let trx = begun["result"]["id"].as_str().expect("an id").to_owned();
    http.query(DB, "UPDATE @key WITH { note: 1 } IN jobs", json!({ "key": id.0.to_string() }), Some(&trx))
        .expect("the outside write");
    let claimer = std::thread::spawn({
        let s = s.clone();
        move || {
            let started = Instant::now();
            let claimed = claim(&s, &InstanceId::random(), 1, 60_000);
            (claimed, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    let (status, _) = http.call("PUT", &format!("/_db/{DB}/_api/transaction/{trx}"), None);
    assert_eq!(status, 200);
    let (claimed, took) = claimer.join().expect("the claimer");
    let claimed = claimed.expect("the claim succeeds once the conflict is gone");
    assert_eq!(claimed.iter().map(|c| c.lease.job).collect::<Vec<_>>(), vec![id]);
    assert!(took >= Duration::from_millis(300), "the claim did not meet the conflict ({took:?})");
    assert!(stats(&http)["conflicts"].as_u64().unwrap_or(0) >= 1, "no conflict happened: {}", stats(&http));
    assert_eq!(s.job(id).expect("read").expect("exists").epoch, 1, "claimed once");
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_an_answer_lost_after_a_commit_is_resolved_by_committing_again() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    let ids = submit(&s, vec![job(json!([1])), job(json!([2]))]);
    let me = InstanceId::random();
    // The commit is done, its answer never arrives.
    faults(&http, json!({ "method": "PUT", "path": "/_api/transaction/[0-9]+$", "mode": "drop-after", "count": 1 }));
    let claimed = claim(&s, &me, 1, 60_000).expect("the claim resolves the lost answer");
    assert_eq!(claimed.len(), 1);
    // A lost answer inside the transaction (the write went through, then the
    // connection dropped): the transaction is aborted and run again.
    faults(&http, json!({ "method": "POST", "path": "/_api/cursor$", "mode": "drop-after", "count": 1 }));
    let again = claim(&s, &me, 1, 60_000).expect("the claim runs again");
    assert_eq!(again.len(), 1);
    assert_eq!(stats(&http)["faultsInjected"], json!(2));
    for id in &ids {
        let claims = s
            .events(&EventQuery { job: Some(*id), limit: 100, ..Default::default() })
            .expect("events")
            .iter()
            .filter(|e| e.state == Some(JobState::Claimed))
            .count();
        assert_eq!(claims, 1, "job {id} was claimed {claims} times");
        assert_eq!(s.job(*id).expect("read").expect("exists").epoch, 1);
    }
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_a_claim_whose_answers_are_all_lost_is_resolved_by_the_reaper() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    let ids = submit(&s, (0..3).map(|i| job(json!([i]))).collect());
    let lost_elf = InstanceId::random();
    // Every commit answer of the next claim is lost: it commits, and its
    // client never learns that it did.
    faults(&http, json!({ "method": "PUT", "path": "/_api/transaction/[0-9]+$", "mode": "drop-after", "count": 20 }));
    let err = claim(&s, &lost_elf, 3, 1_000).expect_err("the claim's outcome is unknown");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("unknown"), "{err}");
    let (status, _) = http.call("DELETE", "/_admin/standin/faults", None);
    assert_eq!(status, 200);
    // The jobs are leased to an elf that never learned of them.
    let claimed = s.jobs(&JobQuery { states: vec![JobState::Claimed], ..Default::default() }).expect("jobs");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), ids);
    let other = InstanceId::random();
    assert!(claim(&s, &other, 3, 60_000).expect("claim").is_empty(), "a live lease was taken");
    // The lease runs out; the reaper gives them back, not charging an attempt.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.reap().expect("reap").expired, ids);
    let again = claim(&s, &other, 3, 60_000).expect("claim");
    assert_eq!(
        again.iter().map(|c| (c.lease.job, c.attempt)).collect::<Vec<_>>(),
        ids.iter().map(|i| (*i, 1)).collect::<Vec<_>>()
    );
    let done: Vec<Completion> = again
        .iter()
        .map(|c| Completion { lease: c.lease, ran_sha: None, value: json!(c.lease.job.0), waited_ms: 0 })
        .collect();
    assert!(s.complete(&done).expect("complete").outcomes.iter().all(|o| *o == Outcome::Ok));
    // Nothing lost, nothing run twice to completion.
    let results = s.results(&ids).expect("results");
    assert_eq!(results.len(), 3);
    let run = s.job(ids[0]).expect("read").expect("exists").run;
    assert_eq!(s.run(run).expect("run").expect("exists").state, RunState::Succeeded);
    let expired =
        s.failures(&FailureQuery { kind: Some(FailureKind::LeaseExpired), ..Default::default() }).expect("failures");
    assert_eq!(expired.len(), 3);
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_a_multi_batch_result_inside_a_transaction_returns_every_row() {
    let (server, http) = stand_in(&["--batch-size", "2", "--max-batch-size", "2"]);
    let s = open(&url(&server, DB, ""));
    let ids = submit(&s, (0..101).map(|i| job(json!([i]))).collect());
    // The claim reads 64 ready jobs inside its transaction: 32 batches.
    let claimed = claim(&s, &InstanceId::random(), 64, 60_000).expect("claim");
    assert_eq!(claimed.iter().map(|c| c.lease.job).collect::<Vec<_>>(), ids[..64].to_vec());
    let all = s.jobs(&JobQuery::default()).expect("jobs");
    assert_eq!(all.len(), 101);
    assert_eq!(all.iter().filter(|j| j.state == JobState::Claimed).count(), 64);
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_the_client_logs_in_again_when_its_token_expires() {
    let (server, http) = stand_in(&["--token-ttl-ms", "700"]);
    let s = open(&url(&server, DB, ""));
    let me = InstanceId::random();
    for round in 0..3 {
        submit(&s, vec![job(json!([round]))]);
        assert_eq!(claim(&s, &me, 1, 60_000).expect("claim").len(), 1);
        std::thread::sleep(Duration::from_millis(800));
    }
    assert_eq!(s.jobs(&JobQuery::default()).expect("jobs").len(), 3);
    assert!(stats(&http)["expiredTokens"].as_u64().unwrap_or(0) >= 2, "{}", stats(&http));
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn c16_lock_waits_end_on_the_server_before_the_clients_timeout() {
    // The outside transaction below is idle longer than the suite's 2 s.
    let (server, http) = stand_in(&["--idle-timeout-ms", "20000"]);
    // Requests time out after 2 s on the client; the server gives up waiting
    // for a lock after 0.5 s (error 18, HTTP 500), and the client asks again.
    let s = open(&url(&server, DB, "timeout_ms=2000&lock_timeout_ms=500"));
    submit(&s, vec![job(json!([1]))]);
    // Another writer holds the writer lock for 3 s: longer than a request.
    let (status, begun) = http.call(
        "POST",
        &format!("/_db/{DB}/_api/transaction/begin"),
        Some(&json!({ "collections": { "exclusive": ["meta"] } })),
    );
    assert_eq!(status, 201, "{begun}");
    let trx = begun["result"]["id"].as_str().expect("an id").to_owned();
    let claimer = std::thread::spawn({
        let s = s.clone();
        move || {
            let started = Instant::now();
            (claim(&s, &InstanceId::random(), 1, 60_000), started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(3000));
    let (status, _) = http.call("DELETE", &format!("/_db/{DB}/_api/transaction/{trx}"), None);
    assert_eq!(status, 200);
    let (claimed, took) = claimer.join().expect("the claimer");
    assert_eq!(claimed.expect("the claim gets the lock once it is free").len(), 1);
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    let st = stats(&http);
    assert!(st["lockTimeouts"].as_u64().unwrap_or(0) >= 3, "the server never gave up a lock wait: {st}");
    // No transaction was left behind by a begin whose client had given up.
    let (_, running) = http.call("GET", &format!("/_db/{DB}/_api/transaction"), None);
    assert_eq!(running["transactions"], json!([]), "orphaned transactions: {running}");
    assert_clean(&http);
}

// ---- data ----

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn integers_beyond_2_53_round_trip_exactly() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    let big = json!([12345678901234567890_u64, -9223372036854775808_i64, { "n": 9007199254740993_u64 }]);
    let mut spec = job(big.clone());
    spec.timeout_ms = Some(u64::MAX);
    let id = submit(&s, vec![spec, job(json!([1]))])[0];
    let stored = s.job(id).expect("read").expect("exists");
    assert_eq!((stored.args.to_string(), stored.timeout_ms), (big.to_string(), Some(u64::MAX)));
    let me = InstanceId::random();
    let claimed = claim(&s, &me, 2, 60_000).expect("claim");
    assert_eq!(claimed[0].args.to_string(), big.to_string());
    // A result and a failure's inputs beyond 2^53 come back exactly too.
    let value = json!({ "max": u64::MAX, "min": i64::MIN });
    s.complete(&[Completion { lease: claimed[0].lease, ran_sha: None, value: value.clone(), waited_ms: 0 }])
        .expect("complete");
    assert_eq!(s.result(id).expect("result").map(|v| v.to_string()), Some(value.to_string()));
    let mut report = FailureReport::new(FailureKind::Panic, "boom");
    report.inputs = big.clone();
    s.fail(&claimed[1].lease, &report).expect("fail");
    let f = s.failures(&FailureQuery { job: Some(claimed[1].lease.job), ..Default::default() }).expect("failures");
    assert_eq!(f[0].report.inputs.to_string(), big.to_string());
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn collection_schemas_are_enforced_on_the_server() {
    let (server, http) = stand_in(&[]);
    let s = open(&url(&server, DB, ""));
    submit(&s, vec![job(json!([1]))]);
    let (status, refused) = http.call(
        "POST",
        &format!("/_db/{DB}/_api/document/jobs"),
        Some(&json!({ "_key": "999", "id": 999, "run": 1, "elf": "e", "task": "t", "args": "[]", "state": "napping" })),
    );
    assert_eq!((status, refused["errorNum"].as_u64()), (400, Some(1620)), "{refused}");
    let (status, refused) =
        http.call("POST", &format!("/_db/{DB}/_api/document/events"), Some(&json!({ "seq": "one", "at": 1 })));
    assert_eq!((status, refused["errorNum"].as_u64()), (400, Some(1620)), "{refused}");
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn a_layout_2_store_is_upgraded_and_older_or_newer_ones_are_refused() {
    let (server, http) = stand_in(&[]);
    let store_url = url(&server, DB, "");
    let id = submit(&open(&store_url), vec![job(json!([1]))])[0];
    // Make it a store of layout version 2: no flows, no catalog, counters
    // without the signal counter.
    for name in ["flow_steps", "flow_signals", "catalog"] {
        let (status, body) = http.call("DELETE", &format!("/_db/{DB}/_api/collection/{name}"), None);
        assert_eq!(status, 200, "drop {name}: {body}");
    }
    let meta = |q: &str| http.query(DB, q, json!({}), None).unwrap_or_else(|e| panic!("{q}: {e}"));
    meta(r#"UPDATE { _key: "counters" } WITH { signal: null } IN meta OPTIONS { keepNull: false }"#);
    meta(r#"UPDATE { _key: "schema" } WITH { version: 2 } IN meta"#);
    assert_eq!(meta(r#"FOR m IN meta FILTER m._key == "counters" RETURN m.signal"#), vec![Value::Null]);
    // Its runs have no `sealed` field (layouts before 4).
    meta(r#"FOR r IN runs UPDATE r WITH { sealed: null } IN runs OPTIONS { keepNull: false }"#);
    assert_eq!(meta(r#"FOR r IN runs RETURN HAS(r, "sealed")"#), vec![json!(false)]);

    // Opening it upgrades it in place, keeping what it held.
    let s = Store::open_existing(&store_url).unwrap_or_else(|e| panic!("a version 2 store opens: {e}"));
    assert_eq!(s.job(id).expect("read").map(|j| j.id), Some(id));
    assert_eq!(meta(r#"FOR m IN meta FILTER m._key == "schema" RETURN m.version"#), vec![json!(5)]);
    // Its runs count as sealed: they take no more jobs.
    let old = s.job(id).expect("read").map(|j| j.run).expect("the job's run");
    assert!(s.run(old).expect("read").expect("exists").sealed, "a run of an older layout counts as sealed");
    assert!(matches!(s.append(old, &[job(json!([3]))]), Err(mycelium::storage::Error::Sealed { .. })));
    // New runs may be opened, appended to and sealed.
    let open = s.open_run(&mycelium::model::RunSpec::named("after-upgrade")).expect("open a run").id;
    s.append(open, &[job(json!([4]))]).expect("append");
    assert!(s.seal(open).expect("seal").sealed);
    assert_eq!(meta(r#"FOR m IN meta FILTER m._key == "counters" RETURN m.signal"#), vec![json!(0)]);
    for name in ["flow_steps", "flow_signals", "catalog"] {
        let (status, body) = http.call("GET", &format!("/_db/{DB}/_api/collection/{name}"), None);
        assert_eq!(status, 200, "{name} was not created: {body}");
    }
    submit(&s, vec![job(json!([2]))]);

    // Version 1 (the JavaScript-transaction backend's) is refused, naming it.
    meta(r#"UPDATE { _key: "schema" } WITH { version: 1 } IN meta"#);
    let err = Store::open(&store_url).map(drop).expect_err("a version 1 store is refused");
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    assert!(err.to_string().contains("version 1"), "{err}");
    // A newer layout is refused as incompatible.
    meta(r#"UPDATE { _key: "schema" } WITH { version: 99 } IN meta"#);
    let err = Store::open(&store_url).map(drop).expect_err("a newer store is refused");
    assert_eq!(err.kind(), ErrorKind::Incompatible, "{err}");
    assert_clean(&http);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn processes_racing_to_create_a_fresh_database_all_succeed() {
    let (server, http) = stand_in(&[]);
    // Threads first: four handles open the same missing database at once.
    let fresh = url(&server, "raced_threads", "");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let fresh = fresh.clone();
            std::thread::spawn(move || Store::open(&fresh).map(|_| ()).map_err(|e| e.to_string()))
        })
        .collect();
    for t in threads {
        t.join().expect("a thread").expect("every racing open succeeds");
    }
    // Then processes, as docker compose starts them.
    let fresh = url(&server, "raced_processes", "");
    let probes: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(MYCELIUM)
                .args(["--store", &fresh, "probe", "submit", "--runs", "2"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a probe")
        })
        .collect();
    for p in probes {
        let out = p.wait_with_output().expect("wait");
        assert!(out.status.success(), "a racing process failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let s = open(&fresh);
    assert_eq!(s.runs(&Default::default()).expect("runs").len(), 6);
    let by_state: HashMap<JobState, usize> =
        s.jobs(&JobQuery::default()).expect("jobs").into_iter().fold(HashMap::new(), |mut m, j| {
            *m.entry(j.state).or_default() += 1;
            m
        });
    assert_eq!(by_state.get(&JobState::Ready), Some(&6));
    let errors = stats(&http)["errors"].clone();
    assert!(errors.get("1207").is_some(), "no process met the database made by another: {errors}");
    assert_clean(&http);
}

// ---- mycelium bench --store arangodb:// ----

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn bench_runs_w1_to_w3_on_a_fresh_database_and_drops_it() {
    let (server, http) = stand_in(&[]);
    let store = url(&server, "benchmarks", "");
    for (workload, n) in [("w1", "200"), ("w2", "30"), ("w3", "100")] {
        let out = std::process::Command::new(MYCELIUM)
            .args(["--store", &store, "bench", "--workload", workload, "--n", n, "--runs", "1", "--json"])
            .output()
            .expect("run mycelium bench");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{workload}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_str(stdout.lines().next().unwrap_or_default()).expect("a JSON report");
        assert_eq!((report["ok"].as_bool(), report["store"].as_str()), (Some(true), Some("arangodb")), "{report}");
        assert!(!report["url"].as_str().unwrap_or_default().contains(PASSWORD), "{report}");
    }
    // Each run had a database of its own, dropped when it ended.
    let (_, dbs) = http.call("GET", "/_api/database", None);
    assert_eq!(dbs["result"], json!(["_system"]), "{dbs}");
    assert_clean(&http);
}
