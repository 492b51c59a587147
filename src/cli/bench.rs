//! `mycelium bench`.

use anyhow::{Context, bail};
use clap::Args as ClapArgs;

use crate::bench::workload::{self, Workload};

/// Arguments of `mycelium bench`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Which workload: w1, w2, w3, w4 (WORKLOADS.md), or store (the storage layer alone).
    #[arg(long, default_value = "w1")]
    pub workload: String,
    /// Elf instances.
    #[arg(long, default_value_t = 2)]
    pub elves: u32,
    /// Slots per elf (jobs claimed and run at once).
    #[arg(long, default_value_t = 64)]
    pub slots: u32,
    /// Size (default: the workload's).
    #[arg(long)]
    pub n: Option<u64>,
    /// Runs (each on a fresh store); the summary gives the median.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// One JSON object per run on stdout, nothing else.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.workload == "store" {
        return store_bench(&args);
    }
    let Some(kind) = Workload::parse(&args.workload) else {
        bail!("unknown workload `{}`: expected w1, w2, w3, w4 or store", args.workload);
    };
    let exe = std::env::current_exe().context("find the mycelium executable")?;
    let bin_dir = exe.parent().context("the executable has no directory")?.to_path_buf();
    let options =
        workload::Options { workload: kind, n: args.n, elves: args.elves.max(1), slots: args.slots.max(1), bin_dir };
    let mut seconds = Vec::new();
    for i in 0..args.runs.max(1) {
        let dir = tempfile_dir()?;
        let report = workload::run(dir.path(), &options)?;
        println!("{}", serde_json::to_string(&report)?);
        if !args.json {
            eprintln!(
                "run {}: {} n={} {:.3}s {:.0} tasks/s{} ok={}",
                i + 1,
                report.workload,
                report.n,
                report.seconds,
                report.tasks_per_s,
                report.ms_per_hop.map(|m| format!(" {m:.3} ms/hop")).unwrap_or_default(),
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

/// The storage layer alone: single claims, batched claims, full lifecycles.
fn store_bench(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let defaults = crate::bench::store::StoreBenchOptions::default();
    let options = crate::bench::store::StoreBenchOptions {
        jobs: args.n.map_or(defaults.jobs, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        runs: args.runs.max(1),
        ..defaults
    };
    let report = crate::bench::store::run(dir.path(), &options)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.human());
    }
    Ok(())
}

/// A temp dir under the system's temp dir, removed when dropped.
fn tempfile_dir() -> anyhow::Result<TempDir> {
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
