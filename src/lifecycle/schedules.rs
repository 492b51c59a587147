//! Schedules: the leading coordinator turns each due tick into exactly one
//! job. The tick's job and the schedule's next tick are written in one
//! transaction, and the tick's run carries the unique key
//! `schedule:<name>@<tick>`, so restarts, failovers and replicas make one
//! job per tick: never none (missed ticks follow the schedule's policy),
//! never two.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Store;
use super::catalog::{self, SCHEDULE};
use super::submit::submit_in;
use super::work::Work;
use crate::agent::schedule::{self, Origin, Overlap};
use crate::agent::{Fired, Schedule, ScheduleStatus};
use crate::model::{EventKind, JobId, JobSpec, Millis, RunSpec, Submission};
use crate::storage::rows::NewEvent;
use crate::storage::seam::Read;
use crate::storage::{Error, Result};

impl Store {
    /// Every schedule, by name, with whether its last job still runs.
    pub fn schedules(&self) -> Result<Vec<ScheduleStatus>> {
        self.read(|r| {
            let all: Vec<Schedule> = catalog::list(r, SCHEDULE, "")?;
            all.into_iter().map(|s| status(r, s)).collect()
        })
    }

    /// One schedule.
    pub fn schedule(&self, name: &str) -> Result<ScheduleStatus> {
        self.read(|r| {
            let s = find(r, name)?;
            status(r, s)
        })
    }

    /// Adds a schedule of an existing task (`origin` is set to `Added`). Its
    /// arguments must fill the task's parameters, as its latest recorded
    /// version declares them.
    pub fn add_schedule(&self, s: &Schedule) -> Result<Schedule> {
        check_schedule_name(&s.name)?;
        self.write("add a schedule", |w| {
            if catalog::get::<Schedule>(w.tx, SCHEDULE, &s.name)?.is_some() {
                return Err(Error::invalid(
                    format!("schedule `{}`", s.name),
                    "a schedule with this name exists already",
                    format!("pick another name, or remove it first: `mycelium schedules rm {}`", s.name),
                ));
            }
            check_args(w, s)?;
            let now = w.now;
            let next_due =
                s.spec.first(now).map_err(|e| Error::invalid(format!("schedule `{}`", s.name), e, "fix it"))?;
            let new = Schedule {
                origin: Origin::Added,
                anchor: now,
                next_due,
                last_tick: None,
                last_job: None,
                fired: 0,
                skipped: 0,
                created_at: now,
                updated_at: now,
                ..s.clone()
            };
            catalog::put(w, SCHEDULE, &s.name, &new)?;
            changed(w, &new.name, "added", json!({ "spec": new.spec.describe() }));
            Ok(new)
        })
    }

    /// Removes a schedule. A declared one comes back when its elf registers
    /// again, unless its task no longer declares it.
    pub fn remove_schedule(&self, name: &str) -> Result<Schedule> {
        self.write("remove a schedule", |w| {
            let s = find(w.tx, name)?;
            catalog::delete(w, SCHEDULE, name)?;
            changed(w, name, "removed", json!({}));
            Ok(s)
        })
    }

    /// Pauses (no tick makes a job) or resumes a schedule; resumed, it
    /// fires from its next tick on (ticks while paused are dropped).
    pub fn pause_schedule(&self, name: &str, paused: bool) -> Result<Schedule> {
        self.write("pause or resume a schedule", |w| {
            let mut s = find(w.tx, name)?;
            if s.paused == paused {
                return Ok(s);
            }
            let now = w.now;
            s.paused = paused;
            s.updated_at = now;
            if !paused {
                s.next_due = s
                    .spec
                    .next_from(s.anchor, now)
                    .map_err(|e| Error::invalid(format!("schedule `{name}`"), e, "fix it"))?;
            }
            catalog::put(w, SCHEDULE, name, &s)?;
            changed(w, name, if paused { "paused" } else { "resumed" }, json!({}));
            Ok(s)
        })
    }

    /// Makes one job of the schedule now, whatever its ticks and policies.
    pub fn trigger_schedule(&self, name: &str) -> Result<Fired> {
        let max = self.limits().max_payload;
        self.write("trigger a schedule", |w| {
            let mut s = find(w.tx, name)?;
            let now = w.now;
            let job = tick_job(w, &s, now, Some("manual"), max)?;
            s.last_job = Some(job);
            s.fired += 1;
            s.updated_at = now;
            catalog::put(w, SCHEDULE, name, &s)?;
            changed(w, name, "triggered", json!({ "job": job.0 }));
            Ok(Fired { jobs: vec![(name.to_owned(), now, job)], readied: w.take_readied(), ..Fired::default() })
        })
    }

    /// Turns every due tick into its job, if `holder` leads `role` (checked
    /// inside the transaction, so a deposed leader makes nothing). Reads
    /// first and writes only when a tick is due.
    pub fn fire_schedules(&self, role: &str, holder: &str) -> Result<Fired> {
        let now = self.now();
        let (due_now, next_due) = self.read(|r| {
            let all: Vec<Schedule> = catalog::list(r, SCHEDULE, "")?;
            let live = all.iter().filter(|s| !s.paused);
            Ok((live.clone().any(|s| s.next_due <= now), live.map(|s| s.next_due).filter(|t| *t > now).min()))
        })?;
        if !due_now {
            return Ok(Fired { next_due, ..Fired::default() });
        }
        let max = self.limits().max_payload;
        self.write("turn schedule ticks into jobs", |w| fire(w, role, holder, max))
    }
}

fn check_schedule_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c)) {
        return Err(Error::invalid(
            format!("schedule name `{name}`"),
            "it is empty or has characters other than letters, digits, _ - . : /",
            "name the schedule with letters, digits and _ - . : / only",
        ));
    }
    Ok(())
}

/// The schedule `name`, or an error listing the known ones.
fn find(r: &mut dyn Read, name: &str) -> Result<Schedule> {
    if let Some(s) = catalog::get::<Schedule>(r, SCHEDULE, name)? {
        return Ok(s);
    }
    let known: Vec<String> = catalog::list::<Schedule>(r, SCHEDULE, "")?.into_iter().map(|s| s.name).collect();
    Err(Error::Unknown {
        kind: "schedule",
        name: name.to_owned(),
        detail: if known.is_empty() {
            "there is no schedule yet (a task declares one with #[task(every = ..)] or #[task(cron = ..)], or add one with `mycelium schedules add`)".to_owned()
        } else {
            format!("known: {} (see `mycelium schedules`)", known.join(", "))
        },
    })
}

fn status(r: &mut dyn Read, s: Schedule) -> Result<ScheduleStatus> {
    let running = match s.last_job {
        Some(j) => r.job_rows(&[j])?.first().is_some_and(|row| !row.state.is_final()),
        None => false,
    };
    Ok(ScheduleStatus { schedule: s, running })
}

/// Refuses arguments that do not fill the task's parameters.
fn check_args(w: &mut Work<'_>, s: &Schedule) -> Result<()> {
    let what = || format!("schedule `{}` of task {}/{}", s.name, s.elf, s.task);
    let Some(version) = w.tx.task_versions(&s.elf, &s.task)?.pop() else {
        return Err(Error::Unknown {
            kind: "task",
            name: format!("{}/{}", s.elf, s.task),
            detail: "no elf has registered it: start its elf once against this store, or check the name".to_owned(),
        });
    };
    let params = &version.signature.params;
    let given = match &s.args {
        Value::Array(a) => a.len(),
        other => {
            return Err(Error::invalid(
                what(),
                format!("its arguments `{other}` are not a JSON list"),
                "give the arguments as a list in parameter order, e.g. [7, \"x\"]",
            ));
        }
    };
    if given != params.len() {
        let wanted: Vec<String> = params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        return Err(Error::invalid(
            what(),
            format!(
                "the task takes {} argument(s) ({}) but the schedule gives {given}, so its ticks could not fill them",
                params.len(),
                if wanted.is_empty() { "none".to_owned() } else { wanted.join(", ") }
            ),
            "give one value per parameter, in order (`--args '[..]'` on the command line, `\"args\": [..]` over HTTP)",
        ));
    }
    Ok(())
}

/// Logs a change of a schedule.
fn changed(w: &mut Work<'_>, name: &str, what: &str, mut data: Value) {
    if let Value::Object(m) = &mut data {
        m.insert("schedule".into(), name.into());
        m.insert("what".into(), what.into());
    }
    let at = w.now;
    w.event(NewEvent::other(at, EventKind::ScheduleChanged, data.to_string()));
}

/// Records the job of `s`'s tick at `tick`, in its own run keyed by the tick.
fn tick_job(w: &mut Work<'_>, s: &Schedule, tick: Millis, trigger: Option<&str>, max_payload: usize) -> Result<JobId> {
    let mut spec = JobSpec::new(&s.elf, &s.task, s.args.clone());
    spec.retry = s.retry.clone();
    spec.timeout_ms = s.timeout_ms;
    let mut run = RunSpec::named(format!("schedule {}", s.name));
    run.labels = BTreeMap::from([("schedule".to_owned(), s.name.clone()), ("tick".to_owned(), tick.to_string())]);
    let key = match trigger {
        Some(t) => {
            run.labels.insert("trigger".to_owned(), t.to_owned());
            format!("schedule:{}@{t}:{tick}", s.name)
        }
        None => format!("schedule:{}@{tick}", s.name),
    };
    run.idempotency_key = Some(key);
    let done = submit_in(w, &Submission { run, jobs: vec![spec] }, max_payload)?;
    done.jobs.first().copied().ok_or_else(|| Error::backend("make a tick's job", std::io::Error::other("no job")))
}

fn fire(w: &mut Work<'_>, role: &str, holder: &str, max_payload: usize) -> Result<Fired> {
    let now = w.now;
    let leads = w.tx.leader(role)?.is_some_and(|l| l.holder == holder && l.until >= now);
    let mut out = Fired::default();
    if !leads {
        return Ok(out);
    }
    let all: Vec<Schedule> = catalog::list(w.tx, SCHEDULE, "")?;
    for mut s in all {
        if s.paused {
            continue;
        }
        if s.next_due > now {
            out.next_due = Some(out.next_due.map_or(s.next_due, |t: Millis| t.min(s.next_due)));
            continue;
        }
        let due = schedule::due(&s.spec, s.anchor, s.next_due, now, s.missed)
            .map_err(|e| Error::invalid(format!("schedule `{}`", s.name), e, "fix or remove the schedule"))?;
        let mut previous_open = match s.last_job {
            Some(j) => w.tx.job_rows(&[j])?.first().is_some_and(|r| !r.state.is_final()),
            None => false,
        };
        let mut held = None;
        let mut skipped = due.skipped;
        for t in &due.fire {
            match s.overlap {
                Overlap::Skip if previous_open => {
                    skipped += 1;
                    continue;
                }
                Overlap::Queue if previous_open => {
                    held = Some(*t);
                    break;
                }
                _ => {}
            }
            let job = tick_job(w, &s, *t, None, max_payload)?;
            out.jobs.push((s.name.clone(), *t, job));
            s.last_tick = Some(*t);
            s.last_job = Some(job);
            s.fired += 1;
            previous_open = true;
        }
        match held {
            // Held back: the coordinator's next rounds look again.
            Some(t) => s.next_due = t,
            None => {
                s.next_due = due.next;
                out.next_due = Some(out.next_due.map_or(due.next, |n| n.min(due.next)));
            }
        }
        if skipped > 0 {
            out.skipped += skipped;
            s.skipped += skipped;
            let why = if due.skipped > 0 { "missed" } else { "overlap" };
            changed(w, &s.name, "skipped", json!({ "ticks": skipped, "why": why }));
        }
        s.updated_at = now;
        let name = s.name.clone();
        catalog::put(w, SCHEDULE, &name, &s)?;
    }
    out.readied = w.take_readied();
    Ok(out)
}
