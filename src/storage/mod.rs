//! The storage layer: the narrow seam every backend implements, the
//! backends (one folder each, registered by URL scheme), and the conformance
//! suite they all pass. The rules of the job lifecycle live above it, in
//! [`Store`].
//!
//! | scheme | backend | where the data lives |
//! | --- | --- | --- |
//! | `sqlite://path` | embedded SQLite (WAL), the default | a file shared by the processes of one machine |
//! | `memory:`, `memory://name` | in memory | this process (tests, `mycelium::testing`) |
//! | `arangodb://..`, `http(s)://..` | ArangoDB (feature `arangodb`) | a server shared across machines |

#[cfg(feature = "arangodb")]
pub mod arango;
mod error;
pub(crate) mod flow_seam;
pub(crate) mod memory;
mod query;
pub(crate) mod registry;
pub(crate) mod retention_seam;
pub(crate) mod rows;
pub(crate) mod seam;
pub(crate) mod sqlite;
mod token;

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

pub use crate::lifecycle::sched;
pub use crate::lifecycle::{
    ChildOutcome, ClaimRequest, Clock, Collected, Completed, DURATION_SAMPLE, Departure, Failed, FlowClaim,
    FlowCommitted, FlowEnd, FlowReport, FlowTurn, InboxLine, ManualClock, Messages, NewStep, Readied, Reaped, Released,
    Repaired, Resume, Retention, Retried, Sent, Store, SystemClock, Turn, Unserved, Wait,
};
pub use error::{Error, ErrorKind, Result};
pub use query::{Dep, Edge, EventQuery, FailureQuery, JobQuery, Limits, RunQuery};
pub use registry::{OpenMode, check_url, redact};
pub use retention_seam::Deleted;
pub use seam::{Description, Locality, Reclaimed};
pub use token::{Scope, Token};

/// The store used when none is named: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://mycelium.db";
