//! `mycelium bench`.

use clap::Args as ClapArgs;

use super::error::bail;
use super::{Context, Result};
use crate::bench::fresh::FreshStore;
use crate::bench::workload::{self, Workload};

/// Arguments of `mycelium bench`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Which workload: w1, w2, w3, w4 (docs/workloads.md), w5, w6
    /// (scheduling: a critical path behind filler, a small run behind a
    /// huge one), f1, f2, f3 (flows), store (the storage layer alone), or
    /// the agents': queue (messages/s), signal (emit to two receivers
    /// done), tick (schedule tick to job start).
    #[arg(long, default_value = "w1")]
    pub(crate) workload: String,
    /// Elf instances.
    #[arg(long, default_value_t = 2)]
    pub(crate) elves: u32,
    /// Slots per elf (jobs claimed and run at once; default 64, 4 for w5).
    #[arg(long)]
    pub(crate) slots: Option<u32>,
    /// Size (default: the workload's).
    #[arg(long)]
    pub(crate) n: Option<u64>,
    /// W4: jobs per chunk the driver streams into the open run.
    #[arg(long, default_value_t = workload::DEFAULT_CHUNK)]
    pub(crate) chunk: u64,
    /// Runs (each on a fresh store); the summary gives the median.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: u32,
    /// One JSON object per run on stdout, nothing else.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs a benchmark on fresh stores of the kind `store` names: a temp file
/// per run for `sqlite:` (the path is not used), a database of its own per
/// run for an ArangoDB server (named after the URL's, dropped afterwards).
pub(crate) fn run(store: &str, args: Args) -> Result<()> {
    if args.workload == "store" {
        if !store.starts_with("sqlite:") {
            bail!(
                "the `store` workload measures the embedded SQLite store only (compare with raw SQLite); run w1, w2 \
                 or w3 against `{}`",
                crate::storage::redact(store)
            );
        }
        return store_bench(&args);
    }
    if let Some(kind) = crate::bench::agents::Kind::parse(&args.workload) {
        return agents_bench(&args, kind);
    }
    if let Some(kind) = crate::bench::sched::Kind::parse(&args.workload) {
        return sched_bench(store, &args, kind);
    }
    let Some(kind) = Workload::parse(&args.workload) else {
        bail!(
            "unknown workload `{}`: expected w1, w2, w3, w4, w5, w6, f1, f2, f3, store, queue, signal or tick",
            args.workload
        );
    };
    let exe = std::env::current_exe().context("find the mycelium executable")?;
    let bin_dir = exe.parent().context("the executable has no directory")?.to_path_buf();
    let options = workload::Options {
        workload: kind,
        n: args.n,
        elves: args.elves.max(1),
        slots: args.slots.unwrap_or(DEFAULT_SLOTS).max(1),
        bin_dir,
        chunk: args.chunk.max(1),
    };
    let mut seconds = Vec::new();
    for i in 0..args.runs.max(1) {
        let fresh = FreshStore::new(store, i + 1)?;
        let report = workload::run(&fresh, &options)?;
        println!("{}", serde_json::to_string(&report).context("encode the report as JSON")?);
        if !args.json {
            eprintln!(
                "run {} on {}: {} n={} {:.3}s (submit {:.3}s) {:.0} tasks/s{}{}{} ok={}",
                i + 1,
                report.url,
                report.workload,
                report.n,
                report.seconds,
                report.submit_seconds,
                report.tasks_per_s,
                report.ms_per_hop.map(|m| format!(" {m:.3} ms/hop")).unwrap_or_default(),
                report.replay_ms.map(|m| format!(" replay {m:.2} ms")).unwrap_or_default(),
                report.bytes_per_job.map(|b| format!(" {b:.0} B/job on disk")).unwrap_or_default(),
                report.ok
            );
        }
        if !report.ok {
            bail!("the value {} does not match the expected {}", report.value, report.expected);
        }
        seconds.push(report.seconds);
    }
    if !args.json {
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        eprintln!(
            "median {:.3}s (min {:.3}s, max {:.3}s) over {} run(s)",
            median,
            seconds[0],
            seconds[seconds.len() - 1],
            seconds.len()
        );
    }
    Ok(())
}

/// The agents' workloads: one JSON object per run, then the median.
fn agents_bench(args: &Args, kind: crate::bench::agents::Kind) -> Result<()> {
    let exe = std::env::current_exe().context("find the mycelium executable")?;
    let bin_dir = exe.parent().context("the executable has no directory")?.to_path_buf();
    let slots = args.slots.unwrap_or(DEFAULT_SLOTS).max(1);
    let options = crate::bench::agents::Options { kind, n: args.n, elves: args.elves.max(1), slots, bin_dir };
    let mut figures = Vec::new();
    for i in 0..args.runs.max(1) {
        let dir = tempfile_dir()?;
        let report = crate::bench::agents::run(dir.path(), &options)?;
        println!("{}", serde_json::to_string(&report).context("encode the report as JSON")?);
        if !report.ok {
            bail!("run {}: a message, delivery or tick was lost or done twice", i + 1);
        }
        let (figure, unit) = match (report.messages_per_s, report.p50_ms) {
            (Some(m), _) => (m, "messages/s"),
            (None, Some(p)) => (p, "ms p50"),
            _ => (0.0, ""),
        };
        if !args.json {
            eprintln!("run {}: {} n={} {figure:.2} {unit} ({:.3}s)", i + 1, report.workload, report.n, report.seconds);
        }
        figures.push((figure, unit));
    }
    if !args.json {
        figures.sort_by(|a, b| a.0.total_cmp(&b.0));
        let unit = figures[0].1;
        eprintln!(
            "median {:.2} {unit} (min {:.2}, max {:.2}) over {} run(s)",
            figures[figures.len() / 2].0,
            figures[0].0,
            figures[figures.len() - 1].0,
            figures.len()
        );
    }
    Ok(())
}

/// Slots per elf unless the workload says otherwise.
const DEFAULT_SLOTS: u32 = 64;

/// The scheduling workloads: one JSON object per run, then the medians.
fn sched_bench(store: &str, args: &Args, kind: crate::bench::sched::Kind) -> Result<()> {
    let exe = std::env::current_exe().context("find the mycelium executable")?;
    let bin_dir = exe.parent().context("the executable has no directory")?.to_path_buf();
    let options = crate::bench::sched::Options {
        kind,
        n: args.n,
        elves: args.elves.max(1),
        slots: args.slots.unwrap_or(kind.default_slots()).max(1),
        bin_dir,
    };
    let mut figures: Vec<(f64, f64)> = Vec::new();
    let mut made = 0u32;
    for i in 0..args.runs.max(1) {
        let mut fresh = || -> Result<FreshStore, workload::Error> {
            made += 1;
            Ok(FreshStore::new(store, made)?)
        };
        let report = crate::bench::sched::run(&mut fresh, &options)?;
        println!("{}", serde_json::to_string(&report).context("encode the report as JSON")?);
        if !report.ok {
            bail!("run {}: a run failed, or a small run ended after the big one", i + 1);
        }
        let figure = match kind {
            crate::bench::sched::Kind::W5 => (report.seconds, report.ranks_off_seconds.unwrap_or(0.0)),
            crate::bench::sched::Kind::W6 => (report.small_run_seconds.unwrap_or(0.0), report.seconds),
        };
        if !args.json {
            match kind {
                crate::bench::sched::Kind::W5 => eprintln!(
                    "run {}: w5 n={} {:.3}s scheduled, {:.3}s ranks off, lower bound {:.3}s",
                    i + 1,
                    report.n,
                    figure.0,
                    figure.1,
                    report.lower_bound_seconds.unwrap_or(0.0)
                ),
                crate::bench::sched::Kind::W6 => eprintln!(
                    "run {}: w6 n={} small runs {:.3}s p50 ({:?}), big run {:.3}s",
                    i + 1,
                    report.n,
                    figure.0,
                    report.small_runs_seconds,
                    figure.1
                ),
            }
        }
        figures.push(figure);
    }
    if !args.json {
        let median = |f: &dyn Fn(&(f64, f64)) -> f64| {
            let mut v: Vec<f64> = figures.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b) = (median(&|f| f.0), median(&|f| f.1));
        match kind {
            crate::bench::sched::Kind::W5 => {
                eprintln!("median {a:.3}s scheduled, {b:.3}s ranks off, over {} run(s)", figures.len())
            }
            crate::bench::sched::Kind::W6 => {
                eprintln!("median small run {a:.3}s, big run {b:.3}s, over {} run(s)", figures.len())
            }
        }
    }
    Ok(())
}

/// The storage layer alone: single claims, batched claims, full lifecycles.
fn store_bench(args: &Args) -> Result<()> {
    let dir = tempfile_dir()?;
    let defaults = crate::bench::store::StoreBenchOptions::default();
    let options = crate::bench::store::StoreBenchOptions {
        jobs: args.n.map_or(defaults.jobs, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        runs: args.runs.max(1),
        ..defaults
    };
    let report = crate::bench::store::run(dir.path(), &options)?;
    if args.json {
        println!("{}", serde_json::to_string(&report).context("encode the report as JSON")?);
    } else {
        println!("{}", report.human());
    }
    Ok(())
}

/// A temp dir under the system's temp dir, removed when dropped.
fn tempfile_dir() -> Result<TempDir> {
    let path = std::env::temp_dir().join(format!("mycelium-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
    Ok(TempDir(path))
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store error keeps its class; a process that misbehaved is exit 1.
impl From<workload::Error> for super::Error {
    fn from(e: workload::Error) -> Self {
        match e {
            workload::Error::Storage(e) => e.into(),
            workload::Error::Process(message) => super::Error::Message(message),
        }
    }
}
