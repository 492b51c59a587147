//! Agents, durable: signals with receivers, queues with consumers, RPC over
//! signals, interval and cron schedules (what MicroAgent offered, kept in
//! the mycelium instead of fire-and-forget).
//!
//! * A **signal** is a Rust type implementing [`Signal`]. A task marked
//!   `#[task(receives = [UserCreated])]` is a receiver: every emission makes
//!   one job per subscribed receiver, in the emission's transaction.
//! * A **queue** is consumed by one task, `#[task(consumes = "mailer")]`;
//!   each message is a job of it. Exchanges route messages to the queues
//!   bound to them (fanout, or topic patterns).
//! * **RPC**: [`Mycelium::call`](crate::Mycelium::call) emits a [`Request`]
//!   and gathers its receivers' values, per responder, until a deadline
//!   scoped to that call.
//! * **Schedules**: `#[task(every = "15s")]`, `#[task(cron = "0 */4 * * *")]`;
//!   the leading coordinator turns each tick into one job.
//!
//! # Layout
//!
//! * [`signal`], [`queue`], [`schedule`]: the documents the mycelium keeps.
//! * [`spec`]: intervals and cron; [`topic`]: topic patterns;
//!   [`validate`]: payloads against their JSON Schemas.
//! * [`role`], [`declarations`]: what tasks declare and elves record.
//! * [`context`]: the optional context argument of a task.
//! * [`client`], [`rpc`]: emitting, sending, calling.

pub mod client;
pub mod context;
pub mod declarations;
mod outcome;
pub mod queue;
pub mod role;
pub mod rpc;
pub mod schedule;
pub mod signal;
pub mod spec;
pub mod topic;
pub mod validate;

#[cfg(test)]
mod cron_table;
#[cfg(test)]
mod tests;

pub use client::{Bus, Error};
pub use context::Context;
pub use declarations::Declarations;
pub use outcome::{Delivery, Emission, Emitted, Fired, Outgoing, QueueStatus, ScheduleStatus, Sent};
pub use queue::{ExchangeKind, Queue, QueueDecl};
pub use role::{QueueRef, Role, ScheduleRef, SignalRef};
pub use rpc::{Answer, Answers, Gathered, Rpc};
pub use schedule::{Missed, Overlap, Schedule};
pub use signal::{Request, Signal, SignalDecl, Subscription};
pub use spec::Spec;

/// The JSON Schema of `T`, as recorded in the mycelium.
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::SchemaGenerator::default().into_root_schema_for::<T>().to_value()
}
