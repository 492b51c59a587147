//! `mycelium schedules`: schedules with their next fire times; pause,
//! resume, trigger now; add and remove schedules of existing tasks.

use std::io::Write;

use clap::{Args as ClapArgs, Subcommand};

use super::lookup::TaskRef;
use super::render::{Table, write_json};
use super::signals::data;
use super::{Context, Result};
use crate::agent::schedule::Origin;
use crate::agent::{Bus, Missed, Overlap, Schedule, Spec};
use crate::model::{Millis, now_ms};
use crate::storage::Store;

/// Arguments of `mycelium schedules`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// What to do (`ls` when left out).
    #[command(subcommand)]
    pub(crate) action: Option<Action>,
}

/// What to do with schedules.
#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Every schedule with its next fire time (the default).
    Ls,
    /// Stops a schedule's ticks from making jobs.
    Pause {
        /// The schedule (`elf/task` for a declared one).
        name: String,
    },
    /// Lets a paused schedule fire again, from its next tick.
    Resume {
        /// The schedule.
        name: String,
    },
    /// Makes one job of the schedule now.
    Trigger {
        /// The schedule.
        name: String,
    },
    /// Schedules an existing task (its elf must have registered once).
    Add {
        /// The schedule's name.
        name: String,
        /// The task: `elf/task`.
        #[arg(long)]
        task: String,
        /// An interval (`15s`, `1h30m`).
        #[arg(long, conflicts_with = "cron")]
        every: Option<String>,
        /// The delay before an interval's first tick.
        #[arg(long, requires = "every")]
        start_after: Option<String>,
        /// A five-field cron expression (`0 */4 * * *`, `@daily`).
        #[arg(long)]
        cron: Option<String>,
        /// The cron expression's time zone (an IANA name; UTC by default).
        #[arg(long, requires = "cron")]
        tz: Option<String>,
        /// The task's arguments, a JSON list in parameter order.
        #[arg(long, default_value = "[]")]
        args: String,
        /// Missed ticks: skip, once or catch_up.
        #[arg(long, default_value = "catch_up")]
        missed: String,
        /// A tick while the previous job runs: allow, skip or queue.
        #[arg(long, default_value = "allow")]
        overlap: String,
    },
    /// Removes a schedule (a declared one returns when its elf starts again).
    Rm {
        /// The schedule.
        name: String,
    },
}

/// `2026-11-23 06:00:00 UTC (in 3h02m)`.
fn when(at: Millis, now: Millis) -> String {
    let abs = jiff::Timestamp::from_millisecond(at)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| at.to_string());
    let d = at - now;
    let rel = if d >= 0 {
        format!("in {}", super::render::duration(d))
    } else {
        format!("{} ago", super::render::duration(-d))
    };
    format!("{abs} ({rel})")
}

/// Runs `mycelium schedules`.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let now = now_ms();
    match args.action.unwrap_or(Action::Ls) {
        Action::Ls => {
            let all = store.schedules().context("read the schedules")?;
            if json {
                return write_json(out, &all);
            }
            if all.is_empty() {
                writeln!(
                    out,
                    "no schedules (a task declares one with #[task(every = \"15s\")] or #[task(cron = \"0 * * * *\")]; or `mycelium schedules add`)"
                )?;
                return Ok(());
            }
            let mut table = Table::new(&["schedule", "task", "when", "next", "fired", "skipped", "state", "policy"]);
            for st in &all {
                let s = &st.schedule;
                let state = if s.paused {
                    "paused"
                } else if st.running {
                    "running"
                } else {
                    "idle"
                };
                table.row(vec![
                    s.name.clone(),
                    format!("{}/{}", s.elf, s.task),
                    s.spec.describe(),
                    if s.paused { "-".to_owned() } else { when(s.next_due, now) },
                    s.fired.to_string(),
                    s.skipped.to_string(),
                    state.to_owned(),
                    format!("missed={} overlap={}", <&str>::from(s.missed), <&str>::from(s.overlap)),
                ]);
            }
            table.write(out)?;
            Ok(())
        }
        Action::Pause { name } => {
            let s = store.pause_schedule(&name, true)?;
            say(out, json, &s, format!("paused {name}: its ticks make no job until `mycelium schedules resume {name}`"))
        }
        Action::Resume { name } => {
            let s = store.pause_schedule(&name, false)?;
            say(out, json, &s, format!("resumed {name}: next tick {}", when(s.next_due, now)))
        }
        Action::Trigger { name } => {
            let fired = store.trigger_schedule(&name)?;
            Bus::new(store.clone()).ring(&fired.readied);
            if json {
                return write_json(out, &fired);
            }
            let job = fired.jobs.first().map(|(_, _, j)| j.to_string()).unwrap_or_default();
            writeln!(out, "triggered {name}: job {job}")?;
            Ok(())
        }
        Action::Add { name, task, every, start_after, cron, tz, args, missed, overlap } => {
            let t = TaskRef::parse(&task)?;
            let spec = match (every, cron) {
                (Some(e), None) => Spec::every(&e, start_after.as_deref()),
                (None, Some(c)) => Spec::cron(&c, tz.as_deref()),
                _ => Err("give --every or --cron".to_owned()),
            }
            .map_err(super::Error::Message)?;
            let missed: Missed = missed.parse().map_err(super::Error::Message)?;
            let overlap: Overlap = overlap.parse().map_err(super::Error::Message)?;
            let schedule = Schedule {
                missed,
                overlap,
                ..Schedule::new(
                    name.clone(),
                    t.elf.clone(),
                    t.task.clone(),
                    data(&args).context("--args")?,
                    spec,
                    Origin::Added,
                )
            };
            let s = store.add_schedule(&schedule)?;
            say(out, json, &s, format!("added {name} ({}): first tick {}", s.spec.describe(), when(s.next_due, now)))
        }
        Action::Rm { name } => {
            let s = store.remove_schedule(&name)?;
            let note = if s.origin == Origin::Declared {
                " (declared by a task: it returns when its elf starts again, unless the task no longer declares it)"
            } else {
                ""
            };
            say(out, json, &s, format!("removed {name}{note}"))
        }
    }
}

fn say(out: &mut dyn Write, json: bool, s: &Schedule, text: String) -> Result<()> {
    if json {
        return write_json(out, s);
    }
    writeln!(out, "{text}")?;
    Ok(())
}
