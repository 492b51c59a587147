//! The store benchmark: how fast the embedded store claims and completes
//! jobs through the [`Store`] trait, one process, no elves.
//!
//! Three figures, each measured `runs` times on a fresh SQLite store:
//!
//! * **single claims/s**: N ready independent jobs claimed one per
//!   transaction;
//! * **batched claims/s**: the same jobs claimed `batch` at a time;
//! * **lifecycles/s**: N jobs submitted, then claimed and completed `batch` at
//!   a time with [`Store::complete_and_claim`], timed from before the submit
//!   to the last completion, events included; every job must end `succeeded`
//!   and the run `succeeded`.
//!
//! Raw SQLite rates (single-row claim transactions, and `batch`-row claims
//! without events, leases or results) are measured in the same run on the
//! same machine, and the lifecycle rate is reported as a share of the raw
//! batched one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::model::{
    Build, Completion, ElfInstance, ElfState, InstanceId, JobSpec, JobState, Outcome, RunId, RunSpec, RunState,
    Submission, now_ms,
};
use crate::storage::{ClaimRequest, Error, JobQuery, Store};

/// The elf name of the benchmark's jobs.
const ELF: &str = "bench";
/// The task name of the benchmark's jobs.
const TASK: &str = "noop";
/// Lease length: long enough never to expire during a run.
const TTL_MS: i64 = 600_000;

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct StoreBenchOptions {
    /// Jobs per measurement (N).
    pub(crate) jobs: u32,
    /// Measurements per figure, each on a fresh store.
    pub(crate) runs: u32,
    /// Jobs per claim in the batched and lifecycle figures.
    pub(crate) batch: u32,
}

impl Default for StoreBenchOptions {
    fn default() -> Self {
        Self { jobs: 20_000, runs: 5, batch: 64 }
    }
}

/// One figure over all runs, in jobs per second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Figure {
    /// The median of `samples`.
    pub(crate) median: f64,
    /// The slowest run.
    pub(crate) min: f64,
    /// The fastest run.
    pub(crate) max: f64,
    /// Every run's figure, in the order measured.
    pub(crate) samples: Vec<f64>,
}

impl Figure {
    /// The figure of `samples` (at least one).
    fn of(samples: Vec<f64>) -> Self {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(0.0),
            max: sorted.last().copied().unwrap_or(0.0),
            samples,
        }
    }
}

/// Raw SQLite on this machine, in the same run, without the store's
/// bookkeeping (no events, leases, results or fencing; one narrow table): the
/// physical limit of the embedded store, to compare with, since absolute
/// figures differ 1.5-2x between machines of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct RawSqlite {
    /// Single-row claim transactions per second.
    pub(crate) single_claims_per_s: Figure,
    /// Jobs per second claimed `batch` at a time.
    pub(crate) batched_claims_per_s: Figure,
}

/// What the store benchmark measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StoreBenchReport {
    /// Always `store`.
    pub(crate) benchmark: &'static str,
    /// The store's URL scheme.
    pub(crate) store: &'static str,
    /// The mycelium version.
    pub(crate) version: &'static str,
    /// Jobs per measurement.
    pub(crate) jobs: u32,
    /// Measurements per figure.
    pub(crate) runs: u32,
    /// Jobs per claim in the batched and lifecycle figures.
    pub(crate) batch: u32,
    /// Jobs claimed per second, one per transaction.
    pub(crate) single_claims_per_s: Figure,
    /// Jobs claimed per second, `batch` per transaction.
    pub(crate) batched_claims_per_s: Figure,
    /// Jobs submitted, claimed and completed per second, `batch` at a time.
    pub(crate) lifecycles_per_s: Figure,
    /// Raw SQLite on this machine, measured in the same run.
    pub(crate) raw_sqlite: RawSqlite,
    /// Full lifecycles per raw batched claim (medians): how close the store
    /// comes to the physical limit.
    pub(crate) lifecycle_to_raw_batched: f64,
}

impl StoreBenchReport {
    /// The report as a table for people.
    pub(crate) fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "store benchmark: {} store, {} jobs per run, {} run{} per figure (mycelium {})",
            self.store,
            group(self.jobs as f64),
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            self.version
        );
        let _ = writeln!(out, "{:<34} {:>10} {:>10} {:>10}", "jobs/s", "median", "min", "max");
        let rows = [
            ("single claims".to_owned(), &self.single_claims_per_s),
            (format!("batched claims ({})", self.batch), &self.batched_claims_per_s),
            (format!("full lifecycles ({})", self.batch), &self.lifecycles_per_s),
            ("raw SQLite: single claims".to_owned(), &self.raw_sqlite.single_claims_per_s),
            (format!("raw SQLite: batched claims ({})", self.batch), &self.raw_sqlite.batched_claims_per_s),
        ];
        for (name, f) in rows {
            let _ = writeln!(out, "{:<34} {:>10} {:>10} {:>10}", name, group(f.median), group(f.min), group(f.max));
        }
        let _ = writeln!(
            out,
            "full lifecycles are {:.0}% of raw batched claims on this machine (raw SQLite: one narrow table, \
             no events, leases or results)",
            self.lifecycle_to_raw_batched * 100.0
        );
        out
    }
}

/// `x` rounded, with thousands separated by commas.
fn group(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs the store benchmark on fresh SQLite stores in `dir` (created when
/// missing; the stores are removed afterwards).
pub(crate) fn run(dir: &Path, opts: &StoreBenchOptions) -> Result<StoreBenchReport, Error> {
    for (name, value) in [("jobs", opts.jobs), ("runs", opts.runs), ("batch", opts.batch)] {
        if value == 0 {
            return Err(Error::invalid(
                "store benchmark options",
                format!("{name} is 0"),
                format!("pass a positive number of {name}"),
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Unwritable { path: dir.to_owned(), detail: e.to_string() })?;
    let mut single = Vec::new();
    let mut batched = Vec::new();
    let mut lifecycles = Vec::new();
    let mut raw_single = Vec::new();
    let mut raw_batched = Vec::new();
    for i in 0..opts.runs {
        single.push(with_store(dir, &format!("single-{i}"), |s| claims(s, opts.jobs, 1))?);
        batched.push(with_store(dir, &format!("batched-{i}"), |s| claims(s, opts.jobs, opts.batch))?);
        lifecycles.push(with_store(dir, &format!("lifecycle-{i}"), |s| lifecycle(s, opts.jobs, opts.batch))?);
        raw_single.push(raw_claims(dir, &format!("raw-single-{i}"), opts.jobs, 1)?);
        raw_batched.push(raw_claims(dir, &format!("raw-batched-{i}"), opts.jobs, opts.batch)?);
    }
    let raw_sqlite =
        RawSqlite { single_claims_per_s: Figure::of(raw_single), batched_claims_per_s: Figure::of(raw_batched) };
    let lifecycles_per_s = Figure::of(lifecycles);
    let lifecycle_to_raw_batched =
        lifecycles_per_s.median / raw_sqlite.batched_claims_per_s.median.max(f64::MIN_POSITIVE);
    Ok(StoreBenchReport {
        benchmark: "store",
        store: "sqlite",
        version: env!("CARGO_PKG_VERSION"),
        jobs: opts.jobs,
        runs: opts.runs,
        batch: opts.batch,
        single_claims_per_s: Figure::of(single),
        batched_claims_per_s: Figure::of(batched),
        lifecycles_per_s,
        raw_sqlite,
        lifecycle_to_raw_batched,
    })
}

/// Raw SQLite: `n` ready rows of one narrow table claimed `batch` per
/// `BEGIN IMMEDIATE` transaction (WAL, synchronous=NORMAL, as the store), no
/// events, leases or results; returns rows claimed per second.
fn raw_claims(dir: &Path, name: &str, n: u32, batch: u32) -> Result<f64, Error> {
    let db = dir.join(format!("mycelium-store-bench-{}-{name}.db", std::process::id()));
    remove_store(&db)?;
    let sql = |e: rusqlite::Error| Error::backend("run the raw SQLite benchmark", e);
    let rate = (|| -> Result<f64, Error> {
        let mut conn = rusqlite::Connection::open(&db).map_err(sql)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; \
             CREATE TABLE jobs(id INTEGER PRIMARY KEY, state INTEGER NOT NULL, holder TEXT); \
             CREATE INDEX jobs_ready ON jobs(id) WHERE state = 0;",
        )
        .map_err(sql)?;
        let tx = conn.transaction().map_err(sql)?;
        {
            let mut insert = tx.prepare("INSERT INTO jobs(id, state) VALUES (?1, 0)").map_err(sql)?;
            for i in 1..=i64::from(n) {
                insert.execute([i]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        let start = Instant::now();
        let mut claimed = 0u64;
        loop {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
            let got = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 1, holder = 'raw' WHERE id IN \
                     (SELECT id FROM jobs WHERE state = 0 ORDER BY id LIMIT ?1) RETURNING id",
                )
                .map_err(sql)?
                .query_map([batch], |r| r.get::<_, i64>(0))
                .map_err(sql)?
                .count() as u64;
            tx.commit().map_err(sql)?;
            if got == 0 {
                break;
            }
            claimed += got;
        }
        if claimed != u64::from(n) {
            return Err(broken(format!("raw SQLite claimed {claimed} rows of {n}")));
        }
        Ok(f64::from(n) / start.elapsed().as_secs_f64().max(f64::MIN_POSITIVE))
    })();
    let removed = remove_store(&db);
    let rate = rate?;
    removed?;
    Ok(rate)
}

/// The files of the store at `db`.
fn store_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-gate", "-journal"]
        .iter()
        .map(|suffix| {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        })
        .collect()
}

fn remove_store(db: &Path) -> Result<(), Error> {
    for file in store_files(db) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Unwritable { path: file, detail: e.to_string() }),
        }
    }
    Ok(())
}

/// Runs `f` on a fresh store named after `name` in `dir`, then removes it.
fn with_store(dir: &Path, name: &str, f: impl FnOnce(&Store) -> Result<f64, Error>) -> Result<f64, Error> {
    let db = dir.join(format!("mycelium-store-bench-{}-{name}.db", std::process::id()));
    remove_store(&db)?;
    let outcome = Store::open(&format!("sqlite://{}", db.display())).and_then(|store: Store| {
        let out = f(&store);
        drop(store);
        out
    });
    let removed = remove_store(&db);
    let rate = outcome?;
    removed?;
    Ok(rate)
}

/// An error of the store found by the benchmark's checks.
fn broken(problem: String) -> Error {
    Error::backend("pass the store benchmark's checks", std::io::Error::other(problem))
}

/// Registers the benchmark's elf instance.
fn register(store: &Store) -> Result<InstanceId, Error> {
    let instance = InstanceId::random();
    let now = now_ms();
    store.register_elf(&ElfInstance {
        instance: instance.clone(),
        elf: ELF.into(),
        host: "localhost".into(),
        pid: std::process::id(),
        build: Build { version: env!("CARGO_PKG_VERSION").into(), commit: None, program: None },
        tasks: Vec::new(),
        slots: 64,
        started_at: now,
        heartbeat_at: now,
        lease_until: now.saturating_add(TTL_MS),
        state: ElfState::Running,
        label: None,
        process_start: None,
    })?;
    Ok(instance)
}

/// Submits `n` ready independent jobs in one run.
fn submit(store: &Store, n: u32) -> Result<RunId, Error> {
    let jobs = (0..n).map(|i| JobSpec::new(ELF, TASK, json!([i]))).collect();
    let submitted = store.submit(&Submission { run: RunSpec::named("store-bench"), jobs })?;
    if submitted.ready != n {
        return Err(broken(format!("{} of {n} independent jobs were ready after the submit", submitted.ready)));
    }
    Ok(submitted.run)
}

/// Claims `n` ready jobs `max` at a time; returns jobs claimed per second.
fn claims(store: &Store, n: u32, max: u32) -> Result<f64, Error> {
    let instance = register(store)?;
    submit(store, n)?;
    let tasks = [TASK.to_owned()];
    let request = ClaimRequest { instance: &instance, elf: ELF, tasks: &tasks, max, ttl_ms: TTL_MS };
    let mut claimed = 0u64;
    let start = Instant::now();
    loop {
        let got = store.claim(&request)?;
        if got.is_empty() {
            break;
        }
        if got.len() > max as usize {
            return Err(broken(format!("a claim of at most {max} jobs returned {}", got.len())));
        }
        claimed += got.len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    if claimed != u64::from(n) {
        return Err(broken(format!("{claimed} jobs claimed of {n} ready")));
    }
    Ok(u64::from(n) as f64 / seconds.max(f64::MIN_POSITIVE))
}

/// Submits `n` jobs and runs them to the end `batch` at a time; returns jobs
/// per second from before the submit to the last completion.
fn lifecycle(store: &Store, n: u32, batch: u32) -> Result<f64, Error> {
    let instance = register(store)?;
    let tasks = [TASK.to_owned()];
    let request = ClaimRequest { instance: &instance, elf: ELF, tasks: &tasks, max: batch, ttl_ms: TTL_MS };
    let start = Instant::now();
    let run = submit(store, n)?;
    let mut done: Vec<Completion> = Vec::new();
    let mut completed = 0u64;
    loop {
        let crate::storage::Turn { outcomes, claimed, .. } = store.complete_and_claim(&done, &request)?;
        if outcomes.len() != done.len() || outcomes.iter().any(|o| *o != Outcome::Ok) {
            return Err(broken(format!("completing {} jobs answered {outcomes:?}", done.len())));
        }
        completed += done.len() as u64;
        if claimed.is_empty() {
            break;
        }
        // The no-op task returns its argument.
        done = claimed
            .into_iter()
            .map(|c| Completion {
                lease: c.lease,
                ran_sha: None,
                value: c.args.get(0).cloned().unwrap_or_default(),
                waited_ms: 0,
            })
            .collect();
    }
    let seconds = start.elapsed().as_secs_f64();
    verify(store, run, n, completed)?;
    Ok(f64::from(n) / seconds.max(f64::MIN_POSITIVE))
}

/// Checks that all `n` jobs of `run` succeeded and the run did.
fn verify(store: &Store, run: RunId, n: u32, completed: u64) -> Result<(), Error> {
    if completed != u64::from(n) {
        return Err(broken(format!("{completed} jobs completed of {n} submitted")));
    }
    let jobs = store.jobs(&JobQuery { run: Some(run), ..JobQuery::default() })?;
    if jobs.len() != n as usize {
        return Err(broken(format!("run {run} lists {} jobs, {n} were submitted", jobs.len())));
    }
    if let Some(job) = jobs.iter().find(|j| j.state != JobState::Succeeded) {
        return Err(broken(format!("job {} of run {run} is {}, not succeeded", job.id, job.state)));
    }
    let Some(first) = jobs.first() else { return Ok(()) };
    match store.result(first.id)? {
        Some(value) if Some(&value) == first.args.get(0) => {}
        other => return Err(broken(format!("job {} has result {other:?}, expected its argument", first.id))),
    }
    match store.run(run)? {
        Some(r) if r.state == RunState::Succeeded && r.open == 0 && r.failed == 0 => Ok(()),
        Some(r) => Err(broken(format!("run {run} is {} with {} open and {} failed jobs", r.state, r.open, r.failed))),
        None => Err(Error::UnknownRun(run)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_benchmark_reports_consistent_figures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = StoreBenchOptions { jobs: 300, runs: 1, batch: 64 };
        let report = run(dir.path(), &opts).expect("benchmark");
        assert_eq!((report.jobs, report.runs, report.batch), (300, 1, 64));
        for f in [
            &report.single_claims_per_s,
            &report.batched_claims_per_s,
            &report.lifecycles_per_s,
            &report.raw_sqlite.single_claims_per_s,
            &report.raw_sqlite.batched_claims_per_s,
        ] {
            assert_eq!(f.samples.len(), 1);
            assert!(f.min.is_finite() && f.min > 0.0, "{f:?}");
            assert!(f.min <= f.median && f.median <= f.max, "{f:?}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
        assert!(left.is_empty(), "the stores were not removed: {left:?}");
        let human = report.human();
        for needle in [
            "single claims",
            "batched claims (64)",
            "full lifecycles (64)",
            "raw SQLite: single claims",
            "raw SQLite: batched claims (64)",
            "% of raw batched claims",
        ] {
            assert!(human.contains(needle), "{needle} missing from\n{human}");
        }
        let json = serde_json::to_value(&report).expect("serialize");
        assert_eq!(json["single_claims_per_s"]["samples"].as_array().map(Vec::len), Some(1));
        assert_eq!(json["raw_sqlite"]["batched_claims_per_s"]["samples"].as_array().map(Vec::len), Some(1));
        assert!(report.lifecycle_to_raw_batched > 0.0);
    }

    /// The full-size measurement, for people:
    /// `cargo test --release --lib bench::store::tests::full_size -- --ignored --nocapture`
    /// (`MYCELIUM_BENCH_JOBS` and `MYCELIUM_BENCH_RUNS` override N and the runs).
    #[test]
    #[ignore = "a measurement, not a check: run it in release"]
    fn full_size() {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
        let defaults = StoreBenchOptions::default();
        let opts = StoreBenchOptions {
            jobs: env("MYCELIUM_BENCH_JOBS").unwrap_or(defaults.jobs),
            runs: env("MYCELIUM_BENCH_RUNS").unwrap_or(defaults.runs),
            ..defaults
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let report = run(dir.path(), &opts).expect("benchmark");
        println!("{}", report.human());
        println!("{}", serde_json::to_string(&report).expect("serialize"));
    }

    #[test]
    fn figures_take_the_median_of_the_runs() {
        let f = Figure::of(vec![3.0, 1.0, 2.0, 10.0, 5.0]);
        assert_eq!((f.median, f.min, f.max), (3.0, 1.0, 10.0));
        assert_eq!(f.samples, [3.0, 1.0, 2.0, 10.0, 5.0]);
        assert_eq!(Figure::of(vec![4.0, 2.0]).median, 3.0);
    }

    #[test]
    fn zero_options_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = run(dir.path(), &StoreBenchOptions { runs: 0, ..StoreBenchOptions::default() }).unwrap_err();
        assert!(err.to_string().contains("runs is 0"), "{err}");
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(group(0.0), "0");
        assert_eq!(group(999.4), "999");
        assert_eq!(group(1_000.0), "1,000");
        assert_eq!(group(187_654.6), "187,655");
        assert_eq!(group(1_234_567.0), "1,234,567");
    }
}
