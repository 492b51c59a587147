//! Benchmarks.

pub mod agents;
pub mod fresh;
pub mod store;
pub mod workload;
