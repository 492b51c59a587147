//! The end-to-end workloads of docs/workloads.md, with real elf and
//! coordinator processes on a fresh store (an embedded one, or a database of
//! its own on an ArangoDB server).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::child::Child;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::fresh::FreshStore;
use crate::model::{JobId, JobSpec, RunSpec, RunState, Submission, Submitted};
use crate::storage::{self, Locality, Store};

/// A workload of docs/workloads.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// Independent tasks; the driver sums.
    W1,
    /// A chain of `add1`.
    W2,
    /// Fan-out from one source to n maps, fan-in to one reduce.
    W3,
    /// W1 with a million tasks.
    W4,
    /// A flow awaiting `n` sequential tasks.
    F1,
    /// A flow mapping `n` tasks and joining them.
    F2,
    /// `n` flows each awaiting one task.
    F3,
}

impl Workload {
    /// Parses `w1`..`w4`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "w1" => Some(Workload::W1),
            "w2" => Some(Workload::W2),
            "w3" => Some(Workload::W3),
            "w4" => Some(Workload::W4),
            "f1" => Some(Workload::F1),
            "f2" => Some(Workload::F2),
            "f3" => Some(Workload::F3),
            _ => None,
        }
    }

    /// The size docs/workloads.md gives.
    pub(crate) fn default_n(self) -> u64 {
        match self {
            Workload::W1 => 10_000,
            Workload::W2 => 1_000,
            Workload::W3 => 2_000,
            Workload::W4 => 1_000_000,
            Workload::F1 => 1_000,
            Workload::F2 => 2_000,
            Workload::F3 => 10_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::F1 => "f1",
            Workload::F2 => "f2",
            Workload::F3 => "f3",
        }
    }

    fn expected(self, n: u64) -> u64 {
        match self {
            Workload::W1 | Workload::W4 | Workload::F2 | Workload::F3 => n * n.saturating_sub(1) / 2,
            Workload::W2 | Workload::F1 => n,
            Workload::W3 => 7 * n + n * n.saturating_sub(1) / 2,
        }
    }

    fn jobs(self, n: u64) -> Vec<JobSpec> {
        let job = |task: &str, args: Value| JobSpec::new("bench", task, args);
        match self {
            Workload::W1 | Workload::W4 => (0..n).map(|i| job("value", json!([i]))).collect(),
            Workload::W2 => (0..n)
                .map(|k| {
                    if k == 0 {
                        job("add1", json!([0]))
                    } else {
                        job("add1", json!([{ "$output": (k - 1).to_string() }]))
                    }
                })
                .collect(),
            Workload::W3 => {
                let mut jobs = vec![job("source", json!([]))];
                jobs.extend((0..n).map(|i| job("map", json!([{ "$output": "0" }, i]))));
                let all: Vec<Value> = (1..=n).map(|k| json!({ "$output": k.to_string() })).collect();
                jobs.push(job("reduce", json!([all])));
                jobs
            }
            Workload::F1 => vec![job("chain", json!([n]))],
            Workload::F2 => vec![job("fan", json!([n]))],
            Workload::F3 => (0..n).map(|i| job("one", json!([i]))).collect(),
        }
    }

    /// Whether the workload runs flows.
    fn flows(self) -> bool {
        matches!(self, Workload::F1 | Workload::F2 | Workload::F3)
    }
}

/// How to run a workload.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Which.
    pub(crate) workload: Workload,
    /// Its size (default: docs/workloads.md's).
    pub(crate) n: Option<u64>,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Slots per elf.
    pub(crate) slots: u32,
    /// Where the binaries are (`mycelium`, `elf-bench`).
    pub(crate) bin_dir: PathBuf,
    /// W4: jobs per chunk streamed into the open run.
    pub(crate) chunk: u64,
}

/// W4's default chunk: large enough that a chunk's transaction costs little
/// per job, small enough that the driver holds little and elves start at once.
pub(crate) const DEFAULT_CHUNK: u64 = 20_000;

/// One run's figures; printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// w1..w4.
    pub(crate) workload: &'static str,
    /// Size.
    pub(crate) n: u64,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Wall clock from the first submission to the verified final value.
    pub(crate) seconds: f64,
    /// Of which submitting took (W4: streaming every chunk until the run was
    /// sealed, elves working meanwhile).
    pub(crate) submit_seconds: f64,
    /// W4: jobs per chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) chunk: Option<u64>,
    /// Jobs per second over `seconds`.
    pub(crate) tasks_per_s: f64,
    /// W2, F1: milliseconds per hop (per step of the flow, for F1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ms_per_hop: Option<f64>,
    /// F1: milliseconds to replay the flow's whole history from scratch
    /// (read and run, `elf-bench replay <job>`), the median of 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replay_ms: Option<f64>,
    /// Starting the coordinator and elves until all were ready (not in `seconds`).
    pub(crate) startup_seconds: f64,
    /// Peak resident set per process role (the largest elf for `elf`).
    pub(crate) peak_rss_bytes: BTreeMap<String, u64>,
    /// The embedded store's size on disk (database and write-ahead log)
    /// after the run, divided by its jobs: what one finished job costs. None
    /// on a server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_per_job: Option<f64>,
    /// Whether the value matched.
    pub(crate) ok: bool,
    /// The value computed.
    pub(crate) value: u64,
    /// The value expected.
    pub(crate) expected: u64,
    /// Store URL scheme.
    pub(crate) store: &'static str,
    /// The store, without credentials.
    pub(crate) url: String,
    /// mycelium's version.
    pub(crate) version: &'static str,
}

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// A process could not start or misbehaved.
    #[error("{0}")]
    Process(String),
}

/// Starts a benchmark process (killed when dropped).
pub(super) fn start(exe: &Path, args: &[&str]) -> Result<Child, Error> {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    Child::spawn(cmd).map_err(|e| {
        Error::Process(format!("cannot start {}: {e} (build it with `cargo build --release --bins`)", exe.display()))
    })
}

/// Waits for a benchmark process's readiness line.
pub(super) fn ready(c: &mut Child) -> Result<(), Error> {
    c.ready(Duration::from_secs(60)).map(drop).map_err(Error::Process)
}

/// Waits until a benchmark elf is steady: ready, and its symbolizer warmed
/// up (a one-off at start, about half a second of CPU in a release elf, so
/// that no failure waits for it; see `--lazy-symbols`), unless
/// `MYCELIUM_LAZY_SYMBOLS` leaves it to the first failure. The figures are
/// those of a running fleet; what starting it costs is `startup_seconds`.
pub(super) fn steady(c: &mut Child) -> Result<(), Error> {
    ready(c)?;
    let lazy = std::env::var("MYCELIUM_LAZY_SYMBOLS").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    let warmed = crate::elf::WARMED_UP;
    if lazy || c.seen().iter().any(|l| l.contains(warmed)) {
        return Ok(());
    }
    c.wait_for(warmed, Duration::from_secs(60)).map(drop).map_err(Error::Process)
}

/// VmHWM of a process, in bytes.
fn peak_rss_of(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs `options.workload` once on `fresh`, an empty store.
pub(crate) fn run(fresh: &FreshStore, options: &Options) -> Result<Report, Error> {
    let n = options.n.unwrap_or_else(|| options.workload.default_n());
    let url = fresh.url().to_owned();
    let shown = fresh.shown();
    let store: Store = Store::open(&url)?;
    // How often the driver looks at the run: a file is cheap to look at, a
    // server is asked at the store's poll interval.
    let pause = match store.describe().locality {
        Locality::Remote => store.describe().poll.0,
        _ => Duration::from_micros(500),
    };
    let started = Instant::now();
    let mycelium = options.bin_dir.join("mycelium");
    let elf = options.bin_dir.join("elf-bench");
    let mut coordinator = start(&mycelium, &["--store", &url, "coordinator"])?;
    let slots = options.slots.to_string();
    let mut elves: Vec<Child> = (0..options.elves.max(1))
        .map(|_| start(&elf, &["--store", &url, "--slots", &slots]))
        .collect::<Result<_, _>>()?;
    ready(&mut coordinator)?;
    for e in &mut elves {
        steady(e)?;
    }
    let startup = started.elapsed();

    let t0 = Instant::now();
    let streamed = options.workload == Workload::W4;
    let submitted = if streamed {
        stream(&store, options.workload.name(), n, options.chunk.max(1))?
    } else {
        store.submit(&Submission { run: RunSpec::named(options.workload.name()), jobs: options.workload.jobs(n) })?
    };
    let submit_seconds = t0.elapsed().as_secs_f64();
    loop {
        let run = store.run(submitted.run)?.ok_or(storage::Error::UnknownRun(submitted.run))?;
        if run.state.is_final() {
            if run.state != RunState::Succeeded {
                return Err(Error::Process(format!(
                    "the run ended {}: see `mycelium --store {shown} failures`",
                    run.state
                )));
            }
            break;
        }
        std::thread::sleep(pause);
    }
    let value = match options.workload {
        Workload::W1 | Workload::W4 | Workload::F3 => {
            // By slices, so that the driver never holds a million results.
            let mut sum = 0u64;
            for ids in submitted.jobs.chunks(50_000) {
                sum += store.results(ids)?.into_iter().map(|(_, v)| v.as_u64().unwrap_or(0)).sum::<u64>();
            }
            sum
        }
        Workload::W2 | Workload::W3 | Workload::F1 | Workload::F2 => {
            let last: JobId = *submitted.jobs.last().ok_or_else(|| Error::Process("no jobs".into()))?;
            store.result(last)?.and_then(|v| v.as_u64()).unwrap_or(0)
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    let mut peak_rss_bytes = BTreeMap::new();
    peak_rss_bytes.insert("coordinator".to_owned(), coordinator.peak_rss());
    peak_rss_bytes.insert("elf".to_owned(), elves.iter().map(Child::peak_rss).max().unwrap_or(0));
    peak_rss_bytes.insert("driver".to_owned(), peak_rss_of("/proc/self/status"));
    let replay_ms = match options.workload {
        Workload::F1 => Some(replay(&elf, &url, submitted.jobs[0])?),
        _ => None,
    };
    let expected = options.workload.expected(n);
    // Flows count as the unit of F3; elsewhere every job does (for F1 and
    // F2, the flow's children were created as it ran).
    let total_jobs = if options.workload == Workload::F3 {
        n as f64
    } else if options.workload.flows() {
        store.run(submitted.run)?.map_or(1, |r| r.total) as f64
    } else {
        submitted.jobs.len() as f64
    };
    Ok(Report {
        workload: options.workload.name(),
        n,
        elves: options.elves,
        seconds,
        submit_seconds,
        chunk: streamed.then_some(options.chunk.max(1)),
        tasks_per_s: total_jobs / seconds,
        ms_per_hop: matches!(options.workload, Workload::W2 | Workload::F1).then(|| seconds * 1000.0 / n as f64),
        replay_ms,
        startup_seconds: startup.as_secs_f64(),
        peak_rss_bytes,
        bytes_per_job: fresh.bytes_on_disk().map(|b| b as f64 / total_jobs.max(1.0)),
        ok: value == expected,
        value,
        expected,
        store: fresh.scheme(),
        url: shown,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// W4's submission: `n` jobs streamed into one open run, `chunk` jobs per
/// transaction, each chunk built only when the one before is committed (and
/// the elves it readied are woken), then sealed.
fn stream(store: &Store, name: &str, n: u64, chunk: u64) -> Result<Submitted, Error> {
    let run = store.open_run(&RunSpec::named(name))?.id;
    let bell = crate::doorbell::Endpoint::for_store(store);
    let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut from = 0;
    while from < n {
        let to = n.min(from + chunk);
        let jobs: Vec<JobSpec> = (from..to).map(|i| JobSpec::new("bench", "value", json!([i]))).collect();
        let added = store.append(run, &jobs)?;
        if let Some(bell) = &bell {
            crate::doorbell::ring(bell, &added.readied);
        }
        ids.extend(added.jobs);
        from = to;
    }
    store.seal(run)?;
    Ok(Submitted { run, jobs: ids, existing: false, ready: 0, readied: Default::default() })
}

/// Replays flow job `job`'s history from scratch with the bench elf, 5
/// times; the median of the in-process time (reading the history and
/// running the flow against it).
fn replay(elf: &Path, url: &str, job: JobId) -> Result<f64, Error> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let out = Command::new(elf)
            .args(["--store", url, "replay", &job.to_string(), "--json"])
            .output()
            .map_err(|e| Error::Process(format!("cannot start {}: {e}", elf.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.trim()).map_err(|e| {
            Error::Process(format!(
                "the replay printed no figures ({e}): {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
        let ms = v["read_ms"].as_f64().unwrap_or(0.0) + v["replay_ms"].as_f64().unwrap_or(0.0);
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_match_workloads_md() {
        assert_eq!(Workload::W1.expected(10_000), 49_995_000);
        assert_eq!(Workload::W2.expected(1_000), 1_000);
        assert_eq!(Workload::W3.expected(2_000), 2_013_000);
        assert_eq!(Workload::W3.jobs(3).len(), 5);
        assert_eq!(Workload::F2.expected(2_000), 1_999_000);
        assert_eq!(Workload::F3.jobs(4).len(), 4);
        assert_eq!(Workload::parse("F1"), Some(Workload::F1));
    }
}
