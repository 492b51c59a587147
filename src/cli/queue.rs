//! `mycelium queue`: queues and their messages: lengths and ages, dead
//! letters, requeue, purge, send and publish.

use std::io::Write;

use clap::{Args as ClapArgs, Subcommand};
use serde_json::json;

use super::lookup;
use super::render::{Table, age, age_opt, first_line, write_json};
use super::signals::data;
use super::{Context, Result};
use crate::agent::{Bus, Outgoing};
use crate::model::{JobId, now_ms};
use crate::storage::{FailureQuery, Messages, Store};

/// Arguments of `mycelium queue`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// What to do (`ls` when left out).
    #[command(subcommand)]
    pub(crate) action: Option<Action>,
}

/// What to do with queues.
#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Every queue with its lengths and its oldest message's age (the default).
    Ls,
    /// One queue: its consumer, binding, schema and waiting messages.
    Show {
        /// The queue.
        queue: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// A queue's dead messages, with their last failure.
    Dead {
        /// The queue.
        queue: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Requeues dead messages (all, or those named) as new attempts.
    Requeue {
        /// The queue.
        queue: String,
        /// Only these messages (their job ids: `j34` or `34`).
        #[arg(long = "job")]
        jobs: Vec<String>,
    },
    /// Drops the messages waiting in a queue (messages being consumed finish).
    Purge {
        /// The queue.
        queue: String,
    },
    /// Sends a message to a queue.
    Send {
        /// The queue.
        queue: String,
        /// The message, as JSON (repeat for several, sent in one transaction).
        #[arg(long, required = true)]
        data: Vec<String>,
    },
    /// Publishes a message to an exchange with a routing key.
    Publish {
        /// The exchange.
        exchange: String,
        /// The routing key (`user.ios`); a fanout exchange ignores it.
        #[arg(long, default_value = "")]
        topic: String,
        /// The message, as JSON.
        #[arg(long, required = true)]
        data: Vec<String>,
    },
}

/// Runs `mycelium queue`.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    match args.action.unwrap_or(Action::Ls) {
        Action::Ls => ls(store, out, json),
        Action::Show { queue, limit } => show(store, &queue, limit, out, json),
        Action::Dead { queue, limit } => dead(store, &queue, limit, out, json),
        Action::Requeue { queue, jobs } => {
            let ids: Vec<JobId> = jobs.iter().map(|j| lookup::parse_job(j)).collect::<Result<_>>()?;
            let retried = store.requeue(&queue, if ids.is_empty() { None } else { Some(&ids) })?;
            Bus::new(store.clone()).ring(&retried.readied);
            if json {
                return write_json(out, &retried);
            }
            if retried.jobs.is_empty() {
                writeln!(out, "queue {queue} has no dead message: nothing to requeue")?;
            } else {
                let ids: Vec<String> = retried.jobs.iter().map(|j| j.to_string()).collect();
                writeln!(out, "requeued {} dead message(s) of {queue} as new attempts: {}", ids.len(), ids.join(", "))?;
            }
            Ok(())
        }
        Action::Purge { queue } => {
            let n = store.purge(&queue, "purged with `mycelium queue purge`")?;
            if json {
                return write_json(out, &json!({ "queue": queue, "purged": n }));
            }
            writeln!(out, "purged {n} waiting message(s) of {queue}")?;
            Ok(())
        }
        Action::Send { queue, data: texts } => {
            let messages = texts.iter().map(|t| data(t)).collect::<Result<Vec<_>>>()?;
            let sent = store.send(&queue, &Outgoing { messages: &messages, key: None, sender: "cli" })?;
            Bus::new(store.clone()).ring(&sent.readied);
            if json {
                return write_json(out, &sent);
            }
            let ids: Vec<String> = sent.messages.iter().map(|(_, j)| j.to_string()).collect();
            writeln!(out, "sent {} message(s) to {queue}: job(s) {}", ids.len(), ids.join(", "))?;
            Ok(())
        }
        Action::Publish { exchange, topic, data: texts } => {
            let messages = texts.iter().map(|t| data(t)).collect::<Result<Vec<_>>>()?;
            let sent = store.publish(&exchange, &topic, &Outgoing { messages: &messages, key: None, sender: "cli" })?;
            Bus::new(store.clone()).ring(&sent.readied);
            if json {
                return write_json(out, &sent);
            }
            if sent.messages.is_empty() {
                writeln!(
                    out,
                    "published to {exchange} with key `{topic}`: no bound queue matches, nothing was queued"
                )?;
            } else {
                let to: Vec<String> = sent.messages.iter().map(|(q, j)| format!("{q} (job {j})")).collect();
                writeln!(out, "published to {exchange} with key `{topic}`: {}", to.join(", "))?;
            }
            Ok(())
        }
    }
}

fn ls(store: &Store, out: &mut dyn Write, json: bool) -> Result<()> {
    let queues = store.queues().context("read the queues")?;
    if json {
        return write_json(out, &queues);
    }
    if queues.is_empty() {
        writeln!(out, "no queues (a queue exists once the elf of its consumer has started)")?;
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&["queue", "consumer", "exchange", "waiting", "in flight", "dead", "oldest"]);
    for q in &queues {
        let d = &q.queue;
        let exchange = match &d.exchange {
            Some(x) if d.topics.is_empty() => format!("{x} (fanout)"),
            Some(x) => format!("{x} {}", d.topics.join(" ")),
            None => "-".to_owned(),
        };
        table.row(vec![
            d.name.clone(),
            format!("{}/{}", d.elf, d.task),
            exchange,
            q.waiting.to_string(),
            q.in_flight.to_string(),
            q.dead.to_string(),
            age_opt(now, q.oldest_at),
        ]);
    }
    table.write(out)?;
    Ok(())
}

fn show(store: &Store, queue: &str, limit: u32, out: &mut dyn Write, json: bool) -> Result<()> {
    let q = store.queue(queue)?;
    let messages = store.queue_messages(queue, Messages::Queued, limit)?;
    if json {
        return write_json(out, &json!({ "queue": q, "messages": messages }));
    }
    let d = &q.queue;
    let now = now_ms();
    writeln!(out, "queue {}", d.name)?;
    writeln!(out, "  consumer   {}/{} ({} attempt(s) per message)", d.elf, d.task, d.retry.max_attempts)?;
    if let Some(x) = &d.exchange {
        let how = if d.topics.is_empty() { "fanout".to_owned() } else { format!("topics {}", d.topics.join(", ")) };
        writeln!(out, "  exchange   {x} ({how})")?;
    }
    writeln!(
        out,
        "  messages   {} waiting, {} in flight, {} dead; oldest {}",
        q.waiting,
        q.in_flight,
        q.dead,
        age_opt(now, q.oldest_at)
    )?;
    writeln!(out, "  schema     {}", first_line(&d.schema.to_string(), 100))?;
    if !messages.is_empty() {
        writeln!(out)?;
        let mut table = Table::new(&["job", "state", "attempt", "sent", "message"]);
        for j in &messages {
            let payload = j.args.get(0).map(|v| v.to_string()).unwrap_or_default();
            table.row(vec![
                j.id.to_string(),
                j.state.to_string(),
                j.attempt.to_string(),
                age(now, j.created_at),
                first_line(&payload, 70),
            ]);
        }
        table.write(out)?;
    }
    Ok(())
}

fn dead(store: &Store, queue: &str, limit: u32, out: &mut dyn Write, json: bool) -> Result<()> {
    let messages = store.queue_messages(queue, Messages::Dead, limit)?;
    if json {
        return write_json(out, &messages);
    }
    if messages.is_empty() {
        writeln!(out, "queue {queue} has no dead message")?;
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&["job", "attempts", "died", "last failure", "message"]);
    for j in &messages {
        let last = store.failures(&FailureQuery { job: Some(j.id), limit: Some(1), ..Default::default() })?;
        let why = last.first().map(|f| format!("{}: {}", f.report.kind, f.report.message)).unwrap_or_default();
        let payload = j.args.get(0).map(|v| v.to_string()).unwrap_or_default();
        table.row(vec![
            j.id.to_string(),
            j.attempt.to_string(),
            age_opt(now, j.finished_at),
            first_line(&why, 50),
            first_line(&payload, 50),
        ]);
    }
    table.write(out)?;
    writeln!(out, "requeue them with `mycelium queue requeue {queue}`; see one with `mycelium failure <id>`")?;
    Ok(())
}
