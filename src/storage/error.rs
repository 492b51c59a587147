//! The errors of the storage layer, shared by every backend.

use std::path::PathBuf;

use crate::model::{JobId, RunId};

/// A storage error. Every variant names the input at fault and, where one
/// exists, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store URL cannot be used.
    #[error(
        "`{url}` is not a store URL: {problem} (use sqlite://path/to/store.db, or arangodb://user:password@host:8529/database)"
    )]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// There is no store where one was expected, and the command may not
    /// create one.
    #[error(
        "there is no store at `{store}` (check --store or MYCELIUM_URL; a store is created by the first coordinator, elf or driver that opens it, e.g. `mycelium coordinator --store {store}`)"
    )]
    NoStore {
        /// The store URL.
        store: String,
    },
    /// The file exists but is not a mycelium store.
    #[error(
        "`{path}` is not a mycelium store: {detail} (point --store at a mycelium store, or at a path that does not exist yet to create one)"
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The store's file is damaged.
    #[error("store `{path}` is corrupt: {detail} (restore it from a backup, or move it aside to start afresh)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite or the backend reported.
        detail: String,
    },
    /// The store cannot be created or written where it was asked for.
    #[error(
        "cannot open `{path}` for writing: {detail} (check that its directory exists and that this user may write there)"
    )]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// The operating system's or SQLite's reason.
        detail: String,
    },
    /// The store was written by a newer build.
    #[error(
        "store `{store}` has schema version {found}, newer than the {supported} this build of mycelium knows (upgrade mycelium to open it)"
    )]
    NewerSchema {
        /// The store.
        store: String,
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// A document given to the store is malformed.
    #[error("invalid {what}: {problem} ({fix})")]
    Invalid {
        /// Which input.
        what: String,
        /// What is wrong.
        problem: String,
        /// How to make it right.
        fix: String,
    },
    /// A payload is over the configured size limit.
    #[error(
        "{what} is {size} bytes, over the store's limit of {limit} bytes (pass large data by reference, e.g. a file path, or raise the limit with ?max_payload= on the store URL)"
    )]
    TooLarge {
        /// Which payload.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A referenced job does not exist.
    #[error("job {0} does not exist (list jobs with `mycelium run <run>`)")]
    UnknownJob(JobId),
    /// A referenced run does not exist.
    #[error("run {0} does not exist (list runs with `mycelium runs`)")]
    UnknownRun(RunId),
    /// Jobs were added to a run that takes no more: sealed by its driver,
    /// submitted in one piece, or cancelled.
    #[error(
        "run {run} is sealed ({state}) and takes no more jobs (open a new run for more work; `mycelium run {run}` shows it)"
    )]
    Sealed {
        /// The run.
        run: RunId,
        /// Its state.
        state: String,
    },
    /// A named signal, queue, exchange or schedule does not exist.
    #[error("unknown {kind} `{name}`: {detail}")]
    Unknown {
        /// What it should have been (`signal`, `queue`, ...).
        kind: &'static str,
        /// The name given.
        name: String,
        /// What exists, and how to make it exist.
        detail: String,
    },
    /// The submitted jobs depend on each other in a cycle.
    #[error(
        "the submitted jobs form a dependency cycle: {} (a job may only consume outputs of jobs that do not consume its own)",
        .0.join(" -> ")
    )]
    Cycle(Vec<String>),
    /// The store cannot be reached now; the same call may succeed later.
    #[error("store `{store}` is unavailable: {detail}")]
    Unavailable {
        /// The store.
        store: String,
        /// Why.
        detail: String,
    },
    /// Any other backend error, with what the store was doing.
    #[error("store failed to {context}")]
    Backend {
        /// What the store was doing ("claim jobs", ...).
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The neutral class of an error, the same for every backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input is wrong; retrying the same call fails the same way.
    BadInput,
    /// Something referenced does not exist.
    NotFound,
    /// The store is out of reach for now; retrying may succeed.
    Unavailable,
    /// The store's data is damaged.
    Corrupt,
    /// The store was written by a newer build.
    Incompatible,
    /// Anything else.
    Internal,
}

impl Error {
    /// The neutral class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadUrl { .. }
            | Error::Invalid { .. }
            | Error::TooLarge { .. }
            | Error::Cycle(_)
            | Error::Sealed { .. }
            | Error::NotAStore { .. }
            | Error::Unwritable { .. } => ErrorKind::BadInput,
            Error::UnknownJob(_) | Error::UnknownRun(_) | Error::NoStore { .. } | Error::Unknown { .. } => {
                ErrorKind::NotFound
            }
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::NewerSchema { .. } => ErrorKind::Incompatible,
            Error::Backend { .. } => ErrorKind::Internal,
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    /// A backend error with context.
    pub fn backend(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend { context: context.into(), source: Box::new(source) }
    }

    /// An `Invalid` error.
    pub fn invalid(what: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), problem: problem.into(), fix: fix.into() }
    }
}

/// The storage layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
