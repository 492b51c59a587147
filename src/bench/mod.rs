//! Benchmarks.

pub mod store;
pub mod workload;
