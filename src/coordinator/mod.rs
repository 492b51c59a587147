//! The coordinator: keeps the mycelium moving when elves die and keeps the
//! store healthy.
//!
//! Readiness and failure propagation happen in the store, in the transaction
//! of the write that causes them (see [`crate::storage::Store`]), so work
//! never waits on this process. The coordinator holds the leader lease (two
//! coordinators on one store never both act), reaps expired leases and dead
//! elves, checkpoints the store, and schedules from the graph:
//!
//! * the leader holds every unfinished run's graph in memory (petgraph),
//!   built once when it takes the lead and kept current by tailing the event
//!   log, within a bound on the jobs held ([`Options::graph_max_jobs`]; a run
//!   over it keeps the store's own order);
//! * it ranks each run's jobs by their longest remaining path, weighted by
//!   the tasks' measured durations ([`ranks`], [`critical_path`]), again
//!   when durations move or jobs are added, and hands the ranks to the store;
//! * it audits the graphs and repairs any job found stuck or miscounted (in
//!   one store transaction per run, with a `job_repaired` event each).

mod audit;
mod graphs;
mod service;

pub use crate::lifecycle::rank::{DEFAULT_DURATION_MS, critical_path, median, ranks, ranks_and_path, ranks_by_index};
pub use audit::{Audit, audit_run};
pub use graphs::DEFAULT_GRAPH_MAX_JOBS;
pub use service::{Options, serve};
