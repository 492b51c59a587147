//! The end-to-end workloads of WORKLOADS.md, with real elf and coordinator
//! processes on a fresh embedded store.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{JobId, JobSpec, RunSpec, RunState, Submission};
use crate::storage::{self, Store};

/// A workload of WORKLOADS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Independent tasks; the driver sums.
    W1,
    /// A chain of `add1`.
    W2,
    /// Fan-out from one source to n maps, fan-in to one reduce.
    W3,
    /// W1 with a million tasks.
    W4,
}

impl Workload {
    /// Parses `w1`..`w4`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "w1" => Some(Workload::W1),
            "w2" => Some(Workload::W2),
            "w3" => Some(Workload::W3),
            "w4" => Some(Workload::W4),
            _ => None,
        }
    }

    /// The size WORKLOADS.md gives.
    pub fn default_n(self) -> u64 {
        match self {
            Workload::W1 => 10_000,
            Workload::W2 => 1_000,
            Workload::W3 => 2_000,
            Workload::W4 => 1_000_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
        }
    }

    fn expected(self, n: u64) -> u64 {
        match self {
            Workload::W1 | Workload::W4 => n * n.saturating_sub(1) / 2,
            Workload::W2 => n,
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
        }
    }
}

/// How to run a workload.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which.
    pub workload: Workload,
    /// Its size (default: WORKLOADS.md's).
    pub n: Option<u64>,
    /// Elf instances.
    pub elves: u32,
    /// Slots per elf.
    pub slots: u32,
    /// Where the binaries are (`mycelium`, `elf-bench`).
    pub bin_dir: PathBuf,
}

/// One run's figures; printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// w1..w4.
    pub workload: &'static str,
    /// Size.
    pub n: u64,
    /// Elf instances.
    pub elves: u32,
    /// Wall clock from the first submission to the verified final value.
    pub seconds: f64,
    /// Of which submitting took.
    pub submit_seconds: f64,
    /// Jobs per second over `seconds`.
    pub tasks_per_s: f64,
    /// W2: milliseconds per hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_per_hop: Option<f64>,
    /// Starting the coordinator and elves until all were ready (not in `seconds`).
    pub startup_seconds: f64,
    /// Peak resident set per process role (the largest elf for `elf`).
    pub peak_rss_bytes: BTreeMap<String, u64>,
    /// Whether the value matched.
    pub ok: bool,
    /// The value computed.
    pub value: u64,
    /// The value expected.
    pub expected: u64,
    /// Store URL scheme.
    pub store: &'static str,
    /// mycelium's version.
    pub version: &'static str,
}

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// A process could not start or misbehaved.
    #[error("{0}")]
    Process(String),
}

/// A child process, stopped with SIGTERM when dropped.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(exe: &Path, args: &[&str]) -> Result<Proc, Error> {
        let mut child =
            Command::new(exe).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| {
                Error::Process(format!(
                    "cannot start {}: {e} (build it with `cargo build --release --bins`)",
                    exe.display()
                ))
            })?;
        let out = child.stdout.take().ok_or_else(|| Error::Process("no stdout".into()))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(Proc { child, lines })
    }

    fn ready(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains("ready") => return Ok(()),
                Ok(_) => {}
                Err(_) => return Err(Error::Process("a process never said it was ready".into())),
            }
        }
    }

    fn peak_rss(&self) -> u64 {
        peak_rss_of(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Runs `options.workload` once on a fresh store in `dir`.
pub fn run(dir: &Path, options: &Options) -> Result<Report, Error> {
    let n = options.n.unwrap_or_else(|| options.workload.default_n());
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store: Arc<dyn Store> = storage::open(&url)?;
    let started = Instant::now();
    let mycelium = options.bin_dir.join("mycelium");
    let elf = options.bin_dir.join("elf-bench");
    let coordinator = Proc::start(&mycelium, &["--store", &url, "coordinator"])?;
    let slots = options.slots.to_string();
    let elves: Vec<Proc> = (0..options.elves.max(1))
        .map(|_| Proc::start(&elf, &["--store", &url, "--slots", &slots]))
        .collect::<Result<_, _>>()?;
    coordinator.ready()?;
    for e in &elves {
        e.ready()?;
    }
    let startup = started.elapsed();

    let jobs = options.workload.jobs(n);
    let t0 = Instant::now();
    let (submitted, _) = store.submit(&Submission { run: RunSpec::named(options.workload.name()), jobs })?;
    let submit_seconds = t0.elapsed().as_secs_f64();
    loop {
        let run = store.run(submitted.run)?.ok_or(storage::Error::UnknownRun(submitted.run))?;
        if run.state.is_final() {
            if run.state != RunState::Succeeded {
                return Err(Error::Process(format!(
                    "the run ended {}: see `mycelium --store {url} failures`",
                    run.state
                )));
            }
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let value = match options.workload {
        Workload::W1 | Workload::W4 => {
            store.results(&submitted.jobs)?.into_iter().map(|(_, v)| v.as_u64().unwrap_or(0)).sum::<u64>()
        }
        Workload::W2 | Workload::W3 => {
            let last: JobId = *submitted.jobs.last().ok_or_else(|| Error::Process("no jobs".into()))?;
            store.result(last)?.and_then(|v| v.as_u64()).unwrap_or(0)
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    let mut peak_rss_bytes = BTreeMap::new();
    peak_rss_bytes.insert("coordinator".to_owned(), coordinator.peak_rss());
    peak_rss_bytes.insert("elf".to_owned(), elves.iter().map(Proc::peak_rss).max().unwrap_or(0));
    peak_rss_bytes.insert("driver".to_owned(), peak_rss_of("/proc/self/status"));
    let expected = options.workload.expected(n);
    let total_jobs = submitted.jobs.len() as f64;
    Ok(Report {
        workload: options.workload.name(),
        n,
        elves: options.elves,
        seconds,
        submit_seconds,
        tasks_per_s: total_jobs / seconds,
        ms_per_hop: (options.workload == Workload::W2).then(|| seconds * 1000.0 / n as f64),
        startup_seconds: startup.as_secs_f64(),
        peak_rss_bytes,
        ok: value == expected,
        value,
        expected,
        store: "sqlite",
        version: env!("CARGO_PKG_VERSION"),
    })
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
    }
}
