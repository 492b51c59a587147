//! The coordinator: keeps the mycelium moving when elves die and keeps the
//! store healthy.
//!
//! Readiness and failure propagation happen in the store, in the transaction
//! of the write that causes them (see [`crate::storage::Store`]), so work
//! never waits on this process. The coordinator holds the leader lease (two
//! coordinators on one store never both act), reaps expired leases and dead
//! elves, checkpoints the store, and audits the graph of every unfinished
//! run with petgraph, repairing any job found stuck or miscounted (in one
//! store transaction per run, with a `job_repaired` event each).

mod audit;
mod graphs;
mod service;

pub use crate::lifecycle::rank::{DEFAULT_DURATION_MS, critical_path, median, ranks, ranks_and_path, ranks_by_index};
pub use audit::{Audit, audit_run};
pub use graphs::DEFAULT_GRAPH_MAX_JOBS;
pub use service::{Options, Stats, serve};
