//! What the agents' operations answer: named structs, never tuples.

use serde::{Deserialize, Serialize};

use super::{QueueDecl, Schedule};
use crate::model::{JobId, Millis, RunId};
use crate::storage::Readied;

/// One job an emission or a send created: who will run it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The elf that serves it.
    pub elf: String,
    /// The task.
    pub task: String,
    /// The job.
    pub job: JobId,
}

/// What an emission did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emitted {
    /// The signal.
    pub signal: String,
    /// The run holding its deliveries (none when nobody subscribes).
    pub run: Option<RunId>,
    /// One job per subscribed receiver.
    pub deliveries: Vec<Delivery>,
    /// Whether its key matched an earlier emission (nothing new was written).
    pub existing: bool,
    /// Jobs made ready per elf (to wake them).
    #[serde(skip)]
    pub readied: Readied,
}

/// What a send or a publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The run holding the messages (none when no queue was routed to).
    pub run: Option<RunId>,
    /// One job per message and queue it reached, with the queue's name.
    pub messages: Vec<(String, JobId)>,
    /// Whether its key matched an earlier send (nothing new was written).
    pub existing: bool,
    /// Jobs made ready per elf.
    #[serde(skip)]
    pub readied: Readied,
}

/// A queue and how it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueStatus {
    /// The queue.
    pub queue: QueueDecl,
    /// Messages waiting for the consumer (not claimed yet).
    pub waiting: u64,
    /// Messages being consumed now.
    pub in_flight: u64,
    /// Dead messages: out of attempts, waiting to be requeued or purged.
    pub dead: u64,
    /// When the oldest waiting or in-flight message was sent.
    pub oldest_at: Option<Millis>,
}

/// What turning schedule ticks into jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// (schedule, tick, job) for every job made.
    pub jobs: Vec<(String, Millis, JobId)>,
    /// Ticks dropped (missed, overlapping).
    pub skipped: u64,
    /// The earliest tick due later, over every schedule not paused or held.
    pub next_due: Option<Millis>,
    /// Jobs made ready per elf.
    #[serde(skip)]
    pub readied: Readied,
}

/// A schedule with its next tick, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    /// The schedule.
    pub schedule: Schedule,
    /// Whether its last job has not finished yet.
    pub running: bool,
}

/// An emission to record.
#[derive(Clone, Copy, Debug)]
pub struct Emission<'a> {
    /// The signal's name.
    pub signal: &'a str,
    /// Its payload.
    pub payload: &'a serde_json::Value,
    /// An idempotency key: a second emission of the signal with the same key
    /// writes nothing and answers like the first.
    pub key: Option<&'a str>,
    /// Who emits (a program, `elf/task` of a job, `cli`), for people.
    pub sender: &'a str,
}

/// Messages to record, for a queue or through an exchange.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The messages.
    pub messages: &'a [serde_json::Value],
    /// An idempotency key for the whole send.
    pub key: Option<&'a str>,
    /// Who sends.
    pub sender: &'a str,
}
