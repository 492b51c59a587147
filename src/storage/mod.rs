//! The storage layer: the [`Store`] trait every backend implements, the
//! backends, and the conformance suite they all pass.

pub mod arango;
mod error;
pub mod sqlite;
mod store;
mod url;
mod validate;

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

pub use error::{Error, ErrorKind, Result};
pub use store::{
    ClaimRequest, Dep, EventQuery, Failed, FailureQuery, JobQuery, Limits, Readied, Reaped, Retried, RunQuery, Store,
};
pub use url::{DEFAULT_URL, StoreUrl, open};
