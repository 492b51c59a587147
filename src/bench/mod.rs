//! Benchmarks.

pub(crate) mod agents;
pub(crate) mod fresh;
pub(crate) mod sched;
pub(crate) mod store;
pub(crate) mod workload;
