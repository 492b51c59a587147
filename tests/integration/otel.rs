//! OpenTelemetry (the `otel` feature): a real elf, given
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, exports one span per job with its run and
//! job ids to an OTLP/HTTP collector, here a tiny one in the test that
//! records what it is sent.
//!
//! `cargo test --features otel --test integration otel`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mycelium::model::{JobSpec, RunSpec, Submission};
use mycelium::storage::JobQuery;
use serde_json::{Value, json};

use crate::util::{Proc, fresh_sqlite};

/// What the collector was sent: each request's path and JSON body.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// An OTLP/HTTP collector on a free port, answering 200 to every POST.
struct Collector {
    url: String,
    received: Received,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let received: Received = Arc::default();
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || serve(stream, &sink));
            }
        });
        Collector { url, received }
    }

    /// The spans received so far, each with its service's name.
    fn spans(&self) -> Vec<(String, Value)> {
        let got = self.received.lock().map(|g| g.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for (path, body) in got {
            assert_eq!(path, "/v1/traces", "spans go to the traces path");
            for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                let service = attribute(&rs["resource"], "service.name").as_ref().and_then(text).unwrap_or_default();
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for span in ss["spans"].as_array().into_iter().flatten() {
                        out.push((service.clone(), span.clone()));
                    }
                }
            }
        }
        out
    }
}

/// Reads requests off one connection (kept alive) until it closes.
fn serve(stream: TcpStream, sink: &Received) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let doc: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| json!({ "not_json": e.to_string(), "body": String::from_utf8_lossy(&body) }));
        if let Ok(mut g) = sink.lock() {
            g.push((path, doc));
        }
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The value of attribute `key` of an OTLP object with `attributes`.
fn attribute(of: &Value, key: &str) -> Option<Value> {
    of["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| a["value"].clone())
}

/// A string or integer attribute value as text (OTLP JSON writes 64-bit
/// integers as strings).
fn text(v: &Value) -> Option<String> {
    if let Some(s) = v["stringValue"].as_str() {
        return Some(s.to_owned());
    }
    match &v["intValue"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[test]
fn an_elfs_job_spans_reach_an_otlp_collector_with_run_and_job_ids() {
    let collector = Collector::start();
    let (url, _dir) = fresh_sqlite();
    let _coordinator = Proc::coordinator(&url);
    let _elf = Proc::elf_with(
        "trials",
        &url,
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url), ("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let store = mycelium::Store::open(&url).expect("open the store");
    let done = store
        .submit(&Submission {
            run: RunSpec::named("traced"),
            jobs: vec![JobSpec::new("trials", "greet", json!(["otel"])), JobSpec::new("trials", "pick", json!([7]))],
        })
        .expect("submit");
    let (run, greet, pick) = (done.run.0, done.jobs[0].0, done.jobs[1].0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = store.jobs(&JobQuery { run: Some(done.run), ..JobQuery::default() }).expect("read the jobs");
        if jobs.iter().all(|j| j.state.is_final()) {
            break;
        }
        assert!(Instant::now() < deadline, "the jobs did not end: {jobs:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each job's span arrives with its run and job ids and how it ended.
    let find = |job: i64| {
        collector
            .spans()
            .into_iter()
            .find(|(_, s)| s["name"] == "job" && attribute(s, "job").as_ref().and_then(text) == Some(job.to_string()))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while find(greet).is_none() || find(pick).is_none() {
        assert!(
            Instant::now() < deadline,
            "no span of jobs {greet} and {pick} reached the collector; it got: {:?}",
            collector.spans()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for (job, outcome) in [(greet, "succeeded"), (pick, "failed")] {
        let (service, span) = find(job).expect("found above");
        assert_eq!(service, "trials", "the service is the elf: {span}");
        assert_eq!(attribute(&span, "run").as_ref().and_then(text), Some(run.to_string()), "{span}");
        assert_eq!(
            attribute(&span, "task").as_ref().and_then(text).as_deref(),
            Some(if job == greet { "greet" } else { "pick" })
        );
        assert_eq!(attribute(&span, "outcome").as_ref().and_then(text).as_deref(), Some(outcome), "{span}");
        assert_eq!(attribute(&span, "attempt").as_ref().and_then(text).as_deref(), Some("1"), "{span}");
        let (start, end) = (&span["startTimeUnixNano"], &span["endTimeUnixNano"]);
        assert!(start.is_string() || start.is_u64(), "a start time: {span}");
        assert!(end.is_string() || end.is_u64(), "an end time: {span}");
        assert_eq!(span["traceId"].as_str().map(str::len), Some(32), "a trace id: {span}");
    }
}
