//! The job lifecycle, written once above the storage seam: submission
//! planning, readiness, claims, results, the retry decision and backoff,
//! infrastructure losses, failure propagation, run closing, leases, reaping,
//! cancel, manual retry, leadership; and durable flows' histories, waits,
//! timers and signals.
//!
//! Every rule lives here and nowhere else; a backend (`crate::storage`)
//! only stores rows. [`Store`] is the handle processes hold.

mod agents;
mod catalog;
mod claim;
mod clock;
mod complete;
mod diagnose;
mod durations;
mod elves;
mod fail;
mod flow;
mod flow_cancel;
mod flow_commit;
mod flow_signal;
mod flow_turn;
mod flow_wake;
mod operate;
pub(crate) mod outage;
mod outcomes;
mod plan;
mod queues;
pub(crate) mod rank;
mod repair;
mod retention;
pub mod sched;
mod schedules;
mod signals;
mod store;
mod submit;
mod tokens;
mod watch;
mod work;

pub use clock::{Clock, ManualClock, SystemClock};
pub use diagnose::Unserved;
pub use durations::DURATION_SAMPLE;
pub use flow::{
    ChildOutcome, FlowClaim, FlowCommitted, FlowEnd, FlowReport, FlowTurn, InboxLine, NewStep, Resume, Wait,
};
pub use flow_signal::Sent;
pub use outcomes::{ClaimRequest, Completed, Departure, Failed, Readied, Reaped, Released, Retried, Turn};
pub use queues::Messages;
pub use repair::Repaired;
pub use retention::{Collected, Retention};
pub use store::Store;
