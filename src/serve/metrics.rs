//! `/metrics` in the Prometheus text format (version 0.0.4).
//!
//! * `mycelium_jobs{state,elf,task}`: jobs by state and task, counted by a
//!   scan of the jobs when scraped (cached for a few seconds);
//! * `mycelium_claim_latency_seconds`: a histogram of how long ready jobs
//!   waited for an elf (their `ready` event, or the end of their retry
//!   backoff, to their `claimed` event), from the event log the server tails;
//! * `mycelium_failures{kind}`: failure records by kind;
//! * `mycelium_elf_instances{elf,state}`: elf instances by state;
//! * `mycelium_queue_messages{queue,state}` (waiting, in_flight, dead) and
//!   `mycelium_queue_oldest_age_seconds{queue}`: each queue's depth and the
//!   age of its oldest waiting or in-flight message;
//! * `mycelium_flows_waiting{elf,task}`: flows suspended now;
//! * `mycelium_schedules{state}` (idle, running, paused), and per schedule
//!   `mycelium_schedule_next_fire_timestamp_seconds{schedule}`,
//!   `mycelium_schedule_fired{schedule}` and `mycelium_schedule_skipped{schedule}`;
//! * `mycelium_jobs_repaired_total{problem}` (stuck, miscounted): jobs the
//!   coordinator's audit repaired, from the `job_repaired` events the server
//!   read since it started;
//! * `mycelium_store_call_seconds{call}`: the server's own store calls;
//! * `mycelium_http_requests_total{status}` and their latency.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::api::Endpoint;
use super::error::ApiResult;
use super::server::AppState;
use crate::agent::{QueueStatus, ScheduleStatus};
use crate::model::{Event, EventKind, FailureKind, JobState, now_ms};
use crate::storage::{FailureQuery, JobQuery};

/// How long a scan of the jobs serves scrapes.
const SCAN_TTL: Duration = Duration::from_secs(5);
/// Jobs read per query while scanning.
const SCAN_PAGE: u32 = 20_000;
/// At most this many ready jobs are remembered for the claim latency.
const READY_CAP: usize = 1_000_000;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram with [`BUCKETS`].
#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What a scan of the store found.
#[derive(Clone, Debug, Default)]
struct Scan {
    jobs: BTreeMap<(String, String, String), u64>,
    failures: BTreeMap<String, u64>,
    elves: BTreeMap<(String, String), u64>,
    queues: Vec<QueueStatus>,
    schedules: Vec<ScheduleStatus>,
    took: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    store_calls: BTreeMap<&'static str, Histogram>,
    requests: BTreeMap<u16, u64>,
    request_latency: Histogram,
    claim_latency: Histogram,
    ready_at: HashMap<i64, i64>,
    /// Jobs repaired by the coordinator, by problem.
    repaired: BTreeMap<String, u64>,
    scan: Option<(Instant, Scan)>,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub(crate) struct Metrics(Mutex<Inner>);

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A store call of the server took `took`.
    pub(crate) fn store_call(&self, what: &'static str, took: Duration) {
        self.inner().store_calls.entry(what).or_default().observe(took.as_secs_f64());
    }

    /// A request was answered.
    pub(crate) fn request(&self, status: u16, took: Duration) {
        let mut inner = self.inner();
        *inner.requests.entry(status).or_default() += 1;
        inner.request_latency.observe(took.as_secs_f64());
    }

    /// An event was read from the log.
    pub(crate) fn event(&self, e: &Event) {
        if e.kind == EventKind::JobRepaired {
            let problem = e.data.get("problem").and_then(serde_json::Value::as_str).unwrap_or("unknown");
            *self.inner().repaired.entry(problem.to_owned()).or_default() += 1;
            return;
        }
        if e.kind != EventKind::JobState {
            return;
        }
        let Some(job) = e.job else { return };
        let mut inner = self.inner();
        match e.state {
            Some(JobState::Ready) => {
                let due = e.data.get("not_before").and_then(serde_json::Value::as_i64).unwrap_or(e.at).max(e.at);
                if inner.ready_at.len() < READY_CAP {
                    inner.ready_at.insert(job.0, due);
                }
            }
            Some(JobState::Claimed) => {
                if let Some(ready) = inner.ready_at.remove(&job.0) {
                    inner.claim_latency.observe((e.at - ready).max(0) as f64 / 1000.0);
                }
            }
            Some(s) if s.is_final() => {
                inner.ready_at.remove(&job.0);
            }
            _ => {}
        }
    }
}

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/metrics", "metrics", "Metrics in the Prometheus text format (0.0.4).", metrics)
            .returns_text("text/plain; version=0.0.4")
            .errors(&[]),
    ]
}

async fn scan(state: &AppState) -> ApiResult<Scan> {
    if let Some((at, s)) = &state.metrics.inner().scan
        && at.elapsed() < SCAN_TTL
    {
        return Ok(s.clone());
    }
    let started = Instant::now();
    let mut scan = state
        .db
        .run("scan for metrics", |s| {
            let mut out = Scan::default();
            let mut after = None;
            loop {
                let page = s.jobs(&JobQuery { after, limit: Some(SCAN_PAGE), ..JobQuery::default() })?;
                for j in &page {
                    *out.jobs.entry((j.state.as_str().to_owned(), j.elf.clone(), j.task.clone())).or_default() += 1;
                }
                match page.last() {
                    Some(last) if page.len() == SCAN_PAGE as usize => after = Some(last.id),
                    _ => break,
                }
            }
            for &kind in FailureKind::ALL {
                let n = s.failures(&FailureQuery { kind: Some(kind), ..FailureQuery::default() })?.len() as u64;
                out.failures.insert(kind.as_str().to_owned(), n);
            }
            for e in s.elves()? {
                *out.elves.entry((e.elf.clone(), e.state.as_str().to_owned())).or_default() += 1;
            }
            out.queues = s.queues()?;
            out.schedules = s.schedules()?;
            Ok(out)
        })
        .await?;
    scan.took = started.elapsed();
    state.metrics.inner().scan = Some((Instant::now(), scan.clone()));
    Ok(scan)
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Queues, waiting flows and schedules.
fn write_agents(out: &mut String, scan: &Scan) {
    out.push_str(
        "# HELP mycelium_queue_messages Messages of each queue: waiting, in flight, dead.\n\
         # TYPE mycelium_queue_messages gauge\n",
    );
    for q in &scan.queues {
        let name = label(&q.queue.name);
        for (st, n) in [("waiting", q.waiting), ("in_flight", q.in_flight), ("dead", q.dead)] {
            let _ = writeln!(out, "mycelium_queue_messages{{queue=\"{name}\",state=\"{st}\"}} {n}");
        }
    }
    out.push_str(
        "# HELP mycelium_queue_oldest_age_seconds Age of each queue's oldest waiting or in-flight message \
         (0 when none).\n# TYPE mycelium_queue_oldest_age_seconds gauge\n",
    );
    let now = now_ms();
    for q in &scan.queues {
        let age = q.oldest_at.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
        let _ = writeln!(out, "mycelium_queue_oldest_age_seconds{{queue=\"{}\"}} {age}", label(&q.queue.name));
    }
    out.push_str("# HELP mycelium_flows_waiting Flows suspended now, by elf and flow.\n");
    out.push_str("# TYPE mycelium_flows_waiting gauge\n");
    for ((st, elf, task), n) in &scan.jobs {
        if st == JobState::Waiting.as_str() {
            let _ = writeln!(out, "mycelium_flows_waiting{{elf=\"{}\",task=\"{}\"}} {n}", label(elf), label(task));
        }
    }
    let mut by_state: BTreeMap<&str, u64> = [("idle", 0), ("paused", 0), ("running", 0)].into_iter().collect();
    for st in &scan.schedules {
        let key = if st.schedule.paused {
            "paused"
        } else if st.running {
            "running"
        } else {
            "idle"
        };
        *by_state.entry(key).or_default() += 1;
    }
    out.push_str("# HELP mycelium_schedules Schedules by state.\n# TYPE mycelium_schedules gauge\n");
    for (st, n) in &by_state {
        let _ = writeln!(out, "mycelium_schedules{{state=\"{st}\"}} {n}");
    }
    out.push_str(
        "# HELP mycelium_schedule_next_fire_timestamp_seconds When each schedule not paused fires next (Unix time).\n\
         # TYPE mycelium_schedule_next_fire_timestamp_seconds gauge\n",
    );
    for st in scan.schedules.iter().filter(|s| !s.schedule.paused) {
        let s = &st.schedule;
        let _ = writeln!(
            out,
            "mycelium_schedule_next_fire_timestamp_seconds{{schedule=\"{}\"}} {}",
            label(&s.name),
            s.next_due as f64 / 1000.0
        );
    }
    out.push_str("# HELP mycelium_schedule_fired Ticks of each schedule that made jobs.\n");
    out.push_str("# TYPE mycelium_schedule_fired gauge\n");
    for st in &scan.schedules {
        let _ =
            writeln!(out, "mycelium_schedule_fired{{schedule=\"{}\"}} {}", label(&st.schedule.name), st.schedule.fired);
    }
    out.push_str("# HELP mycelium_schedule_skipped Ticks of each schedule dropped (missed, overlapping, paused).\n");
    out.push_str("# TYPE mycelium_schedule_skipped gauge\n");
    for st in &scan.schedules {
        let _ = writeln!(
            out,
            "mycelium_schedule_skipped{{schedule=\"{}\"}} {}",
            label(&st.schedule.name),
            st.schedule.skipped
        );
    }
}

async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let scan = scan(&state).await?;
    let mut out = String::new();
    out.push_str("# HELP mycelium_jobs Jobs by state, elf and task.\n# TYPE mycelium_jobs gauge\n");
    for ((st, elf, task), n) in &scan.jobs {
        let _ = writeln!(out, "mycelium_jobs{{state=\"{st}\",elf=\"{}\",task=\"{}\"}} {n}", label(elf), label(task));
    }
    out.push_str("# HELP mycelium_failures Failure records by kind.\n# TYPE mycelium_failures gauge\n");
    for (kind, n) in &scan.failures {
        let _ = writeln!(out, "mycelium_failures{{kind=\"{kind}\"}} {n}");
    }
    out.push_str(
        "# HELP mycelium_elf_instances Elf instances by elf and state.\n# TYPE mycelium_elf_instances gauge\n",
    );
    for ((elf, st), n) in &scan.elves {
        let _ = writeln!(out, "mycelium_elf_instances{{elf=\"{}\",state=\"{st}\"}} {n}", label(elf));
    }
    write_agents(&mut out, &scan);
    out.push_str("# HELP mycelium_metrics_scan_seconds How long the last scan of the store took.\n");
    out.push_str("# TYPE mycelium_metrics_scan_seconds gauge\n");
    let _ = writeln!(out, "mycelium_metrics_scan_seconds {}", scan.took.as_secs_f64());
    let inner = state.metrics.inner();
    out.push_str(
        "# HELP mycelium_claim_latency_seconds From a job being ready (or due after its backoff) to its claim, \
         seen in the event log since the server started.\n# TYPE mycelium_claim_latency_seconds histogram\n",
    );
    inner.claim_latency.write(&mut out, "mycelium_claim_latency_seconds", "");
    out.push_str(
        "# HELP mycelium_jobs_repaired_total Jobs the coordinator repaired (stuck: made ready; miscounted: \
         recounted), seen in the event log since the server started.\n# TYPE mycelium_jobs_repaired_total counter\n",
    );
    for problem in ["stuck", "miscounted"] {
        let n = inner.repaired.get(problem).copied().unwrap_or(0);
        let _ = writeln!(out, "mycelium_jobs_repaired_total{{problem=\"{problem}\"}} {n}");
    }
    out.push_str(
        "# HELP mycelium_store_call_seconds The server's own store calls, by call.\n\
         # TYPE mycelium_store_call_seconds histogram\n",
    );
    for (call, h) in &inner.store_calls {
        h.write(&mut out, "mycelium_store_call_seconds", &format!("call=\"{}\"", label(call)));
    }
    out.push_str("# HELP mycelium_http_requests_total Requests answered, by status.\n");
    out.push_str("# TYPE mycelium_http_requests_total counter\n");
    for (status, n) in &inner.requests {
        let _ = writeln!(out, "mycelium_http_requests_total{{status=\"{status}\"}} {n}");
    }
    out.push_str("# HELP mycelium_http_request_seconds Time to answer a request (streams: to their first byte).\n");
    out.push_str("# TYPE mycelium_http_request_seconds histogram\n");
    inner.request_latency.write(&mut out, "mycelium_http_request_seconds", "");
    drop(inner);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{JobId, RunId};

    /// `job_repaired` events are counted by problem; they are not job state
    /// changes for the claim latency.
    #[test]
    fn repairs_are_counted_by_problem() {
        let m = Metrics::default();
        let event = |problem: &str| Event {
            seq: 1,
            at: 0,
            kind: EventKind::JobRepaired,
            run: Some(RunId(1)),
            job: Some(JobId(2)),
            state: Some(JobState::Ready),
            data: json!({ "problem": problem, "unmet_was": 1, "unmet": 0 }),
        };
        m.event(&event("stuck"));
        m.event(&event("stuck"));
        m.event(&event("miscounted"));
        let inner = m.inner();
        assert_eq!((inner.repaired.get("stuck"), inner.repaired.get("miscounted")), (Some(&2), Some(&1)));
        assert!(inner.ready_at.is_empty());
    }
}
