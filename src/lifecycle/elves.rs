//! Elf instances and their leases: registration, task versions,
//! heartbeats, release, departures, reaping, and coordinator leadership.

use serde_json::json;

use super::Store;
use super::complete::{holds, settled};
use super::fail::{expire, fail_row};
use super::outcomes::{Departure, Readied, Reaped, Released, merge};
use super::work::Work;
use crate::model::{
    ElfInstance, ElfState, EventKind, FailureKind, FailureReport, InstanceId, JobState, Lease, Outcome, TaskSha,
    TaskVersion,
};
use crate::storage::rows::{LeaderRow, NewEvent};
use crate::storage::{Error, Result};

/// Expired leases handled by one reap (the next reap takes the rest).
const REAP_BATCH: u32 = 1000;

impl Store {
    /// Records task versions (idempotent on the sha). A version whose source
    /// does not hash to its sha is rejected.
    pub fn record_tasks(&self, versions: &[TaskVersion]) -> Result<()> {
        for v in versions {
            if TaskSha::of_source(&v.source) != v.sha {
                return Err(Error::invalid(
                    format!("task version {}/{} ({})", v.elf, v.name, v.sha),
                    "its sha is not the sha256 of its source",
                    "compute the sha with TaskSha::of_source over the exact source text",
                ));
            }
        }
        self.write("record task versions", |w| {
            let added = w.tx.put_task_versions(versions, w.now)?;
            for (v, new) in versions.iter().zip(added) {
                if new {
                    let data = json!({ "sha": v.sha, "elf": v.elf, "task": v.name }).to_string();
                    w.event(NewEvent::other(w.now, EventKind::TaskRecorded, data));
                }
            }
            Ok(())
        })
    }

    /// Registers (or re-registers) an elf instance.
    pub fn register_elf(&self, elf: &ElfInstance) -> Result<()> {
        self.write("register an elf", |w| {
            let mut me = elf.clone();
            if let Some(old) = w.tx.elf(&elf.instance)? {
                me.started_at = old.started_at;
            }
            w.tx.put_elf(&me)?;
            let data = json!({ "instance": elf.instance, "elf": elf.elf, "host": elf.host, "pid": elf.pid, "label": elf.label })
                .to_string();
            w.event(NewEvent::other(w.now, EventKind::ElfStarted, data));
            Ok(())
        })
    }

    /// Renews the instance's own lease and the leases it holds, by `ttl_ms`.
    /// Returns one outcome per lease: `Cancelled` and `LeaseLost` tell the
    /// elf to stop the job and not report it.
    pub fn heartbeat(&self, instance: &InstanceId, held: &[Lease], ttl_ms: i64) -> Result<Vec<Outcome>> {
        self.write("heartbeat", |w| {
            let until = w.now.saturating_add(ttl_ms);
            if let Some(mut me) = w.tx.elf(instance)? {
                me.heartbeat_at = w.now;
                me.lease_until = until;
                me.state = ElfState::Running;
                w.tx.put_elf(&me)?;
            }
            let ids: Vec<_> = held.iter().map(|l| l.job).collect();
            let rows = w.tx.job_rows(&ids)?;
            let mut outcomes = Vec::with_capacity(held.len());
            let mut renewed = Vec::new();
            for lease in held {
                let row = rows.iter().find(|r| r.id == lease.job);
                match row {
                    Some(r) if holds(r, lease) => {
                        let mut r = r.clone();
                        r.lease_until = Some(until);
                        renewed.push(r);
                        outcomes.push(Outcome::Ok);
                    }
                    other => {
                        let other = other.cloned();
                        outcomes.push(settled(w, other.as_ref(), lease)?);
                    }
                }
            }
            if !renewed.is_empty() {
                w.tx.update_jobs(&renewed)?;
            }
            Ok(outcomes)
        })
    }

    /// Gives jobs back without running them (a clean shutdown): they are
    /// `ready` again at once and the attempt is not counted.
    pub fn release(&self, leases: &[Lease]) -> Result<Released> {
        self.write("release jobs", |w| {
            let ids: Vec<_> = leases.iter().map(|l| l.job).collect();
            let rows = w.tx.job_rows(&ids)?;
            let mut outcomes = Vec::with_capacity(leases.len());
            let mut updated = Vec::new();
            for lease in leases {
                match rows.iter().find(|r| r.id == lease.job) {
                    Some(r)
                        if holds(r, lease) && !updated.iter().any(|u: &crate::storage::rows::JobRow| u.id == r.id) =>
                    {
                        let mut r = r.clone();
                        r.state = JobState::Ready;
                        r.attempt = r.attempt.saturating_sub(1);
                        r.lease_until = None;
                        r.updated_at = w.now;
                        w.event(NewEvent::job(
                            w.now,
                            r.run,
                            r.id,
                            JobState::Ready,
                            Some(r#"{"released":true}"#.into()),
                        ));
                        w.ready(&r.elf);
                        updated.push(r);
                        outcomes.push(Outcome::Ok);
                    }
                    other => {
                        let other = other.cloned();
                        outcomes.push(settled(w, other.as_ref(), lease)?);
                    }
                }
            }
            if !updated.is_empty() {
                w.tx.update_jobs(&updated)?;
            }
            Ok(Released { outcomes, readied: w.take_readied() })
        })
    }

    /// Marks an instance stopped (after a clean shutdown) or lost (there is
    /// evidence it died): the jobs it still holds go back to `ready` without
    /// charging their attempts (or fail as poison jobs when their loss budget
    /// is spent), each with an `elf_lost` failure. A repeat is a no-op.
    pub fn elf_gone(&self, instance: &InstanceId, how: Departure) -> Result<Readied> {
        self.write("mark an elf gone", |w| gone(w, instance, how))
    }

    /// Expires leases that ran out (an infrastructure loss each) and marks
    /// elves that stopped heartbeating as lost, their jobs with them.
    pub fn reap(&self) -> Result<Reaped> {
        self.write("reap expired leases", |w| {
            let mut reaped = Reaped::default();
            let rows = w.tx.expired(w.now, REAP_BATCH)?;
            reaped.expired = rows.iter().map(|r| r.id).collect();
            reaped.failed = expire(w, rows)?;
            let silent: Vec<ElfInstance> =
                w.tx.elves(Some(ElfState::Running))?.into_iter().filter(|e| e.lease_until < w.now).collect();
            let mut readied = Readied::new();
            for e in silent {
                merge(&mut readied, gone(w, &e.instance, Departure::Lost)?);
                reaped.lost_elves.push(e.instance);
            }
            merge(&mut readied, w.take_readied());
            reaped.readied = readied;
            Ok(reaped)
        })
    }

    /// Marks lost every running instance on `host` that `alive` says is dead
    /// (evidence of death: its process is gone), with the jobs it held; a
    /// no-op for instances of other hosts. Liveness is checked outside the
    /// transaction.
    pub fn reap_dead(&self, host: &str, alive: impl Fn(&ElfInstance) -> bool) -> Result<Reaped> {
        let dead: Vec<InstanceId> = self
            .elves_in(ElfState::Running)?
            .into_iter()
            .filter(|e| e.host == host && !alive(e))
            .map(|e| e.instance)
            .collect();
        if dead.is_empty() {
            return Ok(Reaped::default());
        }
        self.write("mark dead elves lost", |w| {
            let mut reaped = Reaped::default();
            let mut readied = Readied::new();
            for instance in &dead {
                if w.tx.elf(instance)?.is_some_and(|e| e.state == ElfState::Running) {
                    merge(&mut readied, gone(w, instance, Departure::Lost)?);
                    reaped.lost_elves.push(instance.clone());
                }
            }
            reaped.readied = readied;
            Ok(reaped)
        })
    }

    /// Takes or renews the lease on `role` for `holder` (coordinator
    /// leadership). Returns whether `holder` holds it now.
    pub fn lead(&self, role: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        self.write("take the leader lease", |w| {
            let free = match w.tx.leader(role)? {
                None => true,
                Some(l) => l.holder == holder || l.until < w.now,
            };
            if free {
                w.tx.put_leader(&LeaderRow {
                    role: role.to_owned(),
                    holder: holder.to_owned(),
                    until: w.now.saturating_add(ttl_ms),
                })?;
            }
            Ok(free)
        })
    }

    /// Gives up `role` if `holder` holds it (a clean stop: a standby may
    /// take over at once).
    pub fn resign(&self, role: &str, holder: &str) -> Result<()> {
        self.write("give up the leader lease", |w| {
            if let Some(l) = w.tx.leader(role)?
                && l.holder == holder
            {
                w.tx.put_leader(&LeaderRow { role: role.to_owned(), holder: holder.to_owned(), until: 0 })?;
            }
            Ok(())
        })
    }
}

/// An instance's departure, inside a transaction.
fn gone(w: &mut Work<'_>, instance: &InstanceId, how: Departure) -> Result<Readied> {
    let lost = how == Departure::Lost;
    let me = w.tx.elf(instance)?;
    let heartbeat = me.as_ref().map(|e| e.heartbeat_at);
    if let Some(mut me) = me {
        let state = if lost { ElfState::Lost } else { ElfState::Stopped };
        // Once it has left, it has left: a late report of its death (its
        // doorbell closing after a clean stop) changes nothing.
        if me.state != ElfState::Running && w.tx.held_by(instance)?.is_empty() {
            return Ok(Readied::new());
        }
        me.state = state;
        w.tx.put_elf(&me)?;
    }
    let data = json!({ "instance": instance.0, "lost": lost }).to_string();
    w.event(NewEvent::other(w.now, EventKind::ElfStopped, data));
    for row in w.tx.held_by(instance)? {
        if row.state != JobState::Claimed {
            continue;
        }
        let report = FailureReport::new(
            FailureKind::ElfLost,
            format!(
                "elf instance {instance} {} while running the job (last heartbeat at {})",
                if lost { "died" } else { "stopped" },
                heartbeat.map_or_else(|| "never".to_owned(), |h| h.to_string())
            ),
        );
        fail_row(w, row, &report)?;
    }
    Ok(w.take_readied())
}
