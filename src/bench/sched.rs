//! The scheduling workloads, with real elf and coordinator processes on a
//! fresh store:
//!
//! * **w5**, unbalanced: a run of `n` (2,000) independent naps of 10 ms
//!   followed, in the same submission, by a chain of 100 naps of 10 ms, on
//!   2 elves of 4 slots. Its makespan against the lower bound
//!   max(chain length, total work / slots), with the claim order of
//!   `crate::lifecycle::sched` and, on another fresh store, in plain
//!   submission order (ranks off) beside it.
//! * **w6**, fairness: runs of 10 no-op tasks submitted one after another
//!   while a run of `n` (100,000) no-op tasks is being worked; how long each
//!   small run takes from its submission to its end (the median).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::fresh::FreshStore;
use super::workload::{Error, ready, start, steady};
use crate::child::Child;
use crate::model::{JobSpec, RunId, RunSpec, RunState, Submission};
use crate::storage::{self, Locality, Store};

/// A scheduling workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Unbalanced: a chain behind independent work.
    W5,
    /// Fairness: small runs behind a huge one.
    W6,
}

impl Kind {
    /// Parses `w5`, `w6`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "w5" => Some(Kind::W5),
            "w6" => Some(Kind::W6),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::W5 => "w5",
            Kind::W6 => "w6",
        }
    }

    /// The default size: independent naps (w5), jobs of the big run (w6).
    fn default_n(self) -> u64 {
        match self {
            Kind::W5 => 2_000,
            Kind::W6 => 100_000,
        }
    }

    /// The slots per elf the workload is defined with.
    pub(crate) fn default_slots(self) -> u32 {
        match self {
            Kind::W5 => 4,
            Kind::W6 => 64,
        }
    }
}

/// W5: the chain's length and every nap's length.
const CHAIN: u64 = 100;
const NAP_MS: u64 = 10;
/// W6: jobs of each small run, and how many small runs one run submits.
const SMALL: u64 = 10;
const SMALL_RUNS: usize = 5;

/// How to run a scheduling workload.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Which.
    pub(crate) kind: Kind,
    /// Its size (default: the workload's).
    pub(crate) n: Option<u64>,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Slots per elf.
    pub(crate) slots: u32,
    /// Where the binaries are (`mycelium`, `elf-bench`).
    pub(crate) bin_dir: std::path::PathBuf,
}

/// One run's figures; printed as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// w5 or w6.
    pub(crate) workload: &'static str,
    /// Size.
    pub(crate) n: u64,
    /// Elf instances.
    pub(crate) elves: u32,
    /// Slots per elf.
    pub(crate) slots: u32,
    /// W5: the makespan (submission to the run's end), scheduled; W6: the
    /// big run's, from its submission to its end.
    pub(crate) seconds: f64,
    /// W5: max(chain length, total work / slots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lower_bound_seconds: Option<f64>,
    /// W5: the makespan in plain submission order (ranks and fair share
    /// off: the claim order before scheduling), on a fresh store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ranks_off_seconds: Option<f64>,
    /// W6: the median, over the small runs, of the time from a small run's
    /// submission to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) small_run_seconds: Option<f64>,
    /// W6: every small run's time, in submission order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) small_runs_seconds: Vec<f64>,
    /// Whether every run succeeded (and, for w6, every small run ended
    /// while the big one was still being worked).
    pub(crate) ok: bool,
    /// Store URL scheme.
    pub(crate) store: &'static str,
    /// The store, without credentials.
    pub(crate) url: String,
    /// mycelium's version.
    pub(crate) version: &'static str,
}

/// A coordinator and elves on one store, stopped when dropped.
struct Fleet {
    _coordinator: Child,
    _elves: Vec<Child>,
}

impl Fleet {
    fn start(url: &str, options: &Options) -> Result<Self, Error> {
        let mycelium = options.bin_dir.join("mycelium");
        let elf = options.bin_dir.join("elf-bench");
        let mut coordinator = start(&mycelium, &["--store", url, "coordinator"])?;
        let slots = options.slots.to_string();
        let mut elves: Vec<Child> = (0..options.elves.max(1))
            .map(|_| start(&elf, &["--store", url, "--slots", &slots]))
            .collect::<Result<_, _>>()?;
        ready(&mut coordinator)?;
        for e in &mut elves {
            steady(e)?;
        }
        Ok(Self { _coordinator: coordinator, _elves: elves })
    }
}

/// How often the driver looks at a run.
fn pause(store: &Store) -> Duration {
    match store.describe().locality {
        Locality::Remote => store.describe().poll.0,
        _ => Duration::from_micros(500),
    }
}

/// Waits for `run` to end; whether it succeeded.
fn wait(store: &Store, run: RunId) -> Result<bool, Error> {
    let pause = pause(store);
    loop {
        let r = store.run(run)?.ok_or(storage::Error::UnknownRun(run))?;
        if r.state.is_final() {
            return Ok(r.state == RunState::Succeeded);
        }
        std::thread::sleep(pause);
    }
}

/// Runs a scheduling workload once; `fresh` makes each fresh store it needs
/// (w5 needs two).
pub(crate) fn run(fresh: &mut dyn FnMut() -> Result<FreshStore, Error>, options: &Options) -> Result<Report, Error> {
    let n = options.n.unwrap_or_else(|| options.kind.default_n());
    match options.kind {
        Kind::W5 => w5(fresh, options, n),
        Kind::W6 => w6(fresh, options, n),
    }
}

/// W5's jobs: `n` independent naps, then the chain.
fn w5_jobs(n: u64) -> Vec<JobSpec> {
    let nap = |args| JobSpec::new("bench", "nap", args);
    let mut jobs: Vec<JobSpec> = (0..n).map(|i| nap(json!([NAP_MS, i]))).collect();
    for k in 0..CHAIN {
        let prev = if k == 0 { json!(0) } else { json!({ "$output": format!("c{}", k - 1) }) };
        jobs.push(JobSpec::new("bench", "nap_after", json!([prev, NAP_MS])).with_key(format!("c{k}")));
    }
    jobs
}

/// One makespan of W5 on a fresh store, scheduled or in submission order.
fn w5_once(fresh: &FreshStore, options: &Options, n: u64, fifo: bool) -> Result<(f64, bool), Error> {
    let url = fresh.url().to_owned();
    let store = Store::open(&url)?;
    let _fleet = Fleet::start(&url, options)?;
    crate::storage::sched::set_submission_order(fifo);
    let t0 = Instant::now();
    let submitted = store.submit(&Submission { run: RunSpec::named("w5"), jobs: w5_jobs(n) });
    crate::storage::sched::set_submission_order(false);
    let submitted = submitted?;
    let ok = wait(&store, submitted.run)?;
    let seconds = t0.elapsed().as_secs_f64();
    let last = submitted.jobs.last().copied().ok_or_else(|| Error::Process("no jobs".into()))?;
    let chain_end = store.result(last)?.and_then(|v| v.as_u64());
    Ok((seconds, ok && chain_end == Some(CHAIN)))
}

fn w5(fresh: &mut dyn FnMut() -> Result<FreshStore, Error>, options: &Options, n: u64) -> Result<Report, Error> {
    let on = fresh()?;
    let (seconds, ok_on) = w5_once(&on, options, n, false)?;
    let off = fresh()?;
    let (ranks_off, ok_off) = w5_once(&off, options, n, true)?;
    let slots = f64::from(options.elves.max(1) * options.slots.max(1));
    let chain = (CHAIN * NAP_MS) as f64 / 1000.0;
    let work = ((n + CHAIN) * NAP_MS) as f64 / 1000.0 / slots;
    Ok(Report {
        workload: Kind::W5.name(),
        n,
        elves: options.elves,
        slots: options.slots,
        seconds,
        lower_bound_seconds: Some(chain.max(work)),
        ranks_off_seconds: Some(ranks_off),
        small_run_seconds: None,
        small_runs_seconds: Vec::new(),
        ok: ok_on && ok_off,
        store: on.scheme(),
        url: on.shown(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

fn w6(fresh: &mut dyn FnMut() -> Result<FreshStore, Error>, options: &Options, n: u64) -> Result<Report, Error> {
    let fresh = fresh()?;
    let url = fresh.url().to_owned();
    let store = Store::open(&url)?;
    let _fleet = Fleet::start(&url, options)?;
    let value = |i: u64| JobSpec::new("bench", "value", json!([i]));
    let t0 = Instant::now();
    let big = store.submit(&Submission { run: RunSpec::named("w6-big"), jobs: (0..n).map(value).collect() })?.run;
    let mut ok = true;
    let mut small = Vec::with_capacity(SMALL_RUNS);
    for k in 0..SMALL_RUNS {
        // Let the big run be worked a while first.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        let run = RunSpec::named(format!("w6-small-{k}"));
        let id = store.submit(&Submission { run, jobs: (0..SMALL).map(value).collect() })?.run;
        ok &= wait(&store, id)?;
        small.push(t.elapsed().as_secs_f64());
        let big_state = store.run(big)?.ok_or(storage::Error::UnknownRun(big))?.state;
        // A small run that ends after the big one measures nothing.
        ok &= big_state == RunState::Running;
    }
    ok &= wait(&store, big)?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut sorted = small.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Report {
        workload: Kind::W6.name(),
        n,
        elves: options.elves,
        slots: options.slots,
        seconds,
        lower_bound_seconds: None,
        ranks_off_seconds: None,
        small_run_seconds: sorted.get(sorted.len() / 2).copied(),
        small_runs_seconds: small,
        ok,
        store: fresh.scheme(),
        url: fresh.shown(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w5_puts_the_chain_after_the_independent_naps() {
        let jobs = w5_jobs(3);
        assert_eq!(jobs.len(), 3 + CHAIN as usize);
        assert_eq!(jobs[3].key.as_deref(), Some("c0"));
        assert_eq!(jobs[4].args, json!([{ "$output": "c0" }, NAP_MS]));
        assert_eq!((Kind::parse("W5"), Kind::parse("w6"), Kind::parse("w7")), (Some(Kind::W5), Some(Kind::W6), None));
    }
}
