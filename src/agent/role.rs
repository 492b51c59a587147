//! What a task is to the agents: a plain task, a receiver of signals, the
//! consumer of a queue, or a scheduled task. `#[task(receives = [..])]`,
//! `#[task(consumes = "..")]` and `#[task(every = "..")]` /
//! `#[task(cron = "..")]` set it; an elf records it when it registers.

use serde_json::Value;

/// A task's role, as the `#[task]` attribute declares it.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// Called by drivers only.
    Plain,
    /// Gets one job for every emission of these signals.
    Receiver(&'static [SignalRef]),
    /// Consumes a queue: one job per message.
    Consumer(QueueRef),
    /// Runs at each tick of a schedule.
    Scheduled(ScheduleRef),
}

/// A signal named in `receives = [..]`.
#[derive(Clone, Copy, Debug)]
pub struct SignalRef {
    /// Its name.
    pub name: &'static str,
    /// Its payload's JSON Schema.
    pub schema: fn() -> Value,
}

/// The queue of `consumes = ".."`.
#[derive(Clone, Copy, Debug)]
pub struct QueueRef {
    /// Its name.
    pub name: &'static str,
    /// Its messages' JSON Schema (the consumer's argument type).
    pub schema: fn() -> Value,
    /// `exchange = ".."`.
    pub exchange: Option<&'static str>,
    /// `topics = [..]` (a topic exchange; none: a fanout one).
    pub topics: &'static [&'static str],
}

/// The schedule of `every = ".."` or `cron = ".."`, as written (checked at
/// compile time, read when the elf registers).
#[derive(Clone, Copy, Debug)]
pub struct ScheduleRef {
    /// `every = ".."`.
    pub every: Option<&'static str>,
    /// `start_after = ".."`.
    pub start_after: Option<&'static str>,
    /// `cron = ".."`.
    pub cron: Option<&'static str>,
    /// `tz = ".."` (UTC when `None`).
    pub tz: Option<&'static str>,
    /// `missed = ".."`.
    pub missed: Option<&'static str>,
    /// `overlap = ".."`.
    pub overlap: Option<&'static str>,
}
