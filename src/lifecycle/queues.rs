//! Queues: messages are jobs of the queue's consumer task. Sending checks
//! each message against the queue's schema; exchanges route to the queues
//! bound to them (fanout, or topic patterns). A message whose job failed for
//! good is *dead*: listed, requeued as a new attempt, or purged.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Store;
use super::catalog::{self, QUEUE};
use super::outcomes::Retried;
use super::signals::check_payload;
use super::submit::submit_in;
use super::work::Work;
use crate::agent::{Outgoing, QueueDecl, QueueStatus, Sent, topic};
use crate::model::{Job, JobId, JobSpec, JobState, RunSpec, Submission};
use crate::storage::rows::NewEvent;
use crate::storage::{Error, JobQuery, Result};

/// Which of a queue's messages to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Messages {
    /// Waiting or being consumed.
    Queued,
    /// Out of attempts.
    Dead,
}

impl Store {
    /// Sends messages to a queue: each is checked against the queue's
    /// schema and becomes one job of its consumer, all in one transaction.
    pub fn send(&self, queue: &str, out: &Outgoing<'_>) -> Result<Sent> {
        catalog::check_name("queue", queue)?;
        let max = self.limits().max_payload;
        self.write("send messages", |w| {
            let q = known(w, queue)?;
            let routed: Vec<&QueueDecl> = vec![&q];
            enqueue(w, &routed, out, format!("queue {queue}"), BTreeMap::from([("queue".into(), queue.into())]), max)
        })
    }

    /// Publishes messages to an exchange with a routing key: every queue
    /// bound to it (fanout), or whose topic patterns match the key (topic),
    /// gets each message. No queue matching is no error: the answer lists
    /// none.
    pub fn publish(&self, exchange: &str, key: &str, out: &Outgoing<'_>) -> Result<Sent> {
        catalog::check_name("exchange", exchange)?;
        topic::check_key(key).map_err(|e| Error::invalid("routing key", e, "use words separated by dots"))?;
        let max = self.limits().max_payload;
        self.write("publish messages", |w| {
            let bound: Vec<QueueDecl> = catalog::list::<QueueDecl>(w.tx, QUEUE, "")?
                .into_iter()
                .filter(|q| q.exchange.as_deref() == Some(exchange))
                .collect();
            if bound.is_empty() {
                let known: Vec<String> = exchanges(w)?;
                return Err(Error::Unknown {
                    kind: "exchange",
                    name: exchange.to_owned(),
                    detail: format!(
                        "no queue is bound to it ({}); a consumer binds its queue with `#[task(consumes = .., exchange = ..)]`",
                        if known.is_empty() { "no exchange exists yet".to_owned() } else { format!("known: {}", known.join(", ")) }
                    ),
                });
            }
            let routed: Vec<&QueueDecl> = bound.iter().filter(|q| q.routes(key)).collect();
            let labels = BTreeMap::from([("exchange".to_owned(), exchange.to_owned()), ("topic".to_owned(), key.to_owned())]);
            enqueue(w, &routed, out, format!("exchange {exchange} {key}"), labels, max)
        })
    }

    /// Every queue with its lengths, by name.
    pub fn queues(&self) -> Result<Vec<QueueStatus>> {
        self.read(|r| {
            let decls: Vec<QueueDecl> = catalog::list(r, QUEUE, "")?;
            decls.into_iter().map(|q| status(r, q)).collect()
        })
    }

    /// One queue with its lengths.
    pub fn queue(&self, name: &str) -> Result<QueueStatus> {
        self.read(|r| match catalog::get::<QueueDecl>(r, QUEUE, name)? {
            Some(q) => status(r, q),
            None => Err(unknown_queue(r, name)),
        })
    }

    /// A queue's messages (their jobs), oldest first.
    pub fn queue_messages(&self, name: &str, which: Messages, limit: u32) -> Result<Vec<Job>> {
        let q = self.queue(name)?.queue;
        let states = match which {
            Messages::Queued => vec![JobState::Ready, JobState::Claimed],
            Messages::Dead => vec![JobState::Failed],
        };
        self.jobs(&JobQuery { elf: Some(q.elf), task: Some(q.task), states, limit: Some(limit), ..JobQuery::default() })
    }

    /// Requeues a queue's dead messages (`jobs`, or all of them) as new
    /// attempts, with the consumer's attempts again.
    pub fn requeue(&self, name: &str, jobs: Option<&[JobId]>) -> Result<Retried> {
        let dead = self.queue_messages(name, Messages::Dead, u32::MAX)?;
        let ids: Vec<JobId> = match jobs {
            None => dead.iter().map(|j| j.id).collect(),
            Some(wanted) => {
                if let Some(j) = wanted.iter().find(|j| !dead.iter().any(|d| d.id == **j)) {
                    return Err(Error::invalid(
                        format!("message {j} of queue `{name}`"),
                        "it is not a dead message of this queue",
                        format!("list the dead messages with `mycelium queue dead {name}`"),
                    ));
                }
                wanted.to_vec()
            }
        };
        if ids.is_empty() {
            return Ok(Retried::default());
        }
        self.retry(&ids)
    }

    /// Drops a queue's waiting messages (cancels their jobs); messages being
    /// consumed finish. Returns how many were dropped.
    pub fn purge(&self, name: &str, reason: &str) -> Result<u64> {
        let q = self.queue(name)?.queue;
        self.write("purge a queue", |w| {
            let waiting = w.tx.query_jobs(&JobQuery {
                elf: Some(q.elf.clone()),
                task: Some(q.task.clone()),
                states: vec![JobState::Ready, JobState::Pending],
                ..JobQuery::default()
            })?;
            let ids: Vec<JobId> = waiting.iter().map(|j| j.id).collect();
            let mut rows = w.tx.job_rows(&ids)?;
            let now = w.now;
            let data = json!({ "reason": reason, "queue": name }).to_string();
            for r in &mut rows {
                r.state = JobState::Cancelled;
                r.finished_at = Some(now);
                r.updated_at = now;
                w.event(NewEvent::job(now, r.run, r.id, JobState::Cancelled, Some(data.clone())));
                w.closed(r.run, true);
            }
            if !rows.is_empty() {
                w.tx.update_jobs(&rows)?;
            }
            Ok(rows.len() as u64)
        })
    }
}

/// The declared queue `name`, or an error listing the known ones.
fn known(w: &mut Work<'_>, name: &str) -> Result<QueueDecl> {
    match catalog::get::<QueueDecl>(w.tx, QUEUE, name)? {
        Some(q) => Ok(q),
        None => Err(unknown_queue(w.tx, name)),
    }
}

fn unknown_queue(r: &mut dyn crate::storage::seam::Read, name: &str) -> Error {
    let known: Vec<String> =
        catalog::list::<QueueDecl>(r, QUEUE, "").map(|v| v.into_iter().map(|q| q.name).collect()).unwrap_or_default();
    Error::Unknown {
        kind: "queue",
        name: name.to_owned(),
        detail: format!(
            "no elf consumes it ({}); a queue exists once the elf of its consumer (`#[task(consumes = \"{name}\")]`) has started",
            if known.is_empty() { "no queue exists yet".to_owned() } else { format!("known: {}", known.join(", ")) }
        ),
    }
}

fn exchanges(w: &mut Work<'_>) -> Result<Vec<String>> {
    let mut names: Vec<String> =
        catalog::list::<QueueDecl>(w.tx, QUEUE, "")?.into_iter().filter_map(|q| q.exchange).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Records every message for every routed queue as one job of its consumer.
fn enqueue(
    w: &mut Work<'_>,
    routed: &[&QueueDecl],
    out: &Outgoing<'_>,
    name: String,
    mut labels: BTreeMap<String, String>,
    max_payload: usize,
) -> Result<Sent> {
    if out.messages.is_empty() {
        return Err(Error::invalid("send", "it holds no message", "send at least one message"));
    }
    let mut jobs = Vec::with_capacity(out.messages.len() * routed.len());
    let mut names = Vec::with_capacity(jobs.capacity());
    for q in routed {
        for m in out.messages {
            check_payload(&format!("queue `{}`", q.name), &q.schema, m)?;
            let mut spec = JobSpec::new(&q.elf, &q.task, Value::Array(vec![m.clone()]));
            spec.retry = q.retry.clone();
            spec.timeout_ms = q.timeout_ms;
            jobs.push(spec);
            names.push(q.name.clone());
        }
    }
    if jobs.is_empty() {
        return Ok(Sent::default());
    }
    labels.insert("sender".to_owned(), out.sender.to_owned());
    let mut run = RunSpec::named(name);
    run.labels = labels;
    run.idempotency_key = out.key.map(|k| format!("send:{}:{k}", run.name));
    let done = submit_in(w, &Submission { run, jobs }, max_payload)?;
    Ok(Sent {
        run: Some(done.run),
        messages: names.into_iter().zip(done.jobs).collect(),
        existing: done.existing,
        readied: done.readied,
    })
}

/// A queue's lengths.
fn status(r: &mut dyn crate::storage::seam::Read, q: QueueDecl) -> Result<QueueStatus> {
    let query = |states: Vec<JobState>| JobQuery {
        elf: Some(q.elf.clone()),
        task: Some(q.task.clone()),
        states,
        ..JobQuery::default()
    };
    let waiting = r.job_stats(&query(vec![JobState::Ready]))?;
    let in_flight = r.job_stats(&query(vec![JobState::Claimed]))?;
    let dead = r.job_stats(&query(vec![JobState::Failed]))?;
    let oldest_at = match (waiting.oldest, in_flight.oldest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(QueueStatus { queue: q, waiting: waiting.count, in_flight: in_flight.count, dead: dead.count, oldest_at })
}
