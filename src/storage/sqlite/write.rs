//! Writes: the seam's [`Tx`] inside a `BEGIN IMMEDIATE` transaction.

use rusqlite::params;

use super::rows;
use super::sql::{CLAIM_ONE, CLAIM_READY, CLAIMED_ONE, PICK_READY, Sql};
use crate::model::{ElfInstance, Failure, FailureId, JobId, Millis, Run, TaskVersion};
use crate::storage::rows::{
    CatalogWrite, ClaimScan, ClaimSet, ClaimedRow, JobRow, LeaderRow, NewEvent, NewJob, NewResult, RunRow, Sequence,
};
use crate::storage::seam::Tx;
use crate::storage::{Dep, Result, Token};

impl Sql<'_> {
    /// Runs one cached statement once per item.
    fn each<T>(
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

    fn encode<T: serde::Serialize>(&self, what: &str, v: &T) -> Result<String> {
        serde_json::to_string(v).map_err(|e| self.bad_data(what, e.to_string()))
    }

    /// Up to `want` ready jobs of the scan, in claim order.
    fn pick_ready(&self, scan: &ClaimScan<'_>, want: usize) -> Result<Vec<i64>> {
        let mut found = Vec::with_capacity(want);
        let out = self.conn.prepare_cached(&PICK_READY).and_then(|mut stmt| {
            let mut rows = stmt.query(params![scan.elf, scan.now])?;
            while found.len() < want {
                let Some(row) = rows.next()? else { break };
                let task = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                if scan.tasks.iter().any(|t| t == task) {
                    found.push(row.get(0)?);
                }
            }
            Ok(())
        });
        self.ctx("find ready jobs", out)?;
        Ok(found)
    }

    /// Claims the ready job `id` as `set` says.
    fn claim_one(&self, id: i64, set: &ClaimSet<'_>) -> Result<Vec<ClaimedRow>> {
        let out = self
            .conn
            .prepare_cached(&CLAIM_ONE)
            .and_then(|mut s| s.execute(params![id, set.now, set.holder.0, set.lease_until]));
        self.ctx("claim a ready job", out)?;
        self.many("read a claimed job", &CLAIMED_ONE, params![id], rows::claimed_row)
    }
}

impl Tx for Sql<'_> {
    fn reserve(&mut self, sequence: Sequence, n: u64) -> Result<i64> {
        let (slot, table) = match sequence {
            Sequence::Jobs => (0, "jobs"),
            Sequence::Runs => (1, "runs"),
        };
        let next = match self.next[slot] {
            Some(next) => next,
            None => {
                // We hold the write lock: nobody inserts between this read
                // and our inserts.
                let sql = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}");
                let out = self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0));
                self.ctx("reserve ids", out)?
            }
        };
        self.next[slot] = Some(next + i64::try_from(n).unwrap_or(i64::MAX / 2));
        Ok(next)
    }

    fn insert_run(&mut self, row: &RunRow) -> Result<()> {
        let r = &row.run;
        let labels = self.encode("encode labels", &r.labels)?;
        let origin = self.encode("encode the origin", &r.created_by)?;
        let out = self.conn.execute(
            "INSERT INTO runs(id, name, labels, created_by, created_at, finished_at, state, idem_key, total, open, \
             failed, sealed, vstart, weight) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                r.id.0,
                r.name,
                labels,
                origin,
                r.created_at,
                r.finished_at,
                r.state.as_str(),
                row.idempotency_key,
                r.total as i64,
                r.open as i64,
                r.failed as i64,
                r.sealed,
                row.vstart,
                row.weight
            ],
        );
        self.ctx("insert a run", out).map(drop)
    }

    fn update_run(&mut self, r: &Run) -> Result<()> {
        let out = self
            .conn
            .prepare_cached(
                "UPDATE runs SET state = ?2, finished_at = ?3, total = ?4, open = ?5, failed = ?6, sealed = ?7 \
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.id.0,
                    r.state.as_str(),
                    r.finished_at,
                    r.total as i64,
                    r.open as i64,
                    r.failed as i64,
                    r.sealed
                ])
            });
        self.ctx("update a run", out).map(drop)
    }

    fn insert_jobs(&mut self, jobs: &[NewJob]) -> Result<()> {
        // Runs share few retry policies: encode each distinct one once; the
        // default one (most jobs') as `rows::DEFAULT_RETRY`.
        let mut last: Option<(&crate::model::RetryPolicy, String)> = None;
        let mut policies = Vec::with_capacity(jobs.len());
        for j in jobs {
            let text = match &last {
                Some((p, t)) if **p == j.row.retry => t.clone(),
                _ if j.row.retry == crate::model::RetryPolicy::default() => rows::DEFAULT_RETRY.to_owned(),
                _ => self.encode("encode a retry policy", &j.row.retry)?,
            };
            last = Some((&j.row.retry, text.clone()));
            policies.push(text);
        }
        let items: Vec<(&NewJob, &String)> = jobs.iter().zip(&policies).collect();
        self.each(
            "insert jobs",
            "INSERT INTO jobs(id, run, key, elf, task, args, state, unmet, ndeps, priority, attempt, max_attempts, \
             retry, timeout_ms, expected_sha, lost, created_at, updated_at, finished_at, parent, not_before, turn, rank_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
             ?22, ?23)",
            &items,
            |s, (j, retry)| {
                let r = &j.row;
                s.execute(params![
                    r.id.0,
                    r.run.0,
                    j.key,
                    r.elf,
                    r.task,
                    j.args,
                    r.state.as_str(),
                    r.unmet,
                    r.ndeps,
                    r.priority,
                    r.attempt,
                    r.max_attempts,
                    retry,
                    r.timeout_ms.map(|t| t.min(i64::MAX as u64) as i64),
                    j.expected_sha.as_ref().map(|s| s.as_str()),
                    r.lost,
                    j.created_at,
                    r.updated_at,
                    r.finished_at,
                    r.parent.map(|p| p.0),
                    r.not_before,
                    r.turn,
                    r.rank_ms.min(i64::MAX as u64) as i64
                ])
            },
        )
    }

    fn update_jobs(&mut self, jobs: &[JobRow]) -> Result<()> {
        self.each(
            "update jobs",
            "UPDATE jobs SET state = ?2, unmet = ?3, attempt = ?4, max_attempts = ?5, lost = ?6, ran_sha = ?7, \
             holder = ?8, lease_until = ?9, epoch = ?10, not_before = ?11, updated_at = ?12, started_at = ?13, \
             finished_at = ?14 WHERE id = ?1",
            jobs,
            |s, r| {
                s.execute(params![
                    r.id.0,
                    r.state.as_str(),
                    r.unmet,
                    r.attempt,
                    r.max_attempts,
                    r.lost,
                    r.ran_sha.as_ref().map(|s| s.as_str()),
                    r.holder.as_ref().map(|h| h.0.as_str()),
                    r.lease_until,
                    r.epoch,
                    r.not_before,
                    r.updated_at,
                    r.started_at,
                    r.finished_at
                ])
            },
        )
    }

    fn claim_ready(&mut self, scan: &ClaimScan<'_>, set: &ClaimSet<'_>) -> Result<Vec<ClaimedRow>> {
        // A claim that finds nothing or one job (an idle elf's, each hop of a
        // chain, a fan-in) is most claims: a read finds up to two, and one is
        // written by id. Only a claim of two or more runs the set-based
        // statement, whose temporary tables (`IN (…)`, `RETURNING`) cost a
        // one-row claim a third of its instructions.
        let found = self.pick_ready(scan, scan.max.min(2) as usize)?;
        match found[..] {
            [] => return Ok(Vec::new()),
            [id] => return self.claim_one(id, set),
            _ => {}
        }
        // One statement: the ready jobs' index scan, the rewrite of each row
        // and the columns a claim hands on (the read, then the write by id,
        // cost each row a second lookup and 20% of the claim's time; the
        // whole row decoded cost another 5%).
        let tasks = serde_json::to_string(scan.tasks).map_err(|e| self.bad_data("encode task names", e.to_string()))?;
        let mut out = self.many(
            "claim ready jobs",
            &CLAIM_READY,
            params![scan.elf, scan.now, tasks, scan.max, set.holder.0, set.lease_until],
            rows::claimed_row,
        )?;
        // Claim order, as the read gives it (RETURNING promises none).
        out.sort_unstable_by_key(|r| (std::cmp::Reverse(r.priority), r.turn, r.id));
        Ok(out)
    }

    fn set_turns(&mut self, turns: &[(JobId, i64, u64)]) -> Result<()> {
        self.each(
            "reorder jobs",
            "UPDATE jobs SET turn = ?2, rank_ms = ?3 WHERE id = ?1",
            turns,
            |s, (id, turn, rank)| s.execute(params![id.0, turn, (*rank).min(i64::MAX as u64) as i64]),
        )
    }

    fn advance_vtime(&mut self, turn: i64) -> Result<()> {
        let out = self
            .conn
            .prepare_cached("UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2 AND seq < ?1")
            .and_then(|mut s| s.execute(params![turn, super::schema::VTIME_ROW]));
        self.ctx("advance the virtual time", out).map(drop)
    }

    fn insert_deps(&mut self, deps: &[Dep]) -> Result<()> {
        self.each(
            "insert dependencies",
            "INSERT INTO deps(consumer, path, producer) VALUES (?1, ?2, ?3)",
            deps,
            |s, d| s.execute(params![d.consumer.0, d.path, d.producer.0]),
        )
    }

    fn insert_results(&mut self, results: &[NewResult]) -> Result<()> {
        self.each(
            "insert results",
            "INSERT INTO results(job, epoch, value, at) VALUES (?1, ?2, ?3, ?4)",
            results,
            |s, r| s.execute(params![r.job.0, r.epoch, r.value, r.at]),
        )
    }

    fn insert_failures(&mut self, failures: &[Failure]) -> Result<Vec<FailureId>> {
        let mut ids = Vec::with_capacity(failures.len());
        for f in failures {
            let report = self.encode("encode a failure", &f.report)?;
            let out = self
                .conn
                .prepare_cached(
                    "INSERT INTO failures(job, run, elf, task, attempt, epoch, kind, signature, instance, host, pid, \
                     started_at, at, will_retry, report) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        f.job.0,
                        f.run.0,
                        f.elf,
                        f.task,
                        f.attempt,
                        f.epoch,
                        f.report.kind.as_str(),
                        f.signature,
                        f.instance.as_ref().map(|i| i.0.as_str()),
                        f.host,
                        f.pid,
                        f.started_at,
                        f.at,
                        f.will_retry,
                        report
                    ])
                });
            self.ctx("insert a failure", out)?;
            ids.push(FailureId(self.conn.last_insert_rowid()));
        }
        Ok(ids)
    }

    fn append(&mut self, events: &[NewEvent]) -> Result<()> {
        self.each(
            "append events",
            "INSERT INTO events(at, kind, run, job, state, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            events,
            |s, e| {
                s.execute(params![
                    e.at,
                    e.kind.as_str(),
                    e.run.map(|r| r.0),
                    e.job.map(|j| j.0),
                    e.state.map(|st| st.as_str()),
                    e.data
                ])
            },
        )
    }

    fn put_task_versions(&mut self, versions: &[TaskVersion], now: Millis) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(versions.len());
        for v in versions {
            let signature = self.encode("encode a signature", &v.signature)?;
            let added = self.conn.prepare_cached(
                "INSERT INTO tasks(sha, source, file, line, signature, doc, first_seen) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(sha) DO NOTHING",
            );
            let added = added
                .and_then(|mut s| s.execute(params![v.sha.as_str(), v.source, v.file, v.line, signature, v.doc, now]));
            let added = self.ctx("record a task version", added)?;
            let named = self
                .conn
                .prepare_cached(
                    "INSERT INTO task_names(elf, task, sha, first_seen) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![v.elf, v.name, v.sha.as_str(), now]));
            let named = self.ctx("record a task name", named)?;
            out.push(added + named > 0);
        }
        Ok(out)
    }

    fn put_elf(&mut self, e: &ElfInstance) -> Result<()> {
        let build = self.encode("encode a build", &e.build)?;
        let tasks = self.encode("encode task versions", &e.tasks)?;
        let out = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO elves(instance, elf, host, pid, build, tasks, slots, started_at, heartbeat_at, \
                 lease_until, state, label, process_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    e.instance.0,
                    e.elf,
                    e.host,
                    e.pid,
                    build,
                    tasks,
                    e.slots,
                    e.started_at,
                    e.heartbeat_at,
                    e.lease_until,
                    e.state.as_str(),
                    e.label,
                    e.process_start.map(|v| v.min(i64::MAX as u64) as i64)
                ])
            });
        self.ctx("record an elf", out).map(drop)
    }

    fn put_leader(&mut self, row: &LeaderRow) -> Result<()> {
        let out = self
            .conn
            .prepare_cached(
                "INSERT INTO leader(role, holder, lease_until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(role) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until",
            )
            .and_then(|mut s| s.execute(params![row.role, row.holder, row.until]));
        self.ctx("record the leader", out).map(drop)
    }

    fn insert_token(&mut self, t: &Token) -> Result<()> {
        let out = self.conn.execute(
            "INSERT INTO tokens(name, scope, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![t.name, t.scope.as_str(), t.hash, t.created_at, t.revoked_at],
        );
        self.ctx("record a token", out).map(drop)
    }

    fn revoke_token(&mut self, name: &str, at: Millis) -> Result<bool> {
        let out = self
            .conn
            .execute("UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL", params![name, at]);
        Ok(self.ctx("revoke a token", out)? > 0)
    }

    fn put_catalog(&mut self, writes: &[CatalogWrite]) -> Result<()> {
        self.write_catalog(writes)
    }
}
