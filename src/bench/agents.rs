//! The agents' workloads, with real elf and coordinator processes on a
//! fresh embedded store (the `bench` elf serves them):
//!
//! * `queue`: `n` messages sent to a queue in batches of [`SEND_BATCH`]
//!   (each batch one transaction) and consumed by the elf instances; the
//!   figure is messages acknowledged per second, every message and every
//!   acknowledgement committed.
//! * `signal`: `n` emissions, one after the other, of a signal with two
//!   receivers; the figure is the latency from emitting to both deliveries
//!   done.
//! * `tick`: a schedule every 100 ms for `n` ticks; the figure is the
//!   latency from a tick's time to its job's start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::workload::{Error, ready, start, steady};
use crate::agent::schedule::Origin;
use crate::agent::{Emission, Outgoing, Schedule, Spec};
use crate::child::Child;
use crate::model::JobState;
use crate::storage::{JobQuery, Store};

/// Messages per send in the `queue` workload.
pub(crate) const SEND_BATCH: usize = 1_000;

/// Which agents' workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Queue throughput.
    Queue,
    /// Signal to two receivers, emit to both done.
    Signal,
    /// Schedule tick to job start.
    Tick,
}

impl Kind {
    /// Parses `queue`, `signal`, `tick`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "queue" => Some(Kind::Queue),
            "signal" => Some(Kind::Signal),
            "tick" => Some(Kind::Tick),
            _ => None,
        }
    }

    /// The default size.
    pub(crate) fn default_n(self) -> u64 {
        match self {
            Kind::Queue => 20_000,
            Kind::Signal => 500,
            Kind::Tick => 50,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Signal => "signal",
            Kind::Tick => "tick",
        }
    }
}

/// How to run one.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Which.
    pub(crate) kind: Kind,
    /// Its size (default: the kind's).
    pub(crate) n: Option<u64>,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Slots per elf.
    pub(crate) slots: u32,
    /// Where the binaries are.
    pub(crate) bin_dir: PathBuf,
}

/// One run's figures; printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// queue, signal or tick.
    pub(crate) workload: &'static str,
    /// Messages, emissions or ticks.
    pub(crate) n: u64,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Wall clock of the measured part.
    pub(crate) seconds: f64,
    /// `queue`: messages acknowledged per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages_per_s: Option<f64>,
    /// `signal`, `tick`: latency percentiles in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p50_ms: Option<f64>,
    /// The 90th percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p90_ms: Option<f64>,
    /// The worst.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_ms: Option<f64>,
    /// Whether every message, delivery or tick was done exactly once.
    pub(crate) ok: bool,
    /// mycelium's version.
    pub(crate) version: &'static str,
}

/// Runs one agents' workload on a fresh store in `dir`.
pub(crate) fn run(dir: &Path, o: &Options) -> Result<Report, Error> {
    let n = o.n.unwrap_or_else(|| o.kind.default_n());
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = Store::open(&url)?;
    let mycelium = o.bin_dir.join("mycelium");
    let elf = o.bin_dir.join("elf-bench");
    let mut coordinator = start(&mycelium, &["--store", &url, "coordinator"])?;
    let slots = o.slots.to_string();
    let mut elves: Vec<Child> =
        (0..o.elves.max(1)).map(|_| start(&elf, &["--store", &url, "--slots", &slots])).collect::<Result<_, _>>()?;
    ready(&mut coordinator)?;
    for e in &mut elves {
        steady(e)?;
    }
    let report = match o.kind {
        Kind::Queue => queue(&store, n)?,
        Kind::Signal => signal(&store, n)?,
        Kind::Tick => tick(&store, n)?,
    };
    drop(elves);
    drop(coordinator);
    Ok(Report { workload: o.kind.name(), n, elves: o.elves, version: env!("CARGO_PKG_VERSION"), ..report })
}

fn blank() -> Report {
    Report {
        workload: "",
        n: 0,
        elves: 0,
        seconds: 0.0,
        messages_per_s: None,
        p50_ms: None,
        p90_ms: None,
        max_ms: None,
        ok: false,
        version: "",
    }
}

/// Percentiles of latencies in milliseconds.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9), ms[ms.len() - 1])
}

fn queue(store: &Store, n: u64) -> Result<Report, Error> {
    let bus = crate::agent::Bus::new(store.clone());
    let t0 = Instant::now();
    let mut jobs = Vec::with_capacity(n as usize);
    let messages: Vec<serde_json::Value> = (0..n).map(|i| json!(i)).collect();
    for chunk in messages.chunks(SEND_BATCH) {
        let sent = store.send("bench", &Outgoing { messages: chunk, key: None, sender: "bench" })?;
        bus.ring(&sent.readied);
        jobs.extend(sent.messages.into_iter().map(|(_, j)| j));
    }
    // Counted on the partial indexes of ready and claimed jobs (no scan),
    // and only when something was committed since the last count: the
    // driver's looking must not take the consumers' store time.
    let mut seen = i64::MIN;
    loop {
        let v = store.change_counter()?;
        if v != seen {
            seen = v;
            let q = store.queue("bench")?;
            if q.waiting + q.in_flight == 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let acked = store.results(&jobs)?;
    let sum: u64 = acked.iter().filter_map(|(_, v)| v.as_u64()).sum();
    let ok = acked.len() as u64 == n && sum == n * n.saturating_sub(1) / 2;
    Ok(Report { seconds, messages_per_s: Some(n as f64 / seconds), ok, ..blank() })
}

fn signal(store: &Store, n: u64) -> Result<Report, Error> {
    let bus = crate::agent::Bus::new(store.clone());
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(n as usize);
    let mut ok = true;
    for i in 0..n {
        let started = Instant::now();
        let payload = json!({ "n": i });
        let e = store.emit(&Emission { signal: "bench_ping", payload: &payload, key: None, sender: "bench" })?;
        bus.ring(&e.readied);
        let ids: Vec<_> = e.deliveries.iter().map(|d| d.job).collect();
        ok &= ids.len() == 2;
        let mut seen = i64::MIN;
        loop {
            let v = store.change_counter()?;
            if v != seen {
                seen = v;
                if store.results(&ids)?.len() == ids.len() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (p50, p90, max) = percentiles(lat);
    Ok(Report { seconds, p50_ms: Some(p50), p90_ms: Some(p90), max_ms: Some(max), ok, ..blank() })
}

fn tick(store: &Store, n: u64) -> Result<Report, Error> {
    let period = 100;
    let spec = Spec::Every { period_ms: period, start_after_ms: period };
    let s = Schedule::new("bench/tick".into(), "bench".into(), "source".into(), json!([]), spec, Origin::Added);
    let t0 = Instant::now();
    store.add_schedule(&s)?;
    let q = JobQuery { elf: Some("bench".into()), task: Some("source".into()), ..JobQuery::default() };
    let deadline = Instant::now() + Duration::from_millis(n * period * 3 + 30_000);
    while (store.jobs(&JobQuery { states: vec![JobState::Succeeded], ..q.clone() })?.len() as u64) < n {
        if Instant::now() > deadline {
            return Err(Error::Process("the ticks did not come in time: is the coordinator leading?".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    store.pause_schedule("bench/tick", true)?;
    let seconds = t0.elapsed().as_secs_f64();
    let jobs = store.jobs(&q)?;
    let mut lat = Vec::new();
    let mut ticks = std::collections::BTreeSet::new();
    for j in &jobs {
        let run = store.run(j.run)?.ok_or(crate::storage::Error::UnknownRun(j.run))?;
        let Some(tick) = run.labels.get("tick").and_then(|t| t.parse::<i64>().ok()) else { continue };
        ticks.insert(tick);
        if let Some(started) = j.started_at {
            lat.push((started - tick) as f64);
        }
    }
    let ok = ticks.len() == jobs.len() && !lat.is_empty();
    let (p50, p90, max) = percentiles(lat);
    Ok(Report { seconds, p50_ms: Some(p50), p90_ms: Some(p90), max_ms: Some(max), ok, ..blank() })
}
