//! A connection inside a read snapshot or a write transaction, and the
//! statements whose text names job states (built from [`JobState`] itself,
//! so a renamed state cannot leave a stale literal behind).

use std::path::Path;
use std::sync::LazyLock;

use rusqlite::Connection;

use super::open::classify;
use crate::model::JobState;
use crate::storage::{Error, Result};

/// The seam's view of one SQLite connection, in a transaction.
pub(super) struct Sql<'c> {
    pub(super) conn: &'c Connection,
    path: &'c Path,
    /// The next free id per sequence, once this transaction reserved one.
    pub(super) next: [Option<i64>; 2],
}

impl<'c> Sql<'c> {
    pub(super) fn new(conn: &'c Connection, path: &'c Path) -> Self {
        Self { conn, path, next: [None, None] }
    }

    /// Maps a SQLite error met while doing `context` to a storage error.
    pub(super) fn ctx<T>(&self, context: &str, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| classify(self.path, context, e))
    }

    /// A storage error for data this backend cannot read back.
    pub(super) fn bad_data(&self, context: &str, detail: String) -> Error {
        Error::Corrupt { path: self.path.to_owned(), detail: format!("{context}: {detail}") }
    }
}

/// `'<state>'`, for SQL text.
fn lit(state: JobState) -> String {
    format!("'{}'", state.as_str())
}

/// The columns a [`JobRow`](crate::storage::rows::JobRow) reads, in order.
pub(super) const JOB_ROW_COLS: &str = "id, run, elf, task, priority, ndeps, retry, timeout_ms, state, unmet, \
    attempt, max_attempts, lost, ran_sha, holder, lease_until, epoch, not_before, updated_at, started_at, finished_at, \
    parent, turn, rank_ms";

/// The columns a claim returns, in the order `rows::claimed_row` reads.
pub(super) const CLAIMED_COLS: &str =
    "id, run, task, args, priority, turn, ndeps, epoch, attempt, max_attempts, timeout_ms";

/// Ready jobs of one elf and some tasks, in claim order (on the partial
/// index `jobs_ready`, whose condition the query must repeat literally).
pub(super) static CLAIMABLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {JOB_ROW_COLS}, args FROM jobs WHERE state = {ready} AND elf = ?1 AND not_before <= ?2 \
         AND task IN (SELECT value FROM json_each(?3)) ORDER BY priority DESC, turn, id LIMIT ?4",
        ready = lit(JobState::Ready)
    )
});

/// Claims the jobs [`CLAIMABLE`] finds (the same parameters `?1`–`?4`, its
/// subquery on `jobs_ready`), holder `?5` until `?6`, in one statement that
/// writes what `ClaimSet::apply` does and returns the rows as written.
pub(super) static CLAIM_READY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET state = {claimed}, holder = ?5, epoch = epoch + 1, attempt = attempt + 1, \
         lease_until = ?6, started_at = ?2, updated_at = ?2 \
         WHERE id IN (SELECT id FROM jobs WHERE state = {ready} AND elf = ?1 AND not_before <= ?2 \
         AND task IN (SELECT value FROM json_each(?3)) ORDER BY priority DESC, turn, id LIMIT ?4) \
         RETURNING {CLAIMED_COLS}",
        claimed = lit(JobState::Claimed),
        ready = lit(JobState::Ready)
    )
});

/// The ready jobs of one elf in claim order, with their tasks (on
/// `jobs_ready`, no sort step, no limit: the caller steps through the rows
/// and stops as soon as it has what it needs, filtering tasks itself).
pub(super) static PICK_READY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, task FROM jobs WHERE state = {ready} AND elf = ?1 AND not_before <= ?2 \
         ORDER BY priority DESC, turn, id",
        ready = lit(JobState::Ready)
    )
});

/// Claims one job by id (`?1`, found ready by [`PICK_READY`] in the same
/// transaction) at `?2`, holder `?3` until `?4`: what [`CLAIM_READY`] writes
/// into each row, without the temporary tables of its `IN (…)` and
/// `RETURNING` (most of a one-row claim's cost).
pub(super) static CLAIM_ONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET state = {claimed}, holder = ?3, epoch = epoch + 1, attempt = attempt + 1, \
         lease_until = ?4, started_at = ?2, updated_at = ?2 WHERE id = ?1",
        claimed = lit(JobState::Claimed)
    )
});

/// What a claim returns of one job, by id.
pub(super) static CLAIMED_ONE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CLAIMED_COLS} FROM jobs WHERE id = ?1"));

/// The last successful attempts of one elf and task among the newest jobs
/// (a bounded scan of the rowid, newest first), their durations.
pub(super) static RECENT_DURATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT finished_at - started_at FROM jobs WHERE id > (SELECT COALESCE(MAX(id), 0) FROM jobs) - ?4 \
         AND state = {succeeded} AND elf = ?1 AND task = ?2 AND started_at IS NOT NULL AND finished_at IS NOT NULL \
         ORDER BY id DESC LIMIT ?3",
        succeeded = lit(JobState::Succeeded)
    )
});

/// Claimed jobs whose lease ran out (on the partial index `jobs_lease`).
pub(super) static EXPIRED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {JOB_ROW_COLS} FROM jobs WHERE state = {claimed} AND lease_until < ?1 ORDER BY lease_until LIMIT ?2",
        claimed = lit(JobState::Claimed)
    )
});

/// Claimed jobs of one holder (on the partial index `jobs_lease`).
pub(super) static HELD_BY: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {JOB_ROW_COLS} FROM jobs WHERE state = {claimed} AND holder = ?1", claimed = lit(JobState::Claimed))
});

/// A run's jobs that are not final.
pub(super) static OPEN_JOBS: LazyLock<String> = LazyLock::new(|| {
    let open: Vec<String> = JobState::ALL.iter().copied().filter(|s| !s.is_final()).map(lit).collect();
    format!("SELECT {JOB_ROW_COLS} FROM jobs WHERE run = ?1 AND state IN ({}) ORDER BY id", open.join(", "))
});
