//! Flows' histories and signals on SQLite: the seam's [`FlowRead`] and
//! [`FlowTx`].

use rusqlite::{Row, params};
use serde_json::Value;

use super::rows::{self, json};
use super::sql::{JOB_ROW_COLS, Sql};
use crate::model::{JobId, JobState, Millis, Signal, SignalId, Step, TaskSha};
use crate::storage::Result;
use crate::storage::flow_seam::{FlowRead, FlowTx, NO_TIMER};
use crate::storage::rows::JobRow;

/// The columns `step` reads, in order.
const STEP_COLS: &str = "flow, k, kind, target, hash, child, due, outcome, awaited, sha, location, detail, at";

fn step(r: &Row<'_>) -> rusqlite::Result<Step> {
    let kind: String = r.get(2)?;
    Ok(Step {
        flow: JobId(r.get(0)?),
        k: r.get(1)?,
        kind: kind.parse().map_err(|e: String| conversion(2, e))?,
        target: r.get(3)?,
        hash: r.get(4)?,
        child: r.get::<_, Option<i64>>(5)?.map(JobId),
        due: r.get(6)?,
        outcome: optional_json(r, 7)?,
        awaited: r.get(8)?,
        sha: r.get::<_, Option<String>>(9)?.map(|s| TaskSha::try_from(s).map_err(|e| conversion(9, e))).transpose()?,
        location: r.get(10)?,
        detail: optional_json(r, 11)?,
        at: r.get(12)?,
    })
}

fn signal(r: &Row<'_>) -> rusqlite::Result<Signal> {
    Ok(Signal {
        id: r.get(0)?,
        flow: JobId(r.get(1)?),
        name: r.get(2)?,
        payload: json(r, 3)?,
        sent_at: r.get(4)?,
        consumed_by: r.get(5)?,
    })
}

fn optional_json(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Value>> {
    match r.get::<_, Option<String>>(idx)? {
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| conversion(idx, e.to_string())),
        None => Ok(None),
    }
}

fn conversion(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, msg.into())
}

impl Sql<'_> {
    /// Runs a cached query once per key and gathers the rows.
    fn each_key<K: rusqlite::ToSql, T>(
        &self,
        what: &str,
        sql: &str,
        keys: &[K],
        mut map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let out = self.conn.prepare_cached(sql).and_then(|mut stmt| {
            let mut out = Vec::new();
            for key in keys {
                let mut rows = stmt.query([key])?;
                while let Some(row) = rows.next()? {
                    out.push(map(row)?);
                }
            }
            Ok(out)
        });
        self.ctx(what, out)
    }

    /// Runs a cached statement once per item.
    fn run_each<T>(
        &self,
        what: &str,
        sql: &str,
        items: &[T],
        mut bind: impl FnMut(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        let out = self.conn.prepare_cached(sql).and_then(|mut stmt| {
            for item in items {
                bind(&mut stmt, item)?;
            }
            Ok(())
        });
        self.ctx(what, out)
    }
}

/// Ids, distinct and ascending, as SQL integers.
fn keys(ids: &[JobId]) -> Vec<i64> {
    let mut v: Vec<i64> = ids.iter().map(|j| j.0).collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl FlowRead for Sql<'_> {
    fn steps(&mut self, flow: JobId, from: u32) -> Result<Vec<Step>> {
        let sql = format!("SELECT {STEP_COLS} FROM flow_steps WHERE flow = ?1 AND k >= ?2 ORDER BY k");
        let out = self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map(params![flow.0, from], step).and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        });
        self.ctx("read a flow's history", out)
    }

    fn last_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        let sql = format!("SELECT {STEP_COLS} FROM flow_steps WHERE flow = ?1 ORDER BY k DESC LIMIT 1");
        self.each_key("read the last steps of flows", &sql, &keys(flows), step)
    }

    fn child_steps(&mut self, children: &[JobId]) -> Result<Vec<Step>> {
        let sql = format!("SELECT {STEP_COLS} FROM flow_steps WHERE child = ?1");
        self.each_key("read the steps that created jobs", &sql, &keys(children), step)
    }

    fn open_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        let sql = format!(
            "SELECT {STEP_COLS} FROM flow_steps INDEXED BY flow_steps_open WHERE flow = ?1 AND child IS NOT NULL \
             AND outcome IS NULL ORDER BY k"
        );
        self.each_key("read the open steps of flows", &sql, &keys(flows), step)
    }

    fn signals(&mut self, flows: &[JobId], open: bool) -> Result<Vec<Signal>> {
        let filter = if open { " AND consumed_by IS NULL" } else { "" };
        let sql = format!(
            "SELECT id, flow, name, payload, sent_at, consumed_by FROM flow_signals WHERE flow = ?1{filter} ORDER BY id"
        );
        let mut out = self.each_key("read signals", &sql, &keys(flows), signal)?;
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    fn due(&mut self, elf: &str, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        let sql = format!(
            "SELECT {JOB_ROW_COLS} FROM jobs WHERE state = '{}' AND elf = ?1 AND not_before <= ?2 \
             ORDER BY not_before LIMIT ?3",
            JobState::Waiting.as_str()
        );
        let out = self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map(params![elf, now, limit], rows::job_row)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        });
        self.ctx("find due timers", out)
    }

    fn next_due(&mut self, elf: &str) -> Result<Option<Millis>> {
        let sql = format!(
            "SELECT MIN(not_before) FROM jobs WHERE state = '{}' AND elf = ?1 AND not_before < ?2",
            JobState::Waiting.as_str()
        );
        let out = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params![elf, NO_TIMER], |r| r.get::<_, Option<i64>>(0)));
        self.ctx("find the next timer", out)
    }

    fn children(&mut self, parents: &[JobId]) -> Result<Vec<JobRow>> {
        let sql = format!("SELECT {JOB_ROW_COLS} FROM jobs WHERE parent = ?1 ORDER BY id");
        let mut out = self.each_key("read a flow's children", &sql, &keys(parents), rows::job_row)?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }
}

impl FlowTx for Sql<'_> {
    fn insert_steps(&mut self, steps: &[Step]) -> Result<()> {
        let mut encoded = Vec::with_capacity(steps.len());
        for s in steps {
            let outcome = s.outcome.as_ref().map(Value::to_string);
            let detail = s.detail.as_ref().map(Value::to_string);
            encoded.push((s, outcome, detail));
        }
        self.run_each(
            "record flow steps",
            "INSERT INTO flow_steps(flow, k, kind, target, hash, child, due, outcome, awaited, sha, location, detail, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            &encoded,
            |stmt, (s, outcome, detail)| {
                stmt.execute(params![
                    s.flow.0,
                    s.k,
                    s.kind.as_str(),
                    s.target,
                    s.hash,
                    s.child.map(|c| c.0),
                    s.due,
                    outcome,
                    s.awaited,
                    s.sha.as_ref().map(TaskSha::as_str),
                    s.location,
                    detail,
                    s.at
                ])
            },
        )
    }

    fn observe_steps(&mut self, outcomes: &[(JobId, u32, String)]) -> Result<()> {
        self.run_each(
            "record what flows saw",
            "UPDATE flow_steps SET outcome = ?3, awaited = 0 WHERE flow = ?1 AND k = ?2",
            outcomes,
            |stmt, (flow, k, outcome)| stmt.execute(params![flow.0, k, outcome]),
        )
    }

    fn await_steps(&mut self, steps: &[(JobId, u32, bool)]) -> Result<()> {
        self.run_each(
            "mark what flows wait for",
            "UPDATE flow_steps SET awaited = ?3 WHERE flow = ?1 AND k = ?2",
            steps,
            |stmt, (flow, k, awaited)| stmt.execute(params![flow.0, k, awaited]),
        )
    }

    fn insert_signal(&mut self, s: &Signal) -> Result<SignalId> {
        let payload = s.payload.to_string();
        let out = self
            .conn
            .prepare_cached(
                "INSERT INTO flow_signals(flow, name, payload, sent_at, consumed_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| stmt.execute(params![s.flow.0, s.name, payload, s.sent_at, s.consumed_by]));
        self.ctx("record a signal", out)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn consume_signals(&mut self, consumed: &[(SignalId, u32)]) -> Result<()> {
        self.run_each(
            "record consumed signals",
            "UPDATE flow_signals SET consumed_by = ?2 WHERE id = ?1",
            consumed,
            |stmt, (id, k)| stmt.execute(params![id, k]),
        )
    }
}
