//! `mycelium gc`: deletes finished runs older than an age, and gives the
//! space back.

use std::io::Write;

use clap::Args as ClapArgs;

use super::render::{parse_duration, write_json};
use super::{Context, Result};
use crate::storage::{Reclaimed, Retention, Store};

/// Arguments of `mycelium gc`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Delete runs that ended at least this long ago (`30m`, `12h`, `7d`,
    /// `2w`; `0s` for every finished run).
    #[arg(long, value_name = "AGE", visible_alias = "finished-before")]
    pub(crate) older_than: String,
    /// Keep the failure records of the runs deleted (tracebacks, inputs,
    /// groups).
    #[arg(long)]
    pub(crate) keep_failures: bool,
    /// Only say what would be deleted.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Then rewrite the whole store to give back all the space it keeps (a
    /// full VACUUM on SQLite: needed once for a store made before stores
    /// reclaimed space as they go; writers wait meanwhile).
    #[arg(long)]
    pub(crate) vacuum: bool,
    /// Jobs deleted per transaction (default: adapted so that each write
    /// holds the store for about 20 ms).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) jobs_per_write: Option<u32>,
}

/// Runs `mycelium gc`.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let older_than_ms = parse_duration(&args.older_than).context("--older-than")?;
    let retention = Retention {
        older_than_ms,
        keep_failures: args.keep_failures,
        dry_run: args.dry_run,
        jobs_per_write: args.jobs_per_write,
    };
    let mut collected = store.collect(&retention).context("delete finished runs")?;
    if args.vacuum && !args.dry_run {
        collected.reclaimed = store.vacuum().context("vacuum the store")?;
    }
    if json {
        return write_json(out, &collected);
    }
    let d = &collected.deleted;
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    let runs: Vec<String> = collected.runs.iter().take(10).map(ToString::to_string).collect();
    let more = collected.runs.len().saturating_sub(runs.len());
    let listed = if runs.is_empty() {
        String::new()
    } else {
        format!(" ({}{})", runs.join(", "), if more > 0 { format!(" and {more} more") } else { String::new() })
    };
    if args.dry_run {
        writeln!(out, "{verb} {} run(s){listed} with {} job(s)", d.runs, d.jobs)?;
        return Ok(());
    }
    writeln!(
        out,
        "{verb} {} run(s){listed}: {} job(s), {} result(s), {} event(s), {} failure record(s){}, {} task version(s)",
        d.runs,
        d.jobs,
        d.results,
        d.events,
        d.failures,
        if args.keep_failures { " (failures kept)" } else { "" },
        d.versions
    )?;
    writeln!(
        out,
        "in {:.2} s ({:.0} jobs/s), {} write(s), the longest {:.1} ms",
        collected.seconds,
        d.jobs as f64 / collected.seconds.max(f64::MIN_POSITIVE),
        collected.writes,
        collected.longest_write_ms
    )?;
    match collected.reclaimed {
        Reclaimed::Bytes { bytes } => writeln!(out, "gave {} back to the filesystem", human_bytes(bytes))?,
        Reclaimed::NeedsVacuum => writeln!(
            out,
            "the store keeps the freed space for new data; `mycelium gc --older-than {} --vacuum` gives it back \
             (once: later collections give it back as they go)",
            args.older_than
        )?,
        Reclaimed::NotNeeded => {}
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}
