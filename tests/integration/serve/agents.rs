//! Flows and agents through `mycelium serve`, against real elves on a temp
//! store: start a flow, read its history, waits and inbox (also streamed),
//! signal it; signals and emissions; queues with dead letters requeued;
//! schedules paused, resumed and triggered; their metrics; webhooks that
//! emit a signal or signal a flow, with and without a valid HMAC.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, call, json_of};
use crate::util::{Proc, fresh_sqlite, runtime};

/// Polls `GET path` until `done` holds of its body; the body.
pub(crate) async fn until(
    c: &reqwest::Client,
    s: &Server,
    token: Option<&str>,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, v) = call(c, "GET", &s.url(path), token, None).await;
        if st == 200 && done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: GET {path} answered {st} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The error message of an error answer.
fn error(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

/// Asserts `status` and that the error names `needle`.
fn refused(got: (u16, Value), status: u16, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(error(&got.1).contains(needle), "the error should name `{needle}`: {}", got.1);
}

/// Reads an SSE body until `stop` is seen or 20 s pass; the text.
async fn read_until(res: &mut reqwest::Response, stop: &str) -> String {
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains(stop) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, res.chunk()).await;
        let chunk = chunk.unwrap_or_else(|_| panic!("`{stop}` did not come in time; got:\n{text}"));
        match chunk.expect("chunk") {
            Some(c) => text.push_str(&String::from_utf8_lossy(&c)),
            None => break,
        }
    }
    text
}

#[test]
fn flows_signals_queues_and_schedules_through_the_api() {
    let s = Server::start(&["--max-body-bytes", "65536"]);
    let read = s.token("read", "reader");
    let op = s.token("operator", "ops");
    let _coordinator = Proc::coordinator(&s.store);
    let _flows = Proc::elf("flows", &s.store, &[]);
    let _agents = Proc::elf("agents-a", &s.store, &[]);
    let _clock = Proc::elf("agents-clock", &s.store, &[]);
    let marker = tempfile::tempdir().expect("a temp dir");
    let unless = marker.path().join("consumable").display().to_string();
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let (r, o) = (Some(read.as_str()), Some(op.as_str()));

        // Scopes: no token is 401, a read token cannot write.
        for (method, path) in [
            ("GET", "/api/flows"),
            ("GET", "/api/flows/j1"),
            ("GET", "/api/signals"),
            ("GET", "/api/queues"),
            ("GET", "/api/schedules"),
            ("POST", "/api/flows"),
        ] {
            let (st, v) = call(&c, method, &s.url(path), None, None).await;
            assert_eq!(st, 401, "{method} {path}: {v}");
        }
        for path in [
            "/api/flows",
            "/api/flows/j1/signals/go",
            "/api/signals/ping",
            "/api/queues/work/messages",
            "/api/queues/work/requeue",
            "/api/queues/work/purge",
            "/api/exchanges/bcast/messages",
            "/api/schedules/x/pause",
            "/api/schedules/x/resume",
            "/api/schedules/x/trigger",
        ] {
            refused(call(&c, "POST", &s.url(path), r, Some("{}")).await, 403, "needs operator");
        }

        // Start a flow; the same key starts nothing new.
        let start = json!({"task": "flows/greeter", "key": "greet-1"}).to_string();
        let (st, started) = call(&c, "POST", &s.url("/api/flows"), o, Some(&start)).await;
        assert_eq!(st, 201, "{started}");
        let job = started["job"].as_i64().expect("a job");
        let (st, again) = call(&c, "POST", &s.url("/api/flows"), o, Some(&start)).await;
        assert_eq!((st, &again["job"], &again["existing"]), (200, &json!(job), &json!(true)), "{again}");
        refused(call(&c, "POST", &s.url("/api/flows"), o, Some("{\"task\": ")).await, 400, "StartRequest");
        refused(call(&c, "POST", &s.url("/api/flows"), o, Some("{\"task\": \"greeter\"}")).await, 400, "`task`");
        let bad_args = json!({"task": "flows/greeter", "args": 3}).to_string();
        refused(call(&c, "POST", &s.url("/api/flows"), o, Some(&bad_args)).await, 400, "`args`");
        let big = json!({"task": "flows/greeter", "args": ["x".repeat(70_000)]}).to_string();
        assert_eq!(call(&c, "POST", &s.url("/api/flows"), o, Some(&big)).await.0, 413);

        // It writes a line and waits for `go`: its history, waits and inbox say so.
        let flow =
            until(&c, &s, r, "/api/flows/greet-1", "the flow waits for go", |v| v["waits"]["signals"] == json!(["go"]))
                .await;
        assert_eq!((flow["job"]["id"].as_i64(), flow["job"]["state"].as_str()), (Some(job), Some("waiting")), "{flow}");
        let kinds: Vec<&str> =
            flow["steps"].as_array().expect("steps").iter().filter_map(|s| s["kind"].as_str()).collect();
        assert_eq!(kinds, ["write", "signal"], "{flow}");
        assert_eq!(flow["inboxes"], json!(["stdout"]), "{flow}");
        let (_, same) = call(&c, "GET", &s.url(&format!("/api/flows/j{job}")), r, None).await;
        assert_eq!(same["job"]["id"], job, "a job id names it too: {same}");
        let (_, waiting) = call(&c, "GET", &s.url("/api/flows"), r, None).await;
        assert_eq!(waiting["items"][0]["id"], job, "{waiting}");
        let (_, lines) = call(&c, "GET", &s.url("/api/flows/greet-1/inbox?name=stdout"), r, None).await;
        assert_eq!(lines[0]["line"], "hello from the flow", "{lines}");
        refused(call(&c, "GET", &s.url("/api/flows/j999"), r, None).await, 404, "999");
        refused(call(&c, "GET", &s.url("/api/flows/no-such-key"), r, None).await, 404, "no-such-key");
        refused(call(&c, "GET", &s.url("/api/flows/greet-1/inbox?from=x"), r, None).await, 400, "`from`");

        // The inbox streamed: the first line, then, once signalled, the last and the end.
        let mut stream =
            c.get(s.url("/api/flows/greet-1/inbox/stream")).bearer_auth(&read).send().await.expect("stream");
        assert_eq!(stream.status().as_u16(), 200);
        let first = read_until(&mut stream, "hello from the flow").await;
        assert!(first.contains("event: line"), "{first}");
        let sig = |name: &str| s.url(&format!("/api/flows/greet-1/signals/{name}"));
        refused(call(&c, "POST", &sig("go"), o, Some("{\"by\": ")).await, 400, "not JSON");
        refused(call(&c, "POST", &sig("no%20spaces"), o, None).await, 400, "no spaces");
        refused(call(&c, "POST", &s.url("/api/flows/j999/signals/go"), o, None).await, 404, "999");
        let big = format!("\"{}\"", "x".repeat(70_000));
        assert_eq!(call(&c, "POST", &sig("go"), o, Some(&big)).await.0, 413, "an oversized payload");
        let (st, sent) = call(&c, "POST", &sig("go"), o, None).await;
        assert_eq!((st, &sent["flow"], &sent["woke"]), (200, &json!(job), &json!(true)), "{sent}");
        let rest = read_until(&mut stream, "event: end").await;
        assert!(rest.contains("\"line\":\"bye\""), "{rest}");
        let done =
            until(&c, &s, r, &format!("/api/jobs/{job}"), "the flow ends", |v| v["job"]["state"] == "succeeded").await;
        assert_eq!(done["result"], 2, "{done}");
        let (_, ended) = call(&c, "GET", &s.url("/api/flows/greet-1"), r, None).await;
        assert_eq!(
            (ended["waits"]["waiting"].as_bool(), ended["signals"][0]["consumed_by"].as_i64()),
            (Some(false), Some(1))
        );
        let (st, v) = call(&c, "POST", &sig("go"), o, None).await;
        assert_eq!(st, 400, "an ended flow takes no signal: {v}");

        // Signals: declared with receivers; emitted, once per key; unknown and mistyped ones refused.
        let (_, signals) = call(&c, "GET", &s.url("/api/signals"), r, None).await;
        let ping = signals.as_array().expect("signals").iter().find(|x| x["name"] == "ping").cloned().expect("ping");
        assert_eq!(ping["receivers"][0]["task"], "ping_a", "{ping}");
        let (st, e) = call(&c, "POST", &s.url("/api/signals/ping?key=k1"), o, Some("{\"n\": 5}")).await;
        assert_eq!(
            (st, e["deliveries"][0]["task"].as_str(), &e["existing"]),
            (200, Some("ping_a"), &json!(false)),
            "{e}"
        );
        let (_, e2) = call(&c, "POST", &s.url("/api/signals/ping?key=k1"), o, Some("{\"n\": 5}")).await;
        assert_eq!((&e2["run"], &e2["existing"]), (&e["run"], &json!(true)), "{e2}");
        let delivered = e["deliveries"][0]["job"].as_i64().expect("a job");
        let got =
            until(&c, &s, r, &format!("/api/jobs/{delivered}"), "ping_a runs", |v| v["job"]["state"] == "succeeded")
                .await;
        assert_eq!(got["result"], 5);
        refused(call(&c, "POST", &s.url("/api/signals/nope"), o, Some("{}")).await, 404, "nope");
        let (st, v) = call(&c, "POST", &s.url("/api/signals/ping"), o, Some("{\"n\": \"five\"}")).await;
        assert_eq!(st, 400, "a payload off the schema: {v}");
        refused(call(&c, "POST", &s.url("/api/signals/ping"), o, Some("{\"n\": ")).await, 400, "not JSON");
        let big = format!("\"{}\"", "x".repeat(70_000));
        assert_eq!(call(&c, "POST", &s.url("/api/signals/ping"), o, Some(&big)).await.0, 413);

        // Queues: a message dies, is listed with its failure, is requeued and then consumed.
        let (_, queues) = call(&c, "GET", &s.url("/api/queues"), r, None).await;
        let names: Vec<&str> = queues.as_array().expect("queues").iter().filter_map(|q| q["name"].as_str()).collect();
        assert!(names.contains(&"doomed") && names.contains(&"work"), "{queues}");
        let msg = json!({"messages": [{"n": 1, "unless": unless}]}).to_string();
        let (st, sent) = call(&c, "POST", &s.url("/api/queues/doomed/messages"), o, Some(&msg)).await;
        assert_eq!((st, sent["messages"][0]["queue"].as_str()), (200, Some("doomed")), "{sent}");
        let message = sent["messages"][0]["job"].as_i64().expect("a job");
        let dead = until(&c, &s, r, "/api/queues/doomed/dead", "the message dies", |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        assert_eq!(dead[0]["job"]["id"], message, "{dead}");
        assert!(
            dead[0]["last_failure"]["report"]["message"].as_str().unwrap_or("").contains("cannot be consumed yet"),
            "{dead}"
        );
        let (_, q) = call(&c, "GET", &s.url("/api/queues/doomed"), r, None).await;
        assert_eq!((q["queue"]["dead"].as_i64(), q["queue"]["name"].as_str()), (Some(1), Some("doomed")), "{q}");
        refused(
            call(&c, "POST", &s.url("/api/queues/doomed/requeue"), o, Some("{\"jobs\": [99999]}")).await,
            400,
            "99999",
        );
        std::fs::write(&unless, "").expect("make the message consumable");
        let body = json!({"jobs": [message]}).to_string();
        let (st, requeued) = call(&c, "POST", &s.url("/api/queues/doomed/requeue"), o, Some(&body)).await;
        assert_eq!((st, &requeued["jobs"]), (200, &json!([message])), "{requeued}");
        until(&c, &s, r, &format!("/api/jobs/{message}"), "the requeued message is consumed", |v| {
            v["job"]["state"] == "succeeded"
        })
        .await;
        let (_, dead) = call(&c, "GET", &s.url("/api/queues/doomed/dead"), r, None).await;
        assert_eq!(dead, json!([]));
        let (st, p) = call(&c, "POST", &s.url("/api/queues/work/purge"), o, None).await;
        assert_eq!((st, p["queue"].as_str(), p["purged"].is_u64()), (200, Some("work"), true), "{p}");
        let (st, fan) =
            call(&c, "POST", &s.url("/api/exchanges/bcast/messages"), o, Some("{\"messages\": [{\"n\": 2}]}")).await;
        let mut reached: Vec<&str> =
            fan["messages"].as_array().expect("sent").iter().filter_map(|m| m["queue"].as_str()).collect();
        reached.sort();
        assert_eq!((st, reached), (200, vec!["f_one", "f_two"]), "{fan}");
        refused(call(&c, "GET", &s.url("/api/queues/nope"), r, None).await, 404, "nope");
        refused(call(&c, "GET", &s.url("/api/queues/nope/dead"), r, None).await, 404, "nope");
        refused(
            call(&c, "POST", &s.url("/api/queues/nope/messages"), o, Some("{\"messages\": [{}]}")).await,
            404,
            "nope",
        );
        refused(
            call(&c, "POST", &s.url("/api/queues/work/messages"), o, Some("{\"messages\": []}")).await,
            400,
            "`messages`",
        );
        let (st, v) =
            call(&c, "POST", &s.url("/api/queues/work/messages"), o, Some("{\"messages\": [{\"n\": \"x\"}]}")).await;
        assert_eq!(st, 400, "a message off the schema: {v}");
        refused(
            call(&c, "POST", &s.url("/api/queues/work/messages"), o, Some("{\"msgs\": []}")).await,
            400,
            "SendRequest",
        );
        let big = json!({"messages": [{"n": 1, "unless": "x".repeat(70_000)}]}).to_string();
        assert_eq!(call(&c, "POST", &s.url("/api/queues/work/messages"), o, Some(&big)).await.0, 413);

        // Schedules: listed with their next tick; paused, triggered by hand, resumed.
        let beat = "/api/schedules/agents-clock%2Fbeat";
        let (_, all) = call(&c, "GET", &s.url("/api/schedules"), r, None).await;
        let listed = all.as_array().expect("schedules").iter().find(|x| x["name"] == "agents-clock/beat").cloned();
        let listed = listed.unwrap_or_else(|| panic!("the declared schedule is listed: {all}"));
        assert!(listed["next_due"].is_i64() && listed["next_in_ms"].is_i64(), "{listed}");
        let (st, paused) = call(&c, "POST", &s.url(&format!("{beat}/pause")), o, None).await;
        assert_eq!((st, &paused["paused"]), (200, &json!(true)), "{paused}");
        let (_, all) = call(&c, "GET", &s.url("/api/schedules"), r, None).await;
        assert_eq!(all[0]["state"], "paused", "{all}");
        let (st, fired) = call(&c, "POST", &s.url(&format!("{beat}/trigger")), o, None).await;
        assert_eq!((st, fired["jobs"][0]["schedule"].as_str()), (200, Some("agents-clock/beat")), "{fired}");
        let tick = fired["jobs"][0]["job"].as_i64().expect("a job");
        until(&c, &s, r, &format!("/api/jobs/{tick}"), "the triggered tick runs", |v| v["job"]["state"] == "succeeded")
            .await;
        let (st, resumed) = call(&c, "POST", &s.url(&format!("{beat}/resume")), o, None).await;
        assert_eq!((st, &resumed["paused"]), (200, &json!(false)), "{resumed}");
        refused(call(&c, "POST", &s.url("/api/schedules/nope/pause"), o, None).await, 404, "nope");
        refused(call(&c, "POST", &s.url("/api/schedules/nope/trigger"), o, None).await, 404, "nope");

        // Metrics: queue depths and ages, flows waiting, schedules.
        let (_, second) = call(
            &c,
            "POST",
            &s.url("/api/flows"),
            o,
            Some(&json!({"task": "flows/greeter", "key": "greet-2"}).to_string()),
        )
        .await;
        until(&c, &s, r, "/api/flows/greet-2", "the second flow waits", |v| v["waits"]["waiting"] == true).await;
        let text =
            c.get(s.url("/metrics")).bearer_auth(&read).send().await.expect("metrics").text().await.expect("text");
        for needle in [
            "mycelium_queue_messages{queue=\"doomed\",state=\"dead\"} 0",
            "mycelium_queue_messages{queue=\"work\",state=\"waiting\"}",
            "mycelium_queue_oldest_age_seconds{queue=\"doomed\"} 0",
            "mycelium_flows_waiting{elf=\"flows\",task=\"greeter\"} 1",
            "mycelium_schedule_next_fire_timestamp_seconds{schedule=\"agents-clock/beat\"}",
            "mycelium_schedule_fired{schedule=\"agents-clock/beat\"}",
            "mycelium_schedules{state=\"paused\"} 0",
            "mycelium_jobs{state=\"waiting\",elf=\"flows\",task=\"greeter\"} 1",
        ] {
            assert!(text.contains(needle), "metrics lack `{needle}`:\n{text}");
        }
        assert!(second["job"].is_i64());
    });
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub signs.
fn sign(secret: &[u8], body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("key");
    mac.update(body.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|x| format!("{x:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn webhooks_emit_signals_and_signal_flows_only_when_signed() {
    let (store, dir) = fresh_sqlite();
    let hooks = dir.path().join("hooks.json");
    std::fs::write(
        &hooks,
        json!({"hooks": {
            "pinged": {"action": {"emit": {"signal": "ping"}}, "secret_env": "HOOK_SECRET",
                       "idempotency_header": "X-GitHub-Delivery"},
            "approve": {"action": {"signal": {"flow_param": "flow", "signal": "go"}}, "secret_env": "HOOK_SECRET"},
            "approve-one": {"action": {"signal": {"flow": "g2", "signal": "go"}}}
        }})
        .to_string(),
    )
    .expect("write hooks");
    let path = hooks.display().to_string();
    let secret = "s3cret";
    let s = Server::with_env(store, dir, &["--hooks", &path], &[("HOOK_SECRET", secret)]);
    let op = s.token("operator", "hooks");
    let _flows = Proc::elf("flows", &s.store, &[]);
    let _agents = Proc::elf("agents-a", &s.store, &[]);
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let o = Some(op.as_str());
        let post = |path: &str, body: &'static str, sig: Option<String>, delivery: &str| {
            let mut req = c.post(s.url(path)).header("x-github-delivery", delivery).body(body);
            if let Some(sig) = sig {
                req = req.header("x-hub-signature-256", sig);
            }
            req.send()
        };

        // Emit: refused unsigned or badly signed (nothing written), accepted signed, once per delivery.
        let body = "{\"n\": 7}";
        let res = post("/hooks/pinged", body, None, "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let res = post("/hooks/pinged", body, Some(sign(b"another secret", body)), "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let (_, runs) = call(&c, "GET", &s.url("/api/runs"), o, None).await;
        assert_eq!(runs["items"], json!([]), "refused deliveries write nothing: {runs}");
        let res = post("/hooks/pinged", body, Some(sign(secret.as_bytes(), body)), "d1").await.expect("send");
        assert_eq!(res.status().as_u16(), 202);
        let v: Value = json_of(res).await;
        assert_eq!((v["action"].as_str(), v["existing"].as_bool()), (Some("emit"), Some(false)), "{v}");
        let delivered = v["deliveries"][0].as_i64().expect("a receiver's job");
        let again: Value =
            json_of(post("/hooks/pinged", body, Some(sign(secret.as_bytes(), body)), "d1").await.expect("send")).await;
        assert_eq!((&again["run"], &again["existing"]), (&v["run"], &json!(true)), "a redelivery: {again}");
        let got = super::agents::until(&c, &s, o, &format!("/api/jobs/{delivered}"), "the receiver runs", |j| {
            j["job"]["state"] == "succeeded"
        })
        .await;
        assert_eq!((got["job"]["task"].as_str(), &got["result"]), (Some("ping_a"), &json!(7)), "{got}");
        let off = "{\"n\": \"seven\"}";
        let res = post("/hooks/pinged", off, Some(sign(secret.as_bytes(), off)), "d2").await.expect("send");
        assert_eq!(res.status().as_u16(), 400, "a payload off the signal's schema");

        // Signal a flow named by the query: its flow wakes and ends.
        for key in ["g1", "g2"] {
            let start = json!({"task": "flows/greeter", "key": key}).to_string();
            let (st, v) = call(&c, "POST", &s.url("/api/flows"), o, Some(&start)).await;
            assert_eq!(st, 201, "{v}");
            super::agents::until(&c, &s, o, &format!("/api/flows/{key}"), "the flow waits", |v| {
                v["waits"]["signals"] == json!(["go"])
            })
            .await;
        }
        let null = "null";
        let res = post("/hooks/approve?flow=g1", null, Some(sign(secret.as_bytes(), "nul")), "x").await.expect("send");
        assert_eq!(res.status().as_u16(), 401, "a signature of another body");
        let res = post("/hooks/approve", null, Some(sign(secret.as_bytes(), null)), "x").await.expect("send");
        assert_eq!(res.status().as_u16(), 400, "no flow named");
        let v: Value = json_of(res).await;
        assert!(error(&v).contains("?flow="), "{v}");
        let res = post("/hooks/approve?flow=g9", null, Some(sign(secret.as_bytes(), null)), "x").await.expect("send");
        assert_eq!(res.status().as_u16(), 404, "an unknown flow");
        let (_, g1) = call(&c, "GET", &s.url("/api/flows/g1"), o, None).await;
        assert_eq!(g1["signals"], json!([]), "refused deliveries send nothing: {g1}");
        let res = post("/hooks/approve?flow=g1", null, Some(sign(secret.as_bytes(), null)), "x").await.expect("send");
        assert_eq!(res.status().as_u16(), 202);
        let v: Value = json_of(res).await;
        assert_eq!(
            (v["action"].as_str(), &v["flow"], v["woke"].as_bool()),
            (Some("signal"), &g1["job"]["id"], Some(true)),
            "{v}"
        );
        super::agents::until(&c, &s, o, "/api/flows/g1", "the flow ends", |v| v["job"]["state"] == "succeeded").await;

        // A hook without a secret needs an operator token; its flow is fixed in the file.
        let res = post("/hooks/approve-one", null, None, "y").await.expect("send");
        assert_eq!(res.status().as_u16(), 401);
        let res = c.post(s.url("/hooks/approve-one")).bearer_auth(&op).body(null).send().await.expect("send");
        assert_eq!(res.status().as_u16(), 202);
        super::agents::until(&c, &s, o, "/api/flows/g2", "the other flow ends", |v| v["job"]["state"] == "succeeded")
            .await;
    });
}

#[test]
fn schedules_are_added_and_removed_over_http_with_errors_naming_the_input() {
    let s = Server::start(&[]);
    let read = s.token("read", "reader");
    let op = s.token("operator", "ops");
    let _coordinator = Proc::coordinator(&s.store);
    let _elf = Proc::elf("trials", &s.store, &[]);
    runtime().block_on(async {
        let c = reqwest::Client::new();
        let (r, o) = (Some(read.as_str()), Some(op.as_str()));
        let add = |doc: Value| doc.to_string();
        let good =
            json!({"name": "greet-often", "task": "trials/greet", "every": "1s", "args": ["tick"], "overlap": "skip"});

        // Scopes: no token is 401, a read token may not add or remove.
        assert_eq!(call(&c, "POST", &s.url("/api/schedules"), None, Some(&add(good.clone()))).await.0, 401);
        refused(call(&c, "POST", &s.url("/api/schedules"), r, Some(&add(good.clone()))).await, 403, "needs operator");
        refused(call(&c, "DELETE", &s.url("/api/schedules/greet-often"), r, None).await, 403, "needs operator");

        // Bad input: each error names the field, and nothing is added.
        for (doc, needle) in [
            (json!({"name": "x", "task": "trials/greet", "cron": "0 25 * * *", "args": ["a"]}), "`cron`"),
            (
                json!({"name": "x", "task": "trials/greet", "cron": "0 3 * * *", "tz": "Mars/Base", "args": ["a"]}),
                "Mars/Base",
            ),
            (json!({"name": "x", "task": "trials/nope", "every": "1h", "args": []}), "`task` (trials/nope)"),
            (json!({"name": "x", "task": "greet", "every": "1h"}), "`task`"),
            (json!({"name": "x", "task": "trials/greet", "every": "soon", "args": ["a"]}), "`every`"),
            (json!({"name": "x", "task": "trials/greet", "every": "1h", "cron": "0 3 * * *"}), "`every` and `cron`"),
            (json!({"name": "x", "task": "trials/greet", "args": ["a"]}), "`every` and `cron`"),
            (json!({"name": "x", "task": "trials/greet", "every": "1h", "args": ["a"], "missed": "never"}), "`missed`"),
            (
                json!({"name": "x", "task": "trials/greet", "every": "1h", "args": []}),
                "takes 1 argument(s) (name: String)",
            ),
            (json!({"name": "x y", "task": "trials/greet", "every": "1h", "args": ["a"]}), "schedule name `x y`"),
            (json!({"name": "x", "task": "trials/greet", "every": "1h", "args": ["a"], "colour": "red"}), "colour"),
            (json!({"task": "trials/greet", "every": "1h"}), "`name`"),
        ] {
            refused(call(&c, "POST", &s.url("/api/schedules"), o, Some(&add(doc))).await, 400, needle);
        }
        refused(call(&c, "POST", &s.url("/api/schedules"), o, Some("{\"name\": ")).await, 400, "NewSchedule");
        let (_, all) = call(&c, "GET", &s.url("/api/schedules"), r, None).await;
        assert_eq!(all, json!([]), "no bad request added a schedule");

        // Added (201), listed, and it fires through the coordinator.
        let (st, added) = call(&c, "POST", &s.url("/api/schedules"), o, Some(&add(good.clone()))).await;
        assert_eq!(st, 201, "{added}");
        assert_eq!(
            (&added["name"], &added["origin"], &added["spec"], &added["overlap"]),
            (
                &json!("greet-often"),
                &json!({"by": "added"}),
                &json!({"kind": "every", "period_ms": 1000, "start_after_ms": 0}),
                &json!("skip")
            ),
            "{added}"
        );
        refused(call(&c, "POST", &s.url("/api/schedules"), o, Some(&add(good.clone()))).await, 400, "exists already");
        let fired = until(&c, &s, r, "/api/jobs?elf=trials&task=greet", "the schedule's tick runs", |v| {
            v["items"].as_array().is_some_and(|a| a.iter().any(|j| j["state"] == "succeeded"))
        })
        .await;
        assert_eq!(fired["items"][0]["args"], json!(["tick"]), "{fired}");
        let (_, all) = call(&c, "GET", &s.url("/api/schedules"), r, None).await;
        assert_eq!(all[0]["name"], "greet-often", "{all}");

        // Removed: 200 with what it was, then 404 naming it; the list is empty.
        let (st, removed) = call(&c, "DELETE", &s.url("/api/schedules/greet-often"), o, None).await;
        assert_eq!((st, &removed["name"]), (200, &json!("greet-often")), "{removed}");
        refused(call(&c, "DELETE", &s.url("/api/schedules/greet-often"), o, None).await, 404, "greet-often");
        let (_, all) = call(&c, "GET", &s.url("/api/schedules"), r, None).await;
        assert_eq!(all, json!([]), "{all}");
    });
}
