//! `mycelium serve` as a real process on a temp store, driven through
//! reqwest: every endpoint, auth scopes, malformed and oversized bodies,
//! unknown ids, the event stream resumed from a cursor, the elf protocol
//! with fencing and a real Python elf, webhooks with and without a valid
//! HMAC, and the http elf against a local server.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mycelium::model::{Backoff, JobSpec, RetryPolicy, RunSpec, Submission};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::util::{MYCELIUM, Proc, fresh_sqlite, runtime};

// Flows, signals, queues, schedules and the webhooks that reach them.
pub(crate) mod agents;

/// A running `mycelium serve` on a fresh store.
pub(crate) struct Server {
    /// Kept so that the server runs as long as the test holds it.
    _proc: Proc,
    pub(crate) base: String,
    pub(crate) store: String,
    /// The store's temp dir, removed with the server.
    _dir: TempDir,
}

impl Server {
    /// Starts a server on a fresh store with `args` after `serve`.
    pub(crate) fn start(args: &[&str]) -> Server {
        let (store, dir) = fresh_sqlite();
        Self::on(store, dir, args)
    }

    /// Starts a server on `store`.
    pub(crate) fn on(store: String, dir: TempDir, args: &[&str]) -> Server {
        Self::with_env(store, dir, args, &[])
    }

    /// Starts a server on `store` with variables set in its environment.
    pub(crate) fn with_env(store: String, dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut proc = Proc::start_with(MYCELIUM, &store, &all, env);
        let l = proc.wait_for("ready on http://", Duration::from_secs(30));
        let base =
            l.split("ready on ").nth(1).and_then(|r| r.split_whitespace().next()).expect("an address").to_owned();
        Server { _proc: proc, base, store, _dir: dir }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a token with the CLI; its secret.
    pub(crate) fn token(&self, scope: &str, name: &str) -> String {
        let out = Command::new(MYCELIUM)
            .args(["--store", &self.store, "--json", "token", "create", "--scope", scope, "--name", name])
            .output()
            .expect("run mycelium token create");
        assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("token JSON");
        v["secret"].as_str().expect("a secret").to_owned()
    }
}

/// A client call's status and JSON body.
pub(crate) async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = client.request(method.parse().expect("method"), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The JSON body of a response.
pub(crate) async fn json_of(res: reqwest::Response) -> Value {
    let text = res.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Waits until run `id` has ended; its final document.
pub(crate) async fn wait_run(client: &reqwest::Client, s: &Server, token: Option<&str>, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = call(client, "GET", &s.url(&format!("/api/runs/{id}")), token, None).await;
        assert_eq!(status, 200, "{v}");
        if v["run"]["state"] != "running" {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} did not end: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn submission(name: &str, jobs: Vec<JobSpec>) -> String {
    serde_json::to_string(&Submission { run: RunSpec { name: name.into(), ..RunSpec::default() }, jobs }).expect("json")
}

/// A trials run with a success, a panic and a job that could not run.
pub(crate) fn trials_run() -> String {
    submission(
        "trials",
        vec![
            JobSpec::new("trials", "greet", json!(["web"])).with_key("hello"),
            JobSpec::new("trials", "pick", json!([7])).with_key("pick"),
            JobSpec::new("trials", "greet", json!([{"$output": "pick"}])).with_key("greet-pick"),
        ],
    )
}

#[test]
fn every_endpoint_answers_and_errors_name_the_input() {
    let s = Server::start(&["--max-body-bytes", "65536"]);
    let read = s.token("read", "reader");
    let op = s.token("operator", "ops");
    let _coordinator = Proc::coordinator(&s.store);
    let _elf = Proc::elf("trials", &s.store, &[]);
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let (r, o) = (Some(read.as_str()), Some(op.as_str()));

        // Auth: no token, an unknown one, too small a scope.
        let (st, v) = call(&c, "GET", &s.url("/api/runs"), None, None).await;
        assert_eq!(st, 401, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("mycelium token create"), "{v}");
        let (st, _) = call(&c, "GET", &s.url("/api/runs"), Some("myc_nope"), None).await;
        assert_eq!(st, 401);
        let (st, v) = call(&c, "POST", &s.url("/api/runs"), r, Some(&trials_run())).await;
        assert_eq!(st, 403, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("needs operator"), "{v}");

        // Bad bodies: malformed JSON, a wrong document, too large.
        let (st, v) = call(&c, "POST", &s.url("/api/runs"), o, Some("{\"run\": ")).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("not a valid Submission"), "{v}");
        let (st, v) = call(&c, "POST", &s.url("/api/runs"), o, Some("{\"jobs\": []}")).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("run"), "{v}");
        let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000));
        let (st, v) = call(&c, "POST", &s.url("/api/runs"), o, Some(&big)).await;
        assert_eq!(st, 413, "{v}");
        // Wrong method, unknown path, unknown ids, malformed ids.
        let res = c.delete(s.url("/api/runs")).bearer_auth(&op).send().await.expect("delete");
        assert_eq!(res.status().as_u16(), 405);
        assert_eq!(res.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
        let v: Value = json_of(res).await;
        assert!(v["error"].as_str().unwrap_or("").contains("does not take DELETE"), "{v}");
        let (st, v) = call(&c, "GET", &s.url("/api/nothing"), r, None).await;
        assert_eq!(st, 404, "{v}");
        for (path, needle) in [
            ("/api/runs/999", "run 999 does not exist"),
            ("/api/jobs/j999", "job 999 does not exist"),
            ("/api/failures/f999", "failure 999 does not exist"),
            ("/api/tasks/trials/nope", "trials/nope"),
        ] {
            let (st, v) = call(&c, "GET", &s.url(path), r, None).await;
            assert_eq!(st, 404, "{path}: {v}");
            assert!(v["error"].as_str().unwrap_or("").contains(needle), "{path}: {v}");
        }
        let (st, v) = call(&c, "GET", &s.url("/api/runs/abc"), r, None).await;
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("`abc`"), "{v}");
        let (st, v) = call(&c, "GET", &s.url("/api/runs?limit=0"), r, None).await;
        assert_eq!(st, 400, "{v}");

        // Submit, and the run ends failed: a success, a panic, an upstream failure.
        let (st, submitted) = call(&c, "POST", &s.url("/api/runs"), o, Some(&trials_run())).await;
        assert_eq!(st, 201, "{submitted}");
        let run = submitted["run"].as_i64().expect("run id");
        let view = wait_run(&c, &s, r, run).await;
        assert_eq!(view["run"]["state"], "failed", "{view}");
        assert_eq!(view["progress"], json!({"total": 3, "succeeded": 1, "failed": 2, "open": 0}));
        assert_eq!(view["jobs"]["items"].as_array().map(Vec::len), Some(3));

        let (_, runs) = call(&c, "GET", &s.url("/api/runs?state=failed&limit=1"), r, None).await;
        assert_eq!(runs["items"][0]["id"], run, "{runs}");
        let (_, jobs) =
            call(&c, "GET", &s.url(&format!("/api/runs/{run}/jobs?state=failed,upstream_failed")), r, None).await;
        assert_eq!(jobs["items"].as_array().map(Vec::len), Some(2), "{jobs}");
        let (_, page) = call(&c, "GET", &s.url(&format!("/api/jobs?run=r{run}&limit=2")), r, None).await;
        assert_eq!((page["items"].as_array().map(Vec::len), page["next"].is_i64()), (Some(2), true), "{page}");
        let (_, graph) = call(&c, "GET", &s.url(&format!("/api/runs/{run}/graph")), r, None).await;
        assert_eq!((graph["mode"].as_str(), graph["layers"].as_i64()), (Some("jobs"), Some(2)), "{graph}");
        assert_eq!(graph["edges"].as_array().map(Vec::len), Some(1));
        let (_, graph) = call(&c, "GET", &s.url(&format!("/api/runs/{run}/graph?max_nodes=2")), r, None).await;
        assert_eq!(graph["mode"], "tasks", "{graph}");
        assert!(graph["note"].as_str().unwrap_or("").contains("3 jobs"), "{graph}");

        let hello = submitted["jobs"][0].as_i64().expect("job id");
        let (_, job) = call(&c, "GET", &s.url(&format!("/api/jobs/{hello}")), r, None).await;
        assert_eq!(job["result"], "hello, web", "{job}");
        let greet = submitted["jobs"][2].as_i64().expect("job id");
        let (_, job) = call(&c, "GET", &s.url(&format!("/api/jobs/{greet}")), r, None).await;
        assert_eq!(job["producers"][0]["task"], "pick", "{job}");

        // Failures: listed, grouped, and one story with its source line marked.
        let (_, list) = call(&c, "GET", &s.url(&format!("/api/failures?run={run}&kind=panic")), r, None).await;
        let panic = &list["items"][0];
        assert_eq!(panic["task"], "pick", "{list}");
        let (_, groups) = call(&c, "GET", &s.url("/api/failures/groups"), r, None).await;
        assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
        let (st, story) = call(&c, "GET", &s.url(&format!("/api/failures/{}", panic["id"])), r, None).await;
        assert_eq!(st, 200, "{story}");
        let marked: Vec<&Value> =
            story["source"].as_array().expect("source").iter().filter(|l| l["marked"] == true).collect();
        assert_eq!(marked.len(), 1, "{story}");
        assert!(marked[0]["text"].as_str().unwrap_or("").contains("fruits[n as usize]"), "{story}");
        assert_eq!(story["failing_line"], marked[0]["line"]);
        assert!(story["reproduce"].as_str().unwrap_or("").contains("replay"), "{story}");

        // Sources, versions, diffs.
        let (_, tasks) = call(&c, "GET", &s.url("/api/tasks"), r, None).await;
        assert!(tasks.as_array().expect("tasks").iter().any(|t| t["task"] == "pick"), "{tasks}");
        let (_, versions) = call(&c, "GET", &s.url("/api/tasks/trials/pick"), r, None).await;
        let sha = versions[0]["sha"].as_str().expect("sha").to_owned();
        let (st, v) = call(&c, "GET", &s.url(&format!("/api/tasks/trials/pick/versions/{}", &sha[..8])), r, None).await;
        assert_eq!((st, v["sha"].as_str()), (200, Some(sha.as_str())), "{v}");
        let (st, d) =
            call(&c, "GET", &s.url(&format!("/api/tasks/trials/pick/diff?from={}", &sha[..8])), r, None).await;
        assert_eq!((st, &d["changed"]), (200, &json!(false)), "{d}");
        let (st, v) = call(&c, "GET", &s.url("/api/tasks/trials/pick/diff"), r, None).await;
        assert_eq!(st, 400, "{v}");

        // History, events, elves, metrics, the OpenAPI document.
        let (_, h) = call(&c, "GET", &s.url(&format!("/api/runs/{run}/events")), r, None).await;
        let kinds: Vec<&str> =
            h["items"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
        assert_eq!((kinds.first(), kinds.last()), (Some(&"run_created"), Some(&"run_finished")), "{h}");
        let (_, h) = call(&c, "GET", &s.url(&format!("/api/jobs/{hello}/events")), r, None).await;
        assert!(h["items"].as_array().expect("events").iter().any(|e| e["state"] == "succeeded"), "{h}");
        let (_, all) = call(&c, "GET", &s.url("/api/events?after=0&limit=5"), r, None).await;
        assert_eq!(
            (all["items"].as_array().map(Vec::len), all["next"].as_i64()),
            (Some(5), all["items"][4]["seq"].as_i64())
        );
        let (_, elves) = call(&c, "GET", &s.url("/api/elves?state=running"), r, None).await;
        assert_eq!(elves[0]["elf"], "trials", "{elves}");
        assert_eq!(elves[0]["health"], "healthy", "{elves}");
        let res = c.get(s.url("/metrics")).bearer_auth(&read).send().await.expect("metrics");
        let text = res.text().await.expect("text");
        for needle in [
            "mycelium_jobs{state=\"succeeded\",elf=\"trials\",task=\"greet\"} 1",
            "mycelium_failures{kind=\"panic\"} 1",
            "mycelium_elf_instances{elf=\"trials\",state=\"running\"} 1",
            "mycelium_claim_latency_seconds_count",
            "mycelium_store_call_seconds_bucket{call=\"read a run\"",
            "mycelium_jobs_repaired_total{problem=\"stuck\"} 0",
        ] {
            assert!(text.contains(needle), "metrics lack `{needle}`:\n{text}");
        }
        let (st, doc) = call(&c, "GET", &s.url("/api/openapi.json"), None, None).await;
        assert_eq!((st, doc["openapi"].as_str()), (200, Some("3.1.0")));
        let committed: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json")).expect("read"),
        )
        .expect("json");
        assert_eq!(doc, committed, "the served document is the committed one");

        // Operations: retry (a panic retried panics again), cancel.
        let (st, v) = call(&c, "POST", &s.url(&format!("/api/runs/{run}/retry")), o, None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["jobs"].as_array().map(Vec::len), Some(2), "{v}");
        let view = wait_run(&c, &s, r, run).await;
        assert_eq!(view["run"]["state"], "failed");
        let slow = submission("slow", vec![JobSpec::new("trials", "nap", json!([60_000]))]);
        let (_, submitted) = call(&c, "POST", &s.url("/api/runs"), o, Some(&slow)).await;
        let slow_run = submitted["run"].as_i64().expect("run");
        let (st, v) =
            call(&c, "POST", &s.url(&format!("/api/runs/{slow_run}/cancel")), o, Some("{\"reason\": \"test\"}")).await;
        assert_eq!((st, &v["cancelled"]), (200, &json!(1)), "{v}");
        let (st, v) = call(&c, "POST", &s.url(&format!("/api/jobs/{hello}/retry")), o, None).await;
        assert_eq!((st, v["jobs"].as_array().map(Vec::len)), (200, Some(0)), "a succeeded job is left alone: {v}");

        // A revoked token stops working at once.
        let out =
            Command::new(MYCELIUM).args(["--store", &s.store, "token", "revoke", "reader"]).output().expect("revoke");
        assert!(out.status.success());
        let (st, _) = call(&c, "GET", &s.url("/api/runs"), r, None).await;
        assert_eq!(st, 401);
    });
}

#[test]
fn the_event_stream_resumes_from_a_cursor_and_follows_commits() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    runtime().block_on(async {
        let c = reqwest::Client::new();
        for i in 0..3 {
            let body = submission(&format!("s{i}"), vec![JobSpec::new("x", "y", json!([i]))]);
            let (st, v) = call(&c, "POST", &s.url("/api/runs"), None, Some(&body)).await;
            assert_eq!(st, 201, "{v}");
        }
        let (_, log) = call(&c, "GET", &s.url("/api/events?after=0"), None, None).await;
        let seqs: Vec<i64> =
            log["items"].as_array().expect("events").iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert_eq!(seqs.len(), 6, "{log}");

        // From the start of the log, then resumed with Last-Event-ID.
        let first = read_events(&c, &s.url("/api/events/stream?after=0"), None, 6).await;
        assert_eq!(first.iter().map(|e| e.0).collect::<Vec<_>>(), seqs);
        let resumed = read_events(&c, &s.url("/api/events/stream?after=0"), Some(seqs[2]), 3).await;
        assert_eq!(
            resumed.iter().map(|e| e.0).collect::<Vec<_>>(),
            seqs[3..].to_vec(),
            "Last-Event-ID wins over after"
        );
        let (st, v) = {
            let res = c.get(s.url("/api/events/stream")).header("last-event-id", "x").send().await.expect("send");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        };
        assert_eq!(st, 400, "{v}");

        // Live: a stream from now sees a commit made after it connected, fast.
        let mut res = c.get(s.url("/api/events/stream?run=4")).send().await.expect("stream");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let body = submission("live", vec![JobSpec::new("x", "y", json!([9]))]);
        let sent = Instant::now();
        let (_, v) = call(&c, "POST", &s.url("/api/runs"), None, Some(&body)).await;
        assert_eq!(v["run"], 4, "{v}");
        let mut text = String::new();
        while !text.contains("event: run_created") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.expect("an event in time");
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk").expect("open")));
        }
        assert!(sent.elapsed() < Duration::from_secs(2), "took {:?}", sent.elapsed());
        assert!(!text.contains("\"run\":1"), "the run filter holds: {text}");
    });
}

/// Reads `n` events (seq, kind) from an event stream.
pub(crate) async fn read_events(c: &reqwest::Client, url: &str, last: Option<i64>, n: usize) -> Vec<(i64, String)> {
    let mut req = c.get(url);
    if let Some(l) = last {
        req = req.header("last-event-id", l.to_string());
    }
    let mut res = req.send().await.expect("stream");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    let mut text = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.expect("events in time");
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk").expect("open")));
        while let Some(cut) = text.find("\n\n") {
            let block: String = text.drain(..cut + 2).collect();
            let id = block.lines().find_map(|l| l.strip_prefix("id:")).and_then(|v| v.trim().parse().ok());
            let kind = block.lines().find_map(|l| l.strip_prefix("event:")).map(|k| k.trim().to_owned());
            if let (Some(id), Some(kind)) = (id, kind) {
                out.push((id, kind));
            }
        }
    }
    out
}

#[test]
fn http_elves_are_fenced_like_native_ones() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let source = "def t(x):\n    return x\n";
        let version = json!({
            "sha": mycelium::model::TaskSha::of_source(source), "elf": "fence", "name": "t", "source": source,
            "file": "fence.py", "line": 1, "doc": "", "signature": {"params": [], "output": "any", "is_async": false, "fallible": true}
        });
        let register = json!({"elf": "fence", "tasks": [version], "lease_ttl_ms": 1000}).to_string();
        let (st, a) = call(&c, "POST", &s.url("/api/elves"), None, Some(&register)).await;
        assert_eq!(st, 201, "{a}");
        let a = a["instance"].as_str().expect("a").to_owned();
        let bad = json!({"elf": "other", "tasks": [version]}).to_string();
        let (st, v) = call(&c, "POST", &s.url("/api/elves"), None, Some(&bad)).await;
        assert_eq!(st, 400, "{v}");

        let mut job = JobSpec::new("fence", "t", json!([1]));
        job.retry.max_attempts = 3;
        let body = submission("fence", vec![job]);
        call(&c, "POST", &s.url("/api/runs"), None, Some(&body)).await;
        let (st, first) = call(&c, "POST", &s.url(&format!("/api/elves/{a}/claim")), None, Some("{\"max\": 4}")).await;
        assert_eq!(st, 200, "{first}");
        let lease = first["claimed"][0]["lease"].clone();
        assert_eq!(lease["epoch"], 1, "{first}");
        // A stalls: its lease runs out, the coordinator reaps it, and B claims the job again.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let (_, b) = call(&c, "POST", &s.url("/api/elves"), None, Some(&register)).await;
        let b = b["instance"].as_str().expect("b").to_owned();
        let (_, second) =
            call(&c, "POST", &s.url(&format!("/api/elves/{b}/claim")), None, Some("{\"max\": 4, \"wait_ms\": 3000}")).await;
        assert_eq!(second["claimed"][0]["lease"]["epoch"], 2, "{second}");
        // A's late write is refused with 409 and writes nothing.
        let late = json!({"completions": [{"lease": lease, "value": "late"}]}).to_string();
        let (st, v) = call(&c, "POST", &s.url(&format!("/api/elves/{a}/complete")), None, Some(&late)).await;
        assert_eq!(st, 409, "{v}");
        assert!(v["error"].as_str().unwrap_or("").contains("epoch 1: the lease is stale"), "{v}");
        let report = json!({"lease": lease, "report": {"kind": "error", "message": "late", "retryable": true}}).to_string();
        let (st, _) = call(&c, "POST", &s.url(&format!("/api/elves/{a}/fail")), None, Some(&report)).await;
        assert_eq!(st, 409);
        let (_, hb) = call(&c, "POST", &s.url(&format!("/api/elves/{b}/heartbeat")), None,
            Some(&json!({"held": [second["claimed"][0]["lease"]]}).to_string())).await;
        assert_eq!(hb["outcomes"], json!(["ok"]), "{hb}");
        let good = json!({"completions": [{"lease": second["claimed"][0]["lease"], "value": "on time"}]}).to_string();
        let (st, v) = call(&c, "POST", &s.url(&format!("/api/elves/{b}/complete")), None, Some(&good)).await;
        assert_eq!((st, &v["outcomes"]), (200, &json!(["ok"])), "{v}");
        let (_, job) = call(&c, "GET", &s.url(&format!("/api/jobs/{}", lease["job"])), None, None).await;
        assert_eq!(job["result"], "on time", "{job}");
        let (st, v) = call(&c, "POST", &s.url("/api/elves/nobody/claim"), None, Some("{\"max\": 1}")).await;
        assert_eq!(st, 404, "{v}");
        let (st, _) = call(&c, "POST", &s.url(&format!("/api/elves/{b}/bye")), None, None).await;
        assert_eq!(st, 200);
        let (st, v) = call(&c, "POST", &s.url(&format!("/api/elves/{b}/heartbeat")), None, None).await;
        assert_eq!(st, 200, "the instance is known to this server: {v}");
    });
}

#[test]
fn a_python_elf_completes_jobs_and_its_traceback_is_recorded() {
    let s = Server::start(&[]);
    let op = s.token("operator", "python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python_elf.py");
    let lines = std::fs::read_to_string(script).expect("read the elf").lines().count();
    assert!(lines < 200, "the reference elf must stay under 200 lines, it has {lines}");
    let mut child = Child(
        Command::new("python3")
            .args([script, "--url", &s.base, "--token", &op])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (it is on the machine)"),
    );
    let mut out = std::io::BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("a ready line");
    assert!(line.contains("ready"), "{line}");
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let o = Some(op.as_str());
        let body = submission(
            "python",
            vec![
                JobSpec::new("python", "word_count", json!(["the quick brown fox"])).with_key("count"),
                JobSpec::new("python", "divide", json!([{"$output": "count"}, 2])).with_key("half"),
                JobSpec::new("python", "divide", json!([1, 0])).with_key("boom"),
            ],
        );
        let (st, submitted) = call(&c, "POST", &s.url("/api/runs"), o, Some(&body)).await;
        assert_eq!(st, 201, "{submitted}");
        let view = wait_run(&c, &s, o, submitted["run"].as_i64().expect("run")).await;
        assert_eq!(view["progress"], json!({"total": 3, "succeeded": 2, "failed": 1, "open": 0}), "{view}");
        let (_, half) = call(&c, "GET", &s.url(&format!("/api/jobs/{}", submitted["jobs"][1])), o, None).await;
        assert_eq!(half["result"], 2.0, "4 words / 2: {half}");
        let (_, list) = call(&c, "GET", &s.url("/api/failures?elf=python"), o, None).await;
        let f = &list["items"][0];
        assert_eq!(f["report"]["message"], "ZeroDivisionError: division by zero", "{list}");
        let frame = &f["report"]["frames"][0];
        assert!(frame["file"].as_str().unwrap_or("").ends_with("examples/python_elf.py"), "{frame}");
        assert_eq!(
            (frame["function"].as_str(), frame["of_interest"].as_bool()),
            (Some("divide"), Some(true)),
            "{frame}"
        );
        let (_, story) = call(&c, "GET", &s.url(&format!("/api/failures/{}", f["id"])), o, None).await;
        assert_eq!(story["failing_line"], frame["line"], "{story}");
        let marked = story["source"].as_array().expect("source").iter().find(|l| l["marked"] == true).cloned();
        assert_eq!(marked.map(|l| l["text"].clone()), Some(json!("    return a / b")), "{story}");
        let (_, elves) = call(&c, "GET", &s.url("/api/elves"), o, None).await;
        assert_eq!(
            (elves[0]["elf"].as_str(), elves[0]["health"].as_str()),
            (Some("python"), Some("healthy")),
            "{elves}"
        );
    });
    let _ = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status();
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "the Python elf stops cleanly on SIGTERM: {status}");
}

/// A child process killed when dropped (a failed assertion leaves none behind).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn webhooks_submit_only_with_a_valid_signature() {
    let (store, dir) = fresh_sqlite();
    let hooks = dir.path().join("hooks.json");
    std::fs::write(
        &hooks,
        json!({"hooks": {
            "greet": {"action": {"submit": {"elf": "trials", "task": "greet", "run": "greeting"}},
                      "secret_env": "GREET_HOOK_SECRET", "idempotency_header": "X-GitHub-Delivery"},
            "open": {"action": {"submit": {"elf": "trials", "task": "greet"}}}
        }})
        .to_string(),
    )
    .expect("write hooks");
    let hooks_path = hooks.display().to_string();
    let s =
        Server::with_env(store, dir, &["--hooks", &hooks_path], &[("GREET_HOOK_SECRET", "It's a Secret to Everybody")]);
    let op = s.token("operator", "hooks");
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let body = "\"Hello, World!\"";
        let sign = |b: &str| {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"It's a Secret to Everybody").expect("key");
            mac.update(b.as_bytes());
            let hex: String = mac.finalize().into_bytes().iter().map(|x| format!("{x:02x}")).collect();
            format!("sha256={hex}")
        };
        let post = |sig: Option<String>, delivery: &str| {
            let mut req = c.post(s.url("/hooks/greet")).header("x-github-delivery", delivery).body(body);
            if let Some(sig) = sig {
                req = req.header("x-hub-signature-256", sig);
            }
            req.send()
        };
        let res = post(None, "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let v: Value = json_of(res).await;
        assert!(v["error"].as_str().unwrap_or("").contains("X-Hub-Signature-256"), "{v}");
        let res = post(Some(sign("\"Hello, World?\"")), "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 401, "a signature of another body is refused");
        let res = post(Some("sha256=00".into()), "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let (_, runs) = call(&c, "GET", &s.url("/api/runs"), Some(&op), None).await;
        assert_eq!(runs["items"].as_array().map(Vec::len), Some(0), "refused deliveries write nothing");

        let res = post(Some(sign(body)), "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 202);
        let v: Value = json_of(res).await;
        assert_eq!((v["hook"].as_str(), v["existing"].as_bool()), (Some("greet"), Some(false)), "{v}");
        let run = v["run"].as_i64().expect("run");
        let again: Value = json_of(post(Some(sign(body)), "d1").await.expect("send")).await;
        assert_eq!(
            (again["run"].as_i64(), again["existing"].as_bool()),
            (Some(run), Some(true)),
            "a redelivery: {again}"
        );
        let (_, view) = call(&c, "GET", &s.url(&format!("/api/runs/{run}")), Some(&op), None).await;
        assert_eq!(view["run"]["name"], "greeting");
        assert_eq!(view["run"]["labels"]["hook"], "greet");
        assert_eq!(view["jobs"]["items"][0]["args"], json!(["Hello, World!"]), "the body is the argument: {view}");

        // A hook without a secret needs an operator token; an unknown hook is 404.
        let res = c.post(s.url("/hooks/open")).body("{}").send().await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let res = c.post(s.url("/hooks/open")).bearer_auth(&op).body("[1]").send().await.expect("send");
        assert_eq!(res.status().as_u16(), 202);
        let res = c.post(s.url("/hooks/open")).bearer_auth(&op).body("not json").send().await.expect("send");
        assert_eq!(res.status().as_u16(), 400);
        let res = c.post(s.url("/hooks/nope")).body("{}").send().await.expect("send");
        assert_eq!(res.status().as_u16(), 404);
        let v: Value = json_of(res).await;
        assert!(v["error"].as_str().unwrap_or("").contains("greet, open"), "{v}");
    });
}

/// A local HTTP server for the http elf: `/ok` answers JSON, `/flaky`
/// answers 503 then 200, `/missing` 404, `/slow` after 3 s.
async fn test_server() -> (String, Arc<AtomicU32>) {
    use axum::routing::get;
    let flaky = Arc::new(AtomicU32::new(0));
    let counter = flaky.clone();
    let app = axum::Router::new()
        .route("/ok", get(|| async { axum::Json(json!({"hello": "world"})) }).post(|body: String| async move { body }))
        .route(
            "/flaky",
            get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy")
                    } else {
                        (axum::http::StatusCode::OK, "fine")
                    }
                }
            }),
        )
        .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no such thing") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), flaky)
}

#[test]
fn the_http_elf_records_responses_and_retries_by_status() {
    let (store_url, _dir) = fresh_sqlite();
    let _elf = Proc::elf("http", &store_url, &[]);
    let rt = runtime();
    rt.block_on(async {
        let (base, flaky) = test_server().await;
        let store = mycelium::Store::open(&store_url).expect("open");
        let retry = RetryPolicy { max_attempts: 3, backoff: Backoff::Fixed { delay_ms: 50 }, ..RetryPolicy::default() };
        let job = |key: &str, req: Value| {
            let mut j = JobSpec::new("http", "request", json!([req])).with_key(key);
            j.retry = retry.clone();
            j
        };
        let sub = Submission {
            run: RunSpec::named("http"),
            jobs: vec![
                job("ok", json!({"url": format!("{base}/ok")})),
                job(
                    "post",
                    json!({"method": "post", "url": format!("{base}/ok"), "body": "posted", "headers": {"x-a": "1"}}),
                ),
                job("flaky", json!({"url": format!("{base}/flaky")})),
                job("missing", json!({"url": format!("{base}/missing")})),
                job("slow", json!({"url": format!("{base}/slow"), "timeout_ms": 200})),
            ],
        };
        let done = store.submit(&sub).expect("submit");
        let deadline = Instant::now() + Duration::from_secs(60);
        let run = loop {
            let run = store.run(done.run).expect("read").expect("run");
            if run.state != mycelium::model::RunState::Running {
                break run;
            }
            assert!(Instant::now() < deadline, "the run did not end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!((run.total, run.failed), (5, 2), "{run:?}");
        let ok = store.result(done.jobs[0]).expect("read").expect("a result");
        assert_eq!((ok["status"].as_u64(), &ok["body"]), (Some(200), &json!({"hello": "world"})), "{ok}");
        assert!(ok["headers"]["content-type"].as_str().unwrap_or("").contains("json"), "{ok}");
        let post = store.result(done.jobs[1]).expect("read").expect("a result");
        assert_eq!(post["body"], "posted", "{post}");
        let flaky_result = store.result(done.jobs[2]).expect("read").expect("retried to success");
        assert_eq!(flaky_result["body"], "fine");
        assert_eq!(flaky.load(Ordering::SeqCst), 2, "one 503, then a success");
        let job = |i: usize| store.job(done.jobs[i]).expect("read").expect("job");
        assert_eq!(job(2).attempt, 2);
        let failures = |i: usize| {
            store
                .failures(&mycelium::storage::FailureQuery { job: Some(done.jobs[i]), ..Default::default() })
                .expect("failures")
        };
        assert!(failures(2)[0].report.message.contains("HTTP 503"), "{:?}", failures(2));
        assert!(failures(2)[0].report.retryable);
        let missing = failures(3);
        assert_eq!((missing.len(), job(3).attempt), (1, 1), "a 404 is not retried");
        assert!(missing[0].report.message.contains("HTTP 404") && !missing[0].report.retryable, "{missing:?}");
        let slow = failures(4);
        assert_eq!(slow.len(), 3, "a timeout is retried up to the policy: {slow:?}");
        assert!(slow[0].report.message.contains("no answer"), "{slow:?}");
    });
}

#[test]
fn runs_and_failures_page_by_offset() {
    let s = Server::start(&[]);
    let read = s.token("read", "reader");
    let _coordinator = Proc::coordinator(&s.store);
    let _elf = Proc::elf("trials", &s.store, &[]);
    let store = mycelium::Store::open(&s.store).expect("open");
    for i in 0..11 {
        store
            .submit(&Submission {
                run: RunSpec::named(format!("r-{i}")),
                jobs: vec![JobSpec::new("x", "y", json!([]))],
            })
            .expect("submit");
    }
    // The twelfth run: seven picks past the end of the fruits, seven failures.
    let picks = (0..7).map(|i| JobSpec::new("trials", "pick", json!([3 + i]))).collect();
    let failing = store.submit(&Submission { run: RunSpec::named("picks"), jobs: picks }).expect("submit");
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let r = Some(read.as_str());
        wait_run(&c, &s, r, failing.run.0).await;
        let page = |path: String| {
            let c = c.clone();
            let url = s.url(&path);
            async move {
                let (st, v) = call(&c, "GET", &url, r, None).await;
                assert_eq!(st, 200, "{path}: {v}");
                v
            }
        };
        let names = |v: &Value| -> Vec<String> {
            v["items"].as_array().expect("items").iter().map(|x| x["name"].as_str().unwrap_or("").to_owned()).collect()
        };

        // Runs: most recent first, 5 a page; `next` is the next offset, absent on the last page.
        let first = page("/api/runs?limit=5".to_owned()).await;
        assert_eq!(names(&first), ["picks", "r-10", "r-9", "r-8", "r-7"], "{first}");
        assert_eq!(first["next"], 5);
        let second = page("/api/runs?limit=5&offset=5".to_owned()).await;
        assert_eq!(names(&second), ["r-6", "r-5", "r-4", "r-3", "r-2"], "{second}");
        assert_eq!(second["next"], 10);
        let last = page("/api/runs?limit=5&offset=10".to_owned()).await;
        assert_eq!(names(&last), ["r-1", "r-0"], "{last}");
        assert!(last.get("next").is_none(), "the last page has no next: {last}");
        let past = page("/api/runs?limit=5&offset=50".to_owned()).await;
        assert_eq!((past["items"].as_array().map(Vec::len), past.get("next")), (Some(0), None), "{past}");
        let running = page("/api/runs?state=running&limit=10&offset=8".to_owned()).await;
        assert_eq!(names(&running), ["r-2", "r-1", "r-0"], "the filter applies before the offset: {running}");

        // Failures: the same, with their filters.
        let ids = |v: &Value| -> Vec<i64> {
            v["items"].as_array().expect("items").iter().map(|x| x["id"].as_i64().unwrap_or(0)).collect()
        };
        let all = page("/api/failures?limit=100".to_owned()).await;
        let all_ids = ids(&all);
        assert_eq!(all_ids.len(), 7, "{all}");
        assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "most recent first: {all_ids:?}");
        let one = page("/api/failures?limit=3&offset=3".to_owned()).await;
        assert_eq!(ids(&one), all_ids[3..6], "{one}");
        assert_eq!(one["next"], 6);
        let end = page(format!("/api/failures?run={}&kind=panic&limit=3&offset=6", failing.run.0)).await;
        assert_eq!(ids(&end), all_ids[6..], "{end}");
        assert!(end.get("next").is_none(), "{end}");

        // Bad paging parameters are refused naming them.
        for (path, needle) in [
            ("/api/runs?offset=-1", "`offset` is `-1`"),
            ("/api/runs?limit=0", "`limit` is `0`"),
            ("/api/runs?offset=ten", "`offset` is `ten`"),
            ("/api/failures?offset=x", "`offset` is `x`"),
            ("/api/failures?limit=501", "`limit` is `501`"),
        ] {
            let (st, v) = call(&c, "GET", &s.url(path), r, None).await;
            assert_eq!(st, 400, "{path}: {v}");
            assert!(v["error"].as_str().is_some_and(|e| e.contains(needle)), "{path}: {v}");
        }
    });
}
