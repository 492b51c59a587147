//! Benchmarks.

pub mod store;
