//! Recording what an elf declares when it registers: signals and their
//! schemas, its receivers' subscriptions, the queues it consumes, its tasks'
//! schedules. Subscriptions, queues and declared schedules are per elf: an
//! instance's registration replaces its elf's set.

use serde_json::json;

use super::Store;
use super::catalog::{self, QUEUE, SCHEDULE, SIGNAL, SUBSCRIPTION, check_name};
use super::work::Work;
use crate::agent::schedule::Origin;
use crate::agent::{Declarations, QueueDecl, Schedule, SignalDecl, Subscription, topic};
use crate::model::{ElfState, EventKind};
use crate::storage::rows::NewEvent;
use crate::storage::{Error, Result};

impl Store {
    /// Records an elf's declarations in one transaction. A queue another
    /// live elf consumes, or an exchange bound both as fanout and as topic,
    /// is refused; nothing is written then.
    pub fn declare(&self, d: &Declarations) -> Result<()> {
        check(d)?;
        self.write("record an elf's agents", |w| declare(w, d))
    }
}

/// Names and patterns, before any transaction.
fn check(d: &Declarations) -> Result<()> {
    for s in &d.signals {
        check_name("signal", &s.name)?;
    }
    for q in &d.queues {
        check_name("queue", &q.name)?;
        if let Some(x) = &q.exchange {
            check_name("exchange", x)?;
        }
        for p in &q.topics {
            topic::check_pattern(p)
                .map_err(|e| Error::invalid(format!("topics of queue `{}`", q.name), e, "fix the pattern"))?;
        }
        if !q.topics.is_empty() && q.exchange.is_none() {
            return Err(Error::invalid(
                format!("queue `{}`", q.name),
                "it has topics but no exchange",
                "bind it to an exchange: `exchange = \"..\"`",
            ));
        }
    }
    Ok(())
}

fn declare(w: &mut Work<'_>, d: &Declarations) -> Result<()> {
    let now = w.now;
    let elf = d.elf.as_str();
    for s in &d.signals {
        let old: Option<SignalDecl> = catalog::get(w.tx, SIGNAL, &s.name)?;
        let mut new = s.clone();
        new.declared_at = now;
        if let Some(old) = old {
            new.emitted = old.emitted;
            new.last_emitted_at = old.last_emitted_at;
        }
        catalog::put(w, SIGNAL, &s.name, &new)?;
    }

    // Subscriptions: this elf's set is the one declared now.
    let old: Vec<Subscription> =
        catalog::list::<Subscription>(w.tx, SUBSCRIPTION, "")?.into_iter().filter(|s| s.elf == elf).collect();
    for o in &old {
        if !d.subscriptions.iter().any(|s| s.key() == o.key()) {
            catalog::delete(w, SUBSCRIPTION, &o.key())?;
        }
    }
    for s in &d.subscriptions {
        let mut new = s.clone();
        new.since = old.iter().find(|o| o.key() == s.key()).map_or(now, |o| o.since);
        catalog::put(w, SUBSCRIPTION, &s.key(), &new)?;
    }

    // Queues: one consumer each; exchanges of one kind.
    let all: Vec<QueueDecl> = catalog::list(w.tx, QUEUE, "")?;
    let live: Vec<String> = w.tx.elves(Some(ElfState::Running))?.into_iter().map(|e| e.elf).collect();
    for q in &d.queues {
        if let Some(other) = all.iter().find(|o| o.name == q.name && o.elf != elf)
            && live.contains(&other.elf)
        {
            return Err(Error::invalid(
                format!("queue `{}` of task {elf}/{}", q.name, q.task),
                format!(
                    "elf `{}` (task {}) consumes it already and has a running instance; a queue has one consumer task",
                    other.elf, other.task
                ),
                "consume the queue from one elf only (stop the other elf first to move the queue)",
            ));
        }
        if let Some(x) = &q.exchange {
            let kind = q.exchange_kind();
            let clash = all
                .iter()
                .chain(d.queues.iter())
                .find(|o| o.name != q.name && o.exchange.as_ref() == Some(x) && o.exchange_kind() != kind);
            if let Some(o) = clash {
                return Err(Error::invalid(
                    format!("exchange `{x}` of queue `{}`", q.name),
                    format!(
                        "queue `{}` binds it as a {:?} exchange, queue `{}` as a {:?} one",
                        o.name,
                        o.exchange_kind(),
                        q.name,
                        kind
                    ),
                    "bind every queue of an exchange with topics (topic) or every one without (fanout)",
                ));
            }
        }
    }
    for o in all.iter().filter(|o| o.elf == elf) {
        if !d.queues.iter().any(|q| q.name == o.name) {
            catalog::delete(w, QUEUE, &o.name)?;
        }
    }
    for q in &d.queues {
        let mut new = q.clone();
        new.declared_at = now;
        catalog::put(w, QUEUE, &q.name, &new)?;
    }

    // Declared schedules keep their state while their spec stays the same.
    let old: Vec<Schedule> = catalog::list::<Schedule>(w.tx, SCHEDULE, "")?
        .into_iter()
        .filter(|s| s.elf == elf && s.origin == Origin::Declared)
        .collect();
    for o in &old {
        if !d.schedules.iter().any(|s| s.name == o.name) {
            catalog::delete(w, SCHEDULE, &o.name)?;
        }
    }
    for s in &d.schedules {
        let new = match old.iter().find(|o| o.name == s.name) {
            Some(o) if o.spec == s.spec => Schedule {
                missed: s.missed,
                overlap: s.overlap,
                retry: s.retry.clone(),
                timeout_ms: s.timeout_ms,
                updated_at: now,
                ..o.clone()
            },
            other => {
                let next_due = s.spec.first(now).map_err(|e| {
                    Error::invalid(format!("schedule `{}`", s.name), e, "fix the schedule's expression")
                })?;
                Schedule {
                    anchor: now,
                    next_due,
                    created_at: other.map_or(now, |o| o.created_at),
                    paused: other.is_some_and(|o| o.paused),
                    updated_at: now,
                    ..s.clone()
                }
            }
        };
        catalog::put(w, SCHEDULE, &s.name, &new)?;
    }

    if !d.is_empty() || !old.is_empty() {
        let data = json!({
            "elf": elf,
            "signals": d.signals.iter().map(|s| &s.name).collect::<Vec<_>>(),
            "receivers": d.subscriptions.iter().map(|s| format!("{}/{} <- {}", s.elf, s.task, s.signal)).collect::<Vec<_>>(),
            "queues": d.queues.iter().map(|q| &q.name).collect::<Vec<_>>(),
            "schedules": d.schedules.iter().map(|s| &s.name).collect::<Vec<_>>(),
        });
        w.event(NewEvent::other(now, EventKind::AgentsDeclared, data.to_string()));
    }
    Ok(())
}

impl Store {
    /// Records that a long-running server of an elf instance crashed (the
    /// elf stops cleanly after it).
    pub fn server_failed(
        &self,
        elf: &str,
        instance: &crate::model::InstanceId,
        server: &str,
        message: &str,
    ) -> Result<()> {
        self.write("record a server's crash", |w| {
            let data = json!({ "elf": elf, "instance": instance, "server": server, "message": message }).to_string();
            w.event(NewEvent::other(w.now, EventKind::ServerFailed, data));
            Ok(())
        })
    }
}
