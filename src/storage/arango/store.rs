//! `Store` for ArangoDB: each method one AQL query or one transaction (the
//! submit reserves its ids with one query first).

use serde_json::Value;

use super::ArangoStore;
use crate::model::{
    Claimed, Completion, ElfInstance, Event, Failure, FailureId, FailureReport, InstanceId, Job, JobId, Lease, Outcome,
    Run, RunId, Submission, Submitted, TaskSha, TaskVersion,
};
use crate::storage::{
    ClaimRequest, Dep, EventQuery, Failed, FailureQuery, JobQuery, Limits, Readied, Reaped, Result, Retried, RunQuery,
    Store,
};

impl Store for ArangoStore {
    fn url(&self) -> String {
        self.shown.clone()
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn record_tasks(&self, versions: &[TaskVersion]) -> Result<()> {
        self.record(versions)
    }

    fn task_version(&self, sha: &TaskSha) -> Result<Option<TaskVersion>> {
        self.read_task(sha)
    }

    fn task_versions(&self, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
        self.read_task_versions(elf, task)
    }

    fn register_elf(&self, elf: &ElfInstance) -> Result<()> {
        self.register(elf)
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

    fn lead(&self, role: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        self.take_lead(role, holder, ttl_ms)
    }

    fn retry(&self, jobs: &[JobId]) -> Result<Retried> {
        self.retry_jobs(jobs)
    }

    fn change_counter(&self) -> Result<i64> {
        self.read_counter()
    }
}
