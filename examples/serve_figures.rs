//! The figures of `mycelium serve` (a benchmark, not a test): the API's
//! `GET /api/runs/<id>` latency, how soon the event stream delivers a
//! commit, and the dashboard's first paint of a run of 10,000 jobs in
//! headless Chromium (through the DevTools protocol), on a store that holds
//! 100,000 jobs (and 10,000 more, failed, for the failures list).
//!
//! ```sh
//! cargo run --release --example serve_figures
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use mycelium::model::{JobSpec, RunSpec, Submission};
use serde_json::{Value, json};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A run of `n` jobs: a fan-out of n-1 parts into one join.
fn fan(name: &str, n: usize) -> Submission {
    let mut jobs: Vec<JobSpec> =
        (0..n - 1).map(|i| JobSpec::new("big", "part", json!([i])).with_key(format!("p{i}"))).collect();
    let refs: Vec<_> = (0..n - 1).map(|i| json!({"$output": format!("p{i}")})).collect();
    jobs.push(JobSpec::new("big", "join", json!([refs])).with_key("join"));
    Submission { run: RunSpec::named(name), jobs }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("figures.db").display());
    let store = mycelium::Store::open(&url)?;
    // 100,000 jobs in the store: nine runs of 10,000 and the one we look at.
    for i in 0..9 {
        store.submit(&fan(&format!("filler-{i}"), 10_000))?;
    }
    let big = store.submit(&fan("big", 10_000))?;
    println!("store: 100,000 jobs; the run looked at: r{} with 10,000 jobs", big.run);
    // 10,000 failures for the failures list: a root job failed by hand, and
    // the 9,999 jobs that take its output could not run; 200 small runs for
    // the runs list.
    let mut jobs = vec![JobSpec::new("big", "root", json!([])).with_key("root")];
    jobs.extend((0..9_999).map(|i| JobSpec::new("big", "leaf", json!([i, {"$output": "root"}]))));
    let failing = store.submit(&Submission { run: RunSpec::named("failing"), jobs })?;
    let me = mycelium::model::InstanceId("figures".into());
    let claimed = store.claim(&mycelium::storage::ClaimRequest {
        instance: &me,
        elf: "big",
        tasks: &["root".to_owned()],
        max: 1,
        ttl_ms: 60_000,
    })?;
    let root = claimed.first().ok_or_else(|| anyhow::anyhow!("the root job was not claimed"))?;
    store.fail(
        &root.lease,
        &mycelium::model::FailureReport::new(mycelium::model::FailureKind::Error, "the root fails"),
    )?;
    for i in 0..200 {
        store.submit(&fan(&format!("small-{i}"), 2))?;
    }
    println!(
        "and r{}: a failed root and 9,999 jobs that could not run (10,000 failures); 200 runs of 2 jobs",
        failing.run
    );

    // Two servers on the store: one that checks a bearer token (the API
    // figures), one that lets loopback in (the browser, which has no token).
    let secret = "myc_figures_0123456789abcdef";
    let hash: String =
        <sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    store.create_token(&mycelium::storage::Token {
        name: "figures".into(),
        scope: mycelium::storage::Scope::Read,
        hash,
        created_at: mycelium::model::now_ms(),
        revoked_at: None,
    })?;
    let mut bases = Vec::new();
    for loopback in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        drop(listener);
        let options = mycelium::serve::Options {
            listen: format!("127.0.0.1:{port}").parse()?,
            allow_loopback_without_token: loopback,
            ..Default::default()
        };
        let server_store = store.clone();
        tokio::spawn(async move { mycelium::serve::serve(server_store, options, std::future::pending()).await });
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let (base, open_base) = (bases[0].clone(), bases[1].clone());
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert("authorization", format!("Bearer {secret}").parse()?);
    let client = reqwest::Client::builder().default_headers(auth).build()?;
    for b in &bases {
        for _ in 0..100 {
            if client.get(format!("{b}/api/openapi.json")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // 1. GET /api/runs/<id> (the run, its progress, its first 50 jobs).
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let mut took = Vec::new();
        for _ in 0..400 {
            let t = Instant::now();
            let res = client.get(format!("{base}/api/runs/{}", big.run)).send().await?;
            let _ = res.bytes().await?;
            took.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        rounds.push((percentile(took.clone(), 0.5), percentile(took, 0.99)));
    }
    let p50s: Vec<f64> = rounds.iter().map(|r| r.0).collect();
    println!(
        "GET /api/runs/<id> (with a bearer token; the run and its first 50 jobs): p50 {:.3} ms (median of 5 rounds of 400; rounds {:?}); p99 {:.3} ms",
        median(p50s.clone()),
        p50s.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>(),
        median(rounds.iter().map(|r| r.1).collect())
    );

    // Responsiveness with 100,000 jobs in the store: the pages' other calls.
    for (what, path) in [
        (
            "a page of 50 jobs deep in the run",
            format!("/api/runs/{}/jobs?after={}&limit=50", big.run, big.jobs[9000].0),
        ),
        ("the run's graph (10,000 jobs, summarised)", format!("/api/runs/{}/graph?max_nodes=300", big.run)),
        ("a page of 100 jobs across runs", "/api/jobs?after=95000&limit=100".to_owned()),
        ("the first page of 25 runs", "/api/runs?limit=25".to_owned()),
        ("the last page of 25 runs (offset 200 of 211)", "/api/runs?limit=25&offset=200".to_owned()),
        ("the first page of 50 failures", "/api/failures?limit=50".to_owned()),
        ("a page of 50 failures at offset 9,950 (of 10,000)", "/api/failures?limit=50&offset=9950".to_owned()),
        ("/metrics (a scan of 100,000 jobs, uncached)", "/metrics".to_owned()),
    ] {
        let mut took = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let res = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(res.status().is_success(), "{path}: {}", res.status());
            let _ = res.bytes().await?;
            took.push(t.elapsed().as_secs_f64() * 1000.0);
            if path == "/metrics" {
                tokio::time::sleep(Duration::from_millis(5100)).await;
            }
        }
        println!("{what}: median {:.1} ms of 5", median(took));
    }

    // 2. Event stream: from a commit (submit returned) to the event's arrival.
    let mut lat = Vec::new();
    for i in 0..20 {
        let mut res = client.get(format!("{base}/api/events/stream")).send().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s2 = store.clone();
        let committed = tokio::task::spawn_blocking(move || {
            let r = s2.submit(&fan(&format!("sse-{i}"), 2));
            (Instant::now(), r)
        })
        .await?;
        let (at, submitted) = committed;
        let run = submitted?.run;
        let mut text = String::new();
        let needle = format!("\"run\":{}", run.0);
        while !text.contains(&needle) {
            let chunk = res.chunk().await?.ok_or_else(|| anyhow::anyhow!("stream closed"))?;
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        lat.push(at.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "SSE: event delivered {:.1} ms after its commit (median of 20; max {:.1} ms)",
        median(lat.clone()),
        lat.iter().cloned().fold(0.0, f64::max)
    );

    // 3. First paint of the run page in headless Chromium, by DevTools.
    let figures = tokio::task::spawn_blocking(move || first_paint(&format!("{open_base}/runs/{}", big.run))).await??;
    println!(
        "dashboard: run of 10,000 jobs rendered (graph summarised, first 50 jobs) {:.0} ms after navigation \
         (median of {}; runs {:?}); first contentful paint {:.0} ms",
        median(figures.iter().map(|f| f.0).collect()),
        figures.len(),
        figures.iter().map(|f| f.0.round()).collect::<Vec<_>>(),
        median(figures.iter().map(|f| f.1).collect())
    );
    Ok(())
}

/// A minimal WebSocket client (text frames, client-masked), enough for
/// the DevTools protocol.
struct Ws(TcpStream, u64);

impl Ws {
    fn connect(url: &str) -> anyhow::Result<Ws> {
        let rest = url.strip_prefix("ws://").ok_or_else(|| anyhow::anyhow!("not ws: {url}"))?;
        let (host, path) = rest.split_once('/').ok_or_else(|| anyhow::anyhow!("no path"))?;
        let mut s = TcpStream::connect(host)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bXljZWxpdW0tZmlndXJlcw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        anyhow::ensure!(head.starts_with(b"HTTP/1.1 101"), "no upgrade: {}", String::from_utf8_lossy(&head));
        Ok(Ws(s, 0))
    }

    fn send(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.1 += 1;
        let id = self.1;
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        let mut frame = vec![0x81u8];
        let n = text.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else if n < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = [7u8, 1, 3, 9];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame)?;
        loop {
            let msg: Value = serde_json::from_slice(&self.read()?)?;
            if msg["id"].as_u64() == Some(id) {
                return Ok(msg);
            }
        }
    }

    fn read(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h)?;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.0.read_exact(&mut b)?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.0.read_exact(&mut b)?;
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.0.read_exact(&mut payload)?;
            out.extend_from_slice(&payload);
            if h[0] & 0x80 != 0 {
                return Ok(out);
            }
        }
    }
}

/// Navigates headless Chromium to `url` five times; each time, the ms from
/// navigation start to the dashboard's `mycelium:rendered` mark, and to the
/// first contentful paint.
fn first_paint(url: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let profile = tempfile::tempdir()?;
    let mut chrome = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1360,900",
            "--remote-debugging-port=0",
            &format!("--user-data-dir={}", profile.path().display()),
            "about:blank",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stderr = chrome.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let browser = loop {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("chromium said nothing"))??;
        if let Some(ws) = line.split("DevTools listening on ").nth(1) {
            break ws.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let host = browser.trim_start_matches("ws://").split('/').next().unwrap_or_default().to_owned();
    let targets: Value = serde_json::from_str(&http_get(&host, "/json/list")?)?;
    let page = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no page target"))?
        .to_owned();
    let mut ws = Ws::connect(&page)?;
    ws.send("Page.enable", json!({}))?;
    let mut out = Vec::new();
    for i in 0..6 {
        ws.send("Page.navigate", json!({"url": format!("{url}?n={i}")}))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = ws.send(
                "Runtime.evaluate",
                json!({"expression": "document.getElementById('page') && document.getElementById('page').dataset.ready || ''", "returnByValue": true}),
            )?;
            if r["result"]["result"]["value"] == "1" {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the page never rendered");
            std::thread::sleep(Duration::from_millis(10));
        }
        let r = ws.send(
            "Runtime.evaluate",
            json!({"expression": "JSON.stringify([performance.getEntriesByName('mycelium:rendered')[0].startTime, (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime])", "returnByValue": true}),
        )?;
        let pair: Vec<f64> = serde_json::from_str(r["result"]["result"]["value"].as_str().unwrap_or("[]"))?;
        // The first navigation warms the browser's caches: not counted.
        if i > 0 && pair.len() == 2 {
            out.push((pair[0], pair[1]));
        }
    }
    let _ = chrome.kill();
    let _ = chrome.wait();
    Ok(out)
}

/// A GET of DevTools' own HTTP endpoint (which keeps connections open:
/// read the body by its length).
fn http_get(host: &str, path: &str) -> anyhow::Result<String> {
    let s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(&s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")?;
    let mut reader = BufReader::new(s);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
