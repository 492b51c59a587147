//! `mycelium probe`: small, scriptable store actions for the multi-process
//! cases of the conformance suite (hidden from help). Every action prints
//! machine-readable lines on stdout.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::json;

use super::error::bail;
use super::{Context, Result};
use crate::model::{Completion, InstanceId, JobSpec, RunSpec, Submission};
use crate::storage::{self, ClaimRequest};

/// Arguments of `mycelium probe`.
#[derive(Debug, Args)]
pub(crate) struct Probe {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Claims jobs of an elf until none is left, printing `claimed <job> <epoch>` lines.
    ClaimAll {
        #[arg(long)]
        elf: String,
        #[arg(long, default_value_t = 1)]
        batch: u32,
        /// Complete every claimed job (value: its id).
        #[arg(long)]
        complete: bool,
        /// Stop after this many empty claims in a row.
        #[arg(long, default_value_t = 20)]
        patience: u32,
        /// The lease of each claim. Long by default: on a loaded machine a
        /// slow server can take more than a minute to hand out thousands of
        /// single claims, and a lease that ran out meanwhile would hand its
        /// job out again (a second claim the exclusivity check would count).
        #[arg(long, default_value_t = 3_600_000)]
        ttl_ms: i64,
    },
    /// Claims up to `count` jobs, prints them and `ready`, then sleeps until killed.
    Hold {
        #[arg(long)]
        elf: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[arg(long, default_value_t = 60_000)]
        ttl_ms: i64,
    },
    /// Submits `runs` one-job runs, one transaction each.
    Submit {
        #[arg(long)]
        runs: u32,
        #[arg(long, default_value = "w")]
        elf: String,
    },
    /// Submits runs of `jobs` chained jobs forever (to be killed mid-write).
    SubmitForever {
        #[arg(long)]
        jobs: u32,
    },
    /// Opens a run, prints `run <id>`, then streams chunks of `chunk`
    /// `elf`/`task` jobs into it forever (to be killed mid-stream), printing
    /// `chunk <k> <first job> <last job>` after each commits. Job `i` takes
    /// `[i]`, except each chunk's first job, which takes the output of the
    /// chunk before's last job (a reference across chunks).
    StreamForever {
        #[arg(long)]
        chunk: u32,
        #[arg(long, default_value = "bench")]
        elf: String,
        #[arg(long, default_value = "value")]
        task: String,
    },
}

/// Runs the probe against `url`.
pub(crate) fn run(url: &str, probe: Probe) -> Result<()> {
    let store = storage::Store::open(url).with_context(|| format!("open store `{url}`"))?;
    let mut out = std::io::stdout().lock();
    let instance = InstanceId::random();
    let tasks = vec!["t".to_owned()];
    match probe.action {
        Action::ClaimAll { elf, batch, complete, patience, ttl_ms } => {
            let mut empty = 0;
            let mut n = 0u64;
            let mut max_gap = Duration::ZERO;
            let mut last = Instant::now();
            while empty < patience {
                let req = ClaimRequest { instance: &instance, elf: &elf, tasks: &tasks, max: batch, ttl_ms };
                let claimed = store.claim(&req)?;
                if claimed.is_empty() {
                    empty += 1;
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                empty = 0;
                max_gap = max_gap.max(last.elapsed());
                last = Instant::now();
                for c in &claimed {
                    writeln!(out, "claimed {} {}", c.lease.job, c.lease.epoch)?;
                }
                n += claimed.len() as u64;
                if complete {
                    let done: Vec<_> = claimed
                        .iter()
                        .map(|c| Completion {
                            lease: c.lease,
                            ran_sha: None,
                            value: json!(c.lease.job.0),
                            waited_ms: 0,
                        })
                        .collect();
                    store.complete(&done)?;
                }
            }
            writeln!(out, "done {n} {}", max_gap.as_micros())?;
        }
        Action::Hold { elf, count, ttl_ms } => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut held = 0;
            while held < count {
                let req = ClaimRequest { instance: &instance, elf: &elf, tasks: &tasks, max: count - held, ttl_ms };
                for c in store.claim(&req)? {
                    writeln!(out, "held {} {}", c.lease.job, c.lease.epoch)?;
                    held += 1;
                }
                if Instant::now() > deadline {
                    bail!("found only {held} of {count} jobs to hold");
                }
            }
            writeln!(out, "ready")?;
            out.flush()?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Action::Submit { runs, elf } => {
            for i in 0..runs {
                let s = Submission {
                    run: RunSpec::named(format!("probe-{i}")),
                    jobs: vec![JobSpec::new(&elf, "t", json!([i]))],
                };
                let done = store.submit(&s)?;
                writeln!(out, "submitted {}", done.run)?;
            }
        }
        Action::SubmitForever { jobs } => {
            writeln!(out, "started")?;
            out.flush()?;
            for i in 0u64.. {
                let specs = (0..jobs)
                    .map(|k| {
                        let args = if k == 0 { json!([i]) } else { json!([{ "$output": (k - 1).to_string() }]) };
                        JobSpec::new("w", "t", args)
                    })
                    .collect();
                store.submit(&Submission { run: RunSpec::named(format!("forever-{i}")), jobs: specs })?;
            }
        }
        Action::StreamForever { chunk, elf, task } => {
            let run = store.open_run(&RunSpec::named("stream-forever"))?.id;
            writeln!(out, "run {run}")?;
            out.flush()?;
            let mut last = None;
            let mut i = 0u64;
            for k in 0u64.. {
                let specs: Vec<JobSpec> = (0..chunk)
                    .map(|c| {
                        let args = match last {
                            Some(job) if c == 0 => json!([{ "$output": job }]),
                            _ => json!([i + u64::from(c)]),
                        };
                        JobSpec::new(&elf, &task, args)
                    })
                    .collect();
                i += u64::from(chunk);
                let added = store.append(run, &specs)?;
                let (Some(first), Some(end)) = (added.jobs.first(), added.jobs.last()) else { bail!("empty chunk") };
                writeln!(out, "chunk {k} {first} {end}")?;
                out.flush()?;
                last = Some(end.0);
            }
        }
    }
    Ok(())
}
