//! Queues: each message is a job of the queue's one consumer task; success
//! acknowledges it, failure retries it with backoff, and a message out of
//! attempts is dead until requeued.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Millis, RetryPolicy};

/// A typed handle on a queue: what a driver or a task sends to. The
/// consumer's `#[task(consumes = "..")]` generates one (`QUEUE` in the task's
/// module); any module may declare its own.
pub struct Queue<T> {
    name: &'static str,
    _t: PhantomData<fn(T)>,
}

impl<T> Queue<T> {
    /// The queue called `name`, carrying messages of type `T`.
    pub const fn named(name: &'static str) -> Self {
        Self { name, _t: PhantomData }
    }

    /// Its name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Queue<T> {}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({})", self.name)
    }
}

/// How an exchange routes what is published to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    /// Every bound queue gets every message.
    Fanout,
    /// Queues whose topic patterns match the routing key get the message.
    Topic,
}

/// A queue as the mycelium knows it, declared by its consumer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueDecl {
    /// Its name.
    pub name: String,
    /// The consuming elf.
    pub elf: String,
    /// Its consuming task.
    pub task: String,
    /// The JSON Schema every message must match (the consumer's argument type).
    pub schema: Value,
    /// The consumer's retry policy: attempts and backoff before a message is dead.
    pub retry: RetryPolicy,
    /// Its time limit per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The exchange it is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// Its binding patterns on a topic exchange (empty on a fanout one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// When it was declared.
    pub declared_at: Millis,
}

impl QueueDecl {
    /// The kind of exchange this binding implies.
    pub fn exchange_kind(&self) -> ExchangeKind {
        if self.topics.is_empty() { ExchangeKind::Fanout } else { ExchangeKind::Topic }
    }

    /// Whether a message published to its exchange with `key` reaches it.
    pub fn routes(&self, key: &str) -> bool {
        self.topics.is_empty() || self.topics.iter().any(|p| super::topic::matches(p, key))
    }
}
