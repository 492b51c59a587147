//! Re-queueing failed jobs and everything downstream of them.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::SqliteStore;
use super::lifecycle::{JobEvent, job_event};
use crate::model::{JobId, JobState, RetryPolicy, RunId, now_ms};
use crate::storage::{Error, Result, Retried};

impl SqliteStore {
    pub(super) fn retry_jobs(&self, jobs: &[JobId]) -> Result<Retried> {
        self.write("retry jobs", |tx| {
            let now = now_ms();
            // The jobs asked for, then everything downstream that could not
            // run because of them.
            let mut todo: BTreeSet<JobId> = BTreeSet::new();
            for id in jobs {
                let state: Option<String> =
                    tx.query_row("SELECT state FROM jobs WHERE id = ?1", [id.0], |r| r.get(0)).optional()?;
                let state = state.ok_or(Error::UnknownJob(*id))?;
                if matches!(state.as_str(), "failed" | "upstream_failed" | "cancelled") {
                    todo.insert(*id);
                }
            }
            let mut frontier: Vec<JobId> = todo.iter().copied().collect();
            while let Some(p) = frontier.pop() {
                let downstream = tx
                    .prepare_cached(
                        "SELECT DISTINCT j.id FROM deps d JOIN jobs j ON j.id = d.consumer \
                         WHERE d.producer = ?1 AND j.state IN ('upstream_failed', 'cancelled')",
                    )?
                    .query_map([p.0], |r| Ok(JobId(r.get(0)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                for c in downstream {
                    if todo.insert(c) {
                        frontier.push(c);
                    }
                }
            }
            let mut out = Retried::default();
            let mut per_run: BTreeMap<RunId, u64> = BTreeMap::new();
            for id in &todo {
                // Producers not succeeded, counting those being retried now.
                let unmet: u32 = tx
                    .prepare_cached(
                        "SELECT count(DISTINCT d.producer) FROM deps d JOIN jobs p ON p.id = d.producer \
                         WHERE d.consumer = ?1 AND p.state != 'succeeded'",
                    )?
                    .query_row([id.0], |r| r.get(0))?;
                let state = if unmet == 0 { JobState::Ready } else { JobState::Pending };
                let (run, elf, attempt, retry): (i64, String, u32, String) = tx
                    .prepare_cached("SELECT run, elf, attempt, retry FROM jobs WHERE id = ?1")?
                    .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                let policy: RetryPolicy =
                    serde_json::from_str(&retry).map_err(|e| Error::backend("read a retry policy", e))?;
                tx.prepare_cached(
                    "UPDATE jobs SET state = ?2, unmet = ?3, max_attempts = ?4, not_before = 0, lease_until = NULL, \
                     finished_at = NULL, updated_at = ?5 WHERE id = ?1",
                )?
                .execute(params![id.0, state.as_str(), unmet, attempt + policy.max_attempts.max(1), now])?;
                let data = json!({ "retried": true }).to_string();
                job_event(tx, &JobEvent { at: now, run: RunId(run), job: *id, state, data: Some(&data) })?;
                if state == JobState::Ready {
                    *out.readied.entry(elf).or_default() += 1;
                }
                *per_run.entry(RunId(run)).or_default() += 1;
                out.jobs.push(*id);
            }
            for (run, n) in per_run {
                let was: String = tx.query_row("SELECT state FROM runs WHERE id = ?1", [run.0], |r| r.get(0))?;
                tx.execute(
                    "UPDATE runs SET open = open + ?2, failed = max(failed - ?2, 0), state = 'running', finished_at = NULL \
                     WHERE id = ?1",
                    params![run.0, n as i64],
                )?;
                if was != "running" {
                    let data = json!({ "was": was }).to_string();
                    tx.execute(
                        "INSERT INTO events(at, kind, run, data) VALUES (?1, 'run_reopened', ?2, ?3)",
                        params![now, run.0, data],
                    )?;
                    out.reopened.push(run);
                }
            }
            Ok(out)
        })
    }
}
