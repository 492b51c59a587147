//! Emitting signals, sending messages, publishing to exchanges, calling:
//! the [`Bus`] a driver ([`Mycelium`](crate::Mycelium)) and a task
//! ([`Context`](super::Context)) both use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::Value;

use super::rpc::Rpc;
use super::{Emission, Emitted, Outgoing, Queue, Request, Sent, Signal};
use crate::doorbell::{self, Bell, Endpoint};
use crate::model::{JobId, Origin};
use crate::storage::{self, Readied, Store};

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store refused (unknown signal or queue, a payload that does not
    /// match its type, ...) or could not be reached.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// A payload could not be encoded as JSON.
    #[error("the payload of {what} cannot be encoded as JSON: {problem}")]
    Encode {
        /// The signal or queue.
        what: String,
        /// serde's message.
        problem: String,
    },
    /// The operation needs a store and this context has none (a task called
    /// directly, outside an elf).
    #[error("{0}")]
    Detached(String),
}

/// Keys that make a job's emissions idempotent across its attempts: the
/// k-th emission of every attempt of job `j` has the key `j<j>/<k>`.
#[derive(Debug)]
struct Keys {
    job: JobId,
    next: AtomicU64,
}

/// Where signals are emitted and messages sent: a store handle, who sends,
/// and how to wake the elves that have new work.
#[derive(Clone, Debug)]
pub struct Bus {
    store: Store,
    sender: String,
    bell: Option<Bell>,
    endpoint: Option<Endpoint>,
    keys: Option<Arc<Keys>>,
}

impl Bus {
    /// A bus over `store`, sending as this program.
    pub fn new(store: Store) -> Self {
        let endpoint = Endpoint::for_store(&store);
        Self { store, sender: Origin::current().program, bell: None, endpoint, keys: None }
    }

    /// The bus of a running job: wakes elves through the elf's own doorbell
    /// line, and keys its emissions so that a retried attempt does not
    /// emit twice.
    pub(crate) fn for_job(store: Store, sender: String, bell: Option<Bell>, job: JobId) -> Self {
        let endpoint = Endpoint::for_store(&store);
        Self { store, sender, bell, endpoint, keys: Some(Arc::new(Keys { job, next: AtomicU64::new(0) })) }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Who sends, as recorded.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The next idempotency key of a job's emissions, if on a job.
    fn next_key(&self) -> Option<String> {
        self.keys.as_ref().map(|k| format!("j{}/{}", k.job, k.next.fetch_add(1, Ordering::Relaxed)))
    }

    /// Wakes the elves that got work (best effort).
    pub(crate) fn ring(&self, readied: &Readied) {
        if readied.is_empty() {
            return;
        }
        match (&self.bell, &self.endpoint) {
            (Some(b), _) => b.ring(readied),
            (None, Some(e)) => doorbell::ring(e, readied),
            (None, None) => {}
        }
    }

    /// Emits the signal `payload` (see [`Store::emit`]).
    pub async fn emit<S: Signal>(&self, payload: &S) -> Result<Emitted, Error> {
        let value = encode(S::NAME, payload)?;
        self.emit_json(S::NAME, value).await
    }

    /// Emits the signal called `name` with a JSON payload.
    pub async fn emit_json(&self, name: &str, payload: Value) -> Result<Emitted, Error> {
        let (name, key, sender) = (name.to_owned(), self.next_key(), self.sender.clone());
        let emitted = self
            .store
            .call(move |s| s.emit(&Emission { signal: &name, payload: &payload, key: key.as_deref(), sender: &sender }))
            .await?;
        self.ring(&emitted.readied);
        Ok(emitted)
    }

    /// [`Bus::emit`] for code without a runtime (sync tasks).
    pub fn emit_blocking<S: Signal>(&self, payload: &S) -> Result<Emitted, Error> {
        let value = encode(S::NAME, payload)?;
        self.emit_json_blocking(S::NAME, &value)
    }

    /// [`Bus::emit_json`] for code without a runtime.
    pub fn emit_json_blocking(&self, name: &str, payload: &Value) -> Result<Emitted, Error> {
        let key = self.next_key();
        let emitted =
            self.store.emit(&Emission { signal: name, payload, key: key.as_deref(), sender: &self.sender })?;
        self.ring(&emitted.readied);
        Ok(emitted)
    }

    /// Sends one message to `queue`.
    pub async fn send<T: Serialize>(&self, queue: &Queue<T>, message: &T) -> Result<Sent, Error> {
        let value = encode(queue.name(), message)?;
        self.send_json(queue.name(), vec![value]).await
    }

    /// Sends messages to `queue`, in one transaction.
    pub async fn send_all<T: Serialize>(&self, queue: &Queue<T>, messages: &[T]) -> Result<Sent, Error> {
        let values = messages.iter().map(|m| encode(queue.name(), m)).collect::<Result<Vec<_>, _>>()?;
        self.send_json(queue.name(), values).await
    }

    /// Sends JSON messages to the queue called `queue`, in one transaction.
    pub async fn send_json(&self, queue: &str, messages: Vec<Value>) -> Result<Sent, Error> {
        let (queue, key, sender) = (queue.to_owned(), self.next_key(), self.sender.clone());
        let sent = self
            .store
            .call(move |s| s.send(&queue, &Outgoing { messages: &messages, key: key.as_deref(), sender: &sender }))
            .await?;
        self.ring(&sent.readied);
        Ok(sent)
    }

    /// [`Bus::send`] for code without a runtime.
    pub fn send_blocking<T: Serialize>(&self, queue: &Queue<T>, message: &T) -> Result<Sent, Error> {
        let value = encode(queue.name(), message)?;
        self.send_json_blocking(queue.name(), &[value])
    }

    /// [`Bus::send_json`] for code without a runtime.
    pub fn send_json_blocking(&self, queue: &str, messages: &[Value]) -> Result<Sent, Error> {
        let key = self.next_key();
        let sent = self.store.send(queue, &Outgoing { messages, key: key.as_deref(), sender: &self.sender })?;
        self.ring(&sent.readied);
        Ok(sent)
    }

    /// Publishes a message to `exchange` with the routing key `topic`.
    pub async fn publish<T: Serialize>(&self, exchange: &str, topic: &str, message: &T) -> Result<Sent, Error> {
        let value = encode(exchange, message)?;
        self.publish_json(exchange, topic, vec![value]).await
    }

    /// Publishes JSON messages to `exchange` with the routing key `topic`.
    pub async fn publish_json(&self, exchange: &str, topic: &str, messages: Vec<Value>) -> Result<Sent, Error> {
        let (exchange, topic, key, sender) =
            (exchange.to_owned(), topic.to_owned(), self.next_key(), self.sender.clone());
        let sent = self
            .store
            .call(move |s| {
                s.publish(&exchange, &topic, &Outgoing { messages: &messages, key: key.as_deref(), sender: &sender })
            })
            .await?;
        self.ring(&sent.readied);
        Ok(sent)
    }

    /// Calls the receivers of a request: emits it and gathers their answers
    /// (see [`Rpc`]).
    pub fn call<R: Request>(&self, request: &R) -> Rpc<R::Reply> {
        let payload = serde_json::to_value(request).map_err(|e| e.to_string());
        Rpc::new(self.clone(), R::NAME.to_owned(), payload, self.next_key())
    }

    /// Calls the receivers of the signal `name` with a JSON payload; answers
    /// are JSON.
    pub fn call_json(&self, name: &str, payload: Value) -> Rpc<Value> {
        Rpc::new(self.clone(), name.to_owned(), Ok(payload), self.next_key())
    }
}

fn encode<T: Serialize>(what: &str, v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Encode { what: format!("`{what}`"), problem: e.to_string() })
}

/// The agents' operations on a driver's handle: the same as [`Bus`]'s.
impl crate::Mycelium {
    /// A bus over this handle's store.
    pub fn bus(&self) -> Bus {
        Bus::new(self.store().clone())
    }

    /// Emits a signal: one job per subscribed receiver (see [`Bus::emit`]).
    pub async fn emit<S: Signal>(&self, payload: &S) -> Result<Emitted, Error> {
        self.bus().emit(payload).await
    }

    /// Sends a message to a queue (see [`Bus::send`]).
    pub async fn send<T: Serialize>(&self, queue: &Queue<T>, message: &T) -> Result<Sent, Error> {
        self.bus().send(queue, message).await
    }

    /// Publishes a message to an exchange (see [`Bus::publish`]).
    pub async fn publish<T: Serialize>(&self, exchange: &str, topic: &str, message: &T) -> Result<Sent, Error> {
        self.bus().publish(exchange, topic, message).await
    }

    /// Calls the receivers of a request and gathers their answers until a
    /// deadline (see [`Rpc`]).
    pub fn call<R: Request>(&self, request: &R) -> Rpc<R::Reply> {
        self.bus().call(request)
    }
}
