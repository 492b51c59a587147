//! The job lifecycle: the claim (one AQL query) and the writes that the
//! JavaScript transactions carry (complete, fail, release, heartbeat, reap,
//! cancel, elves, leadership).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ArangoStore, aql, docs};
use crate::model::{
    Claimed, Completion, ElfInstance, FailureId, FailureReport, InstanceId, JobId, Lease, Outcome, RunId, TaskVersion,
};
use crate::storage::validate;
use crate::storage::{ClaimRequest, Error, Failed, Readied, Reaped, Result, Retried};

/// One claimed job as the claim query returns it.
#[derive(Deserialize)]
struct Row {
    job: f64,
    epoch: f64,
    run: f64,
    task: String,
    args: Value,
    attempt: f64,
    max_attempts: f64,
    timeout_ms: Option<f64>,
    lease_until: f64,
    inputs: Vec<(f64, Value)>,
}

#[derive(Deserialize)]
struct ClaimAnswer {
    overdue: bool,
    claimed: Vec<Row>,
}

#[derive(Deserialize)]
struct Outcomes {
    outcomes: Vec<Outcome>,
    readied: Readied,
}

#[derive(Deserialize)]
struct FailAnswer {
    outcome: Outcome,
    failure: Option<f64>,
    retry_at: Option<f64>,
    readied: Readied,
}

#[derive(Deserialize)]
struct ReapAnswer {
    expired: Vec<f64>,
    failed: Vec<f64>,
    lost_elves: Vec<String>,
    readied: Readied,
}

#[derive(Deserialize)]
struct RetryAnswer {
    jobs: Vec<f64>,
    readied: Readied,
    reopened: Vec<f64>,
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::backend(format!("decode the answer to {what}"), e))
}

fn int(v: f64) -> i64 {
    v as i64
}

impl ArangoStore {
    pub(super) fn claim_jobs(&self, req: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
        if req.max == 0 {
            return Ok(Vec::new());
        }
        let query = aql::claim(req.instance, req.elf, req.tasks, req.max, req.ttl_ms);
        let mut answer: ClaimAnswer = decode("a claim", self.query_one("claim jobs", &query)?)?;
        // Expired leases go back to ready (or fail) first, as on SQLite, so
        // that a crashed holder's jobs are claimable by the claim path itself.
        if answer.overdue {
            self.reap_expired()?;
            let room = req.max.saturating_sub(u32::try_from(answer.claimed.len()).unwrap_or(u32::MAX));
            if room > 0 {
                let again = aql::claim(req.instance, req.elf, req.tasks, room, req.ttl_ms);
                let more: ClaimAnswer = decode("a claim", self.query_one("claim jobs", &again)?)?;
                answer.claimed.extend(more.claimed);
            }
        }
        answer.claimed.sort_by(|a, b| a.job.total_cmp(&b.job));
        answer
            .claimed
            .into_iter()
            .map(|r| {
                let inputs = r
                    .inputs
                    .into_iter()
                    .map(|(job, value)| Ok((JobId(int(job)), docs::payload("result", value)?)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Claimed {
                    lease: Lease { job: JobId(int(r.job)), epoch: int(r.epoch) },
                    run: RunId(int(r.run)),
                    task: r.task,
                    args: docs::payload("arguments", r.args)?,
                    inputs,
                    attempt: r.attempt as u32,
                    max_attempts: r.max_attempts as u32,
                    timeout_ms: r.timeout_ms.map(|t| t.max(0.0) as u64),
                    lease_until: int(r.lease_until),
                })
            })
            .collect()
    }

    pub(super) fn complete_jobs(&self, done: &[Completion]) -> Result<(Vec<Outcome>, Readied)> {
        if done.is_empty() {
            return Ok((Vec::new(), Readied::new()));
        }
        let mut items = Vec::with_capacity(done.len());
        for c in done {
            let text = validate::result_text(c, self.limits.max_payload)?;
            items.push(json!({ "job": c.lease.job.0, "epoch": c.lease.epoch, "ran_sha": c.ran_sha, "value": text }));
        }
        let answer = self.transaction("store results", "complete", json!({ "done": items }))?;
        let answer: Outcomes = decode("a completion", answer)?;
        Ok((answer.outcomes, answer.readied))
    }

    pub(super) fn fail_attempt(&self, lease: &Lease, report: &FailureReport) -> Result<Failed> {
        let params = json!({ "lease": lease, "report": report });
        let answer: FailAnswer = decode("a failure", self.transaction("record a failure", "fail", params)?)?;
        Ok(Failed {
            outcome: answer.outcome,
            failure: answer.failure.map(|f| FailureId(int(f))),
            retry_at: answer.retry_at.map(int),
            readied: answer.readied,
        })
    }

    pub(super) fn release_jobs(&self, leases: &[Lease]) -> Result<(Vec<Outcome>, Readied)> {
        if leases.is_empty() {
            return Ok((Vec::new(), Readied::new()));
        }
        let answer = self.transaction("release jobs", "release", json!({ "leases": leases }))?;
        let answer: Outcomes = decode("a release", answer)?;
        Ok((answer.outcomes, answer.readied))
    }

    pub(super) fn renew(&self, instance: &InstanceId, held: &[Lease], ttl_ms: i64) -> Result<Vec<Outcome>> {
        let params = json!({ "instance": instance, "held": held, "ttl": ttl_ms.max(0) });
        decode("a heartbeat", self.transaction("heartbeat", "heartbeat", params)?)
    }

    pub(super) fn reap_expired(&self) -> Result<Reaped> {
        let answer: ReapAnswer = decode("a reap", self.transaction("reap expired leases", "reap", json!({}))?)?;
        Ok(Reaped {
            expired: answer.expired.into_iter().map(|j| JobId(int(j))).collect(),
            failed: answer.failed.into_iter().map(|j| JobId(int(j))).collect(),
            lost_elves: answer.lost_elves.into_iter().map(InstanceId).collect(),
            readied: answer.readied,
        })
    }

    pub(super) fn gone(&self, instance: &InstanceId, lost: bool) -> Result<Readied> {
        let params = json!({ "instance": instance, "lost": lost });
        decode("an elf's end", self.transaction("mark an elf gone", "elf_gone", params)?)
    }

    pub(super) fn cancel(&self, run: RunId, reason: &str) -> Result<u64> {
        let answer = self.transaction("cancel a run", "cancel_run", json!({ "run": run.0, "reason": reason }))?;
        if answer.get("unknown_run").is_some() {
            return Err(Error::UnknownRun(run));
        }
        Ok(answer.get("cancelled").and_then(Value::as_f64).map_or(0, |n| n as u64))
    }

    pub(super) fn record(&self, versions: &[TaskVersion]) -> Result<()> {
        validate::task_versions(versions)?;
        if versions.is_empty() {
            return Ok(());
        }
        self.transaction("record task versions", "record_tasks", json!({ "versions": versions }))?;
        Ok(())
    }

    pub(super) fn register(&self, elf: &ElfInstance) -> Result<()> {
        self.transaction("register an elf", "register_elf", json!({ "elf": elf }))?;
        Ok(())
    }

    pub(super) fn retry_jobs(&self, jobs: &[JobId]) -> Result<Retried> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
        let answer = self.transaction("retry jobs", "retry", json!({ "jobs": ids }))?;
        if let Some(id) = answer.get("unknown_job").and_then(Value::as_f64) {
            return Err(Error::UnknownJob(JobId(int(id))));
        }
        let answer: RetryAnswer = decode("a retry", answer)?;
        Ok(Retried {
            jobs: answer.jobs.into_iter().map(|j| JobId(int(j))).collect(),
            readied: answer.readied,
            reopened: answer.reopened.into_iter().map(|r| RunId(int(r))).collect(),
        })
    }

    pub(super) fn take_lead(&self, role: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let params = json!({ "role": role, "holder": holder, "ttl": ttl_ms.max(0) });
        decode("a leadership claim", self.transaction("take the leader lease", "lead", params)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_answers_decode_with_doubles() {
        let answer = json!({
            "overdue": false,
            "claimed": [{
                "job": 5.0, "epoch": 2.0, "run": 1, "task": "t", "args": "[{\"$output\":4}]", "attempt": 1,
                "max_attempts": 3.0, "timeout_ms": null, "lease_until": 1.7e12, "inputs": [[4, "{\"v\":1}"]]
            }]
        });
        let a: ClaimAnswer = decode("a claim", answer).expect("decodes");
        assert!(!a.overdue);
        let r = &a.claimed[0];
        assert_eq!((int(r.job), int(r.epoch), r.max_attempts as u32), (5, 2, 3));
        assert_eq!(docs::payload("result", r.inputs[0].1.clone()).expect("json"), json!({"v": 1}));
    }

    #[test]
    fn outcomes_decode_from_the_transactions_words() {
        let a: Outcomes =
            decode("x", json!({ "outcomes": ["ok", "lease_lost", "cancelled"], "readied": { "e": 2 } })).expect("ok");
        assert_eq!(a.outcomes, vec![Outcome::Ok, Outcome::LeaseLost, Outcome::Cancelled]);
        assert_eq!(a.readied.get("e"), Some(&2));
        let f: FailAnswer =
            decode("x", json!({ "outcome": "ok", "failure": 3, "retry_at": 1.7e12, "readied": {} })).expect("ok");
        assert_eq!((f.failure, f.retry_at.map(int)), (Some(3.0), Some(1_700_000_000_000)));
    }
}
