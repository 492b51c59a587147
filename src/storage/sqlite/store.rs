//! `Store` for SQLite: the trait's methods, each one transaction.

use rusqlite::params;
use serde_json::{Value, json};

use super::SqliteStore;
use crate::model::{
    Claimed, Completion, ElfInstance, Event, Failure, FailureId, FailureReport, InstanceId, Job, JobId, Lease, Outcome,
    Run, RunId, Submission, Submitted, TaskSha, TaskVersion, now_ms,
};
use crate::storage::validate;
use crate::storage::{
    ClaimRequest, Dep, Error, EventQuery, Failed, FailureQuery, JobQuery, Limits, Readied, Reaped, Result, Retried,
    RunQuery, Store,
};

impl Store for SqliteStore {
    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn record_tasks(&self, versions: &[TaskVersion]) -> Result<()> {
        validate::task_versions(versions)?;
        self.write("record task versions", |tx| {
            let now = now_ms();
            for v in versions {
                let signature = serde_json::to_string(&v.signature).map_err(|e| Error::backend("encode a signature", e))?;
                let added = tx
                    .prepare_cached(
                        "INSERT INTO tasks(sha, source, file, line, signature, doc, first_seen) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(sha) DO NOTHING",
                    )?
                    .execute(params![v.sha.as_str(), v.source, v.file, v.line, signature, v.doc, now])?;
                let named = tx
                    .prepare_cached(
                        "INSERT INTO task_names(elf, task, sha, first_seen) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![v.elf, v.name, v.sha.as_str(), now])?;
                if added + named > 0 {
                    let data = json!({ "sha": v.sha, "elf": v.elf, "task": v.name }).to_string();
                    tx.prepare_cached("INSERT INTO events(at, kind, data) VALUES (?1, 'task_recorded', ?2)")?
                        .execute(params![now, data])?;
                }
            }
            Ok(())
        })
    }

    fn task_version(&self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        self.read_task(sha)
    }

    fn task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        self.read_task_versions(elf, task)
    }

    fn register_elf(&self, elf: &ElfInstance) -> Result<()> {
        let build = serde_json::to_string(&elf.build).map_err(|e| Error::backend("encode a build", e))?;
        let tasks = serde_json::to_string(&elf.tasks).map_err(|e| Error::backend("encode task versions", e))?;
        self.write("register an elf", |tx| {
            tx.execute(
                "INSERT INTO elves(instance, elf, host, pid, build, tasks, slots, started_at, heartbeat_at, lease_until, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT(instance) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
                   lease_until = excluded.lease_until, state = excluded.state, tasks = excluded.tasks, slots = excluded.slots",
                params![
                    elf.instance.0,
                    elf.elf,
                    elf.host,
                    elf.pid,
                    build,
                    tasks,
                    elf.slots,
                    elf.started_at,
                    elf.heartbeat_at,
                    elf.lease_until,
                    elf.state.as_str()
                ],
            )?;
            let data = json!({ "instance": elf.instance, "elf": elf.elf, "host": elf.host, "pid": elf.pid }).to_string();
            tx.execute("INSERT INTO events(at, kind, data) VALUES (?1, 'elf_started', ?2)", params![now_ms(), data])?;
            Ok(())
        })
    }

    fn heartbeat(&self, instance: &InstanceId, held: &[Lease], ttl_ms: i64) -> Result<Vec<Outcome>> {
        self.renew(instance, held, ttl_ms)
    }

    fn elf_gone(&self, instance: &InstanceId, lost: bool) -> Result<Readied> {
        self.gone(instance, lost)
    }

    fn elves(&self) -> Result<Vec<ElfInstance>> {
        self.read_elves()
    }

    fn submit(&self, submission: &Submission) -> Result<(Submitted, Readied)> {
        self.submit_run(submission)
    }

    fn run(&self, id: RunId) -> Result<Option<Run>> {
        self.read_run(id)
    }

    fn runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        self.read_runs(query)
    }

    fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.read_job(id)
    }

    fn jobs(&self, query: &JobQuery) -> Result<Vec<Job>> {
        self.read_jobs(query)
    }

    fn deps(&self, run: RunId) -> Result<Vec<Dep>> {
        self.read_deps(run)
    }

    fn cancel_run(&self, run: RunId, reason: &str) -> Result<u64> {
        self.cancel(run, reason)
    }

    fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
        self.claim_jobs(request)
    }

    fn complete(&self, done: &[Completion]) -> Result<(Vec<Outcome>, Readied)> {
        self.complete_jobs(done)
    }

    fn complete_and_claim(
        &self,
        done: &[Completion],
        request: &ClaimRequest<'_>,
    ) -> Result<(Vec<Outcome>, Readied, Vec<Claimed>)> {
        self.complete_then_claim(done, request)
    }

    fn fail(&self, lease: &Lease, report: &FailureReport) -> Result<Failed> {
        self.fail_attempt(lease, report)
    }

    fn release(&self, leases: &[Lease]) -> Result<(Vec<Outcome>, Readied)> {
        self.release_jobs(leases)
    }

    fn reap(&self) -> Result<Reaped> {
        self.reap_expired()
    }

    fn result(&self, job: JobId) -> Result<Option<Value>> {
        self.read_result(job)
    }

    fn results(&self, jobs: &[JobId]) -> Result<Vec<(JobId, Value)>> {
        self.read_results(jobs)
    }

    fn failure(&self, id: FailureId) -> Result<Option<Failure>> {
        self.read_failure(id)
    }

    fn failures(&self, query: &FailureQuery) -> Result<Vec<Failure>> {
        self.read_failures(query)
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        self.read_events(query)
    }

    fn checkpoint(&self) -> Result<()> {
        self.passive_checkpoint()
    }

    fn lead(&self, role: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        self.write("take the leader lease", |tx| {
            let now = now_ms();
            let n = tx.execute(
                "INSERT INTO leader(role, holder, lease_until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(role) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                 WHERE leader.holder = excluded.holder OR leader.lease_until < ?4",
                params![role, holder, now.saturating_add(ttl_ms), now],
            )?;
            Ok(n == 1)
        })
    }

    fn retry(&self, jobs: &[JobId]) -> Result<Retried> {
        self.retry_jobs(jobs)
    }

    fn change_counter(&self) -> Result<i64> {
        self.data_version()
    }
}
