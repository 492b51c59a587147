//! The part of the seam that durable flows add: their histories (one step
//! per command), the signals sent to them, and the two scans of waiting
//! flows (due timers, the next timer). Every backend implements these beside
//! [`Read`](super::seam::Read) and [`Tx`](super::seam::Tx), whose
//! supertraits they are; the module contract of `seam` holds for them too.

use super::Result;
use super::rows::JobRow;
use crate::model::{JobId, Millis, Signal, SignalId, Step};

/// A waiting job's `not_before` when it waits for no timer.
pub(crate) const NO_TIMER: Millis = Millis::MAX;

/// Reads of flows' histories and signals.
pub(crate) trait FlowRead {
    /// The steps of `flow` from step `from` on, in order.
    fn steps(&mut self, flow: JobId, from: u32) -> Result<Vec<Step>>;
    /// The last step of each of `flows` that has one.
    fn last_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>>;
    /// The steps that created `children` (call, spawn).
    fn child_steps(&mut self, children: &[JobId]) -> Result<Vec<Step>>;
    /// The steps of `flows` that created a child whose outcome the flow has
    /// not recorded yet, by flow and step.
    fn open_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>>;
    /// The signals sent to `flows` (only those not consumed yet, when
    /// `open`), by id.
    fn signals(&mut self, flows: &[JobId], open: bool) -> Result<Vec<Signal>>;
    /// Waiting jobs of `elf` whose timer is due at `now` (`not_before <=
    /// now`), earliest first.
    fn due(&mut self, elf: &str, now: Millis, limit: u32) -> Result<Vec<JobRow>>;
    /// The earliest timer among the waiting jobs of `elf` (not counting
    /// [`NO_TIMER`]).
    fn next_due(&mut self, elf: &str) -> Result<Option<Millis>>;
    /// The jobs the commands of `parents` created, by id.
    fn children(&mut self, parents: &[JobId]) -> Result<Vec<JobRow>>;
}

/// Writes of flows' histories and signals.
pub(crate) trait FlowTx {
    /// Inserts steps (each `(flow, k)` at most once).
    fn insert_steps(&mut self, steps: &[Step]) -> Result<()>;
    /// Records what the flow saw at steps, `(flow, k, outcome as JSON
    /// text)`, and clears their `awaited`.
    fn observe_steps(&mut self, outcomes: &[(JobId, u32, String)]) -> Result<()>;
    /// Sets (or clears) `awaited` of steps, `(flow, k, awaited)`.
    fn await_steps(&mut self, steps: &[(JobId, u32, bool)]) -> Result<()>;
    /// Inserts a signal (its `id` is ignored); returns the id given.
    fn insert_signal(&mut self, signal: &Signal) -> Result<SignalId>;
    /// Marks signals consumed, `(signal, step of its flow)`.
    fn consume_signals(&mut self, consumed: &[(SignalId, u32)]) -> Result<()>;
}
