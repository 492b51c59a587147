//! Claiming ready jobs, and an elf's turn: store results, then claim.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::Store;
use super::fail::expire;
use super::outcomes::{ClaimRequest, Completed, Turn, merge};
use super::work::Work;
use crate::model::{Claimed, Completion, JobId, JobState, Lease};
use crate::storage::Result;
use crate::storage::rows::{ClaimScan, ClaimSet, NewEvent};

/// Leases expired by one claim at most (the coordinator reaps the rest).
const EXPIRE_PER_CLAIM: u32 = 1000;

impl Store {
    /// Claims up to `request.max` ready jobs atomically, with a lease each.
    pub fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
        if request.max == 0 {
            return Ok(Vec::new());
        }
        self.write("claim jobs", |w| claim(w, request))
    }

    /// Whether a claim for `request` would find anything to do now: a ready
    /// job of its elf and tasks, a lease run out (a claim expires those
    /// first), or a timer due of one of `flows` (a claim of the flows' turn
    /// fires those). One read, so no writer waits for it: what an idle elf
    /// on a local store asks before it takes the writer for a claim.
    pub fn may_claim(&self, request: &ClaimRequest<'_>, flows: &[String]) -> Result<bool> {
        if request.max == 0 {
            return Ok(false);
        }
        let now = self.now();
        self.read(|r| {
            let scan = ClaimScan { elf: request.elf, tasks: request.tasks, now, max: 1 };
            if !r.claimable(&scan)?.is_empty() || !r.expired(now, 1)?.is_empty() {
                return Ok(true);
            }
            if flows.is_empty() {
                return Ok(false);
            }
            let due = r.due(request.elf, now, super::flow_wake::TIMERS_PER_TURN)?;
            Ok(due.iter().any(|row| flows.contains(&row.task)))
        })
    }

    /// Completes `done`, then claims, in one transaction: the hot path of an
    /// elf that keeps busy.
    pub fn complete_and_claim(&self, done: &[Completion], request: &ClaimRequest<'_>) -> Result<Turn> {
        let texts = self.encode_results(done)?;
        self.write("store results and claim jobs", |w| {
            let Completed { outcomes, mut readied } = super::complete::complete(w, done, &texts)?;
            let claimed = claim(w, request)?;
            merge(&mut readied, w.take_readied());
            Ok(Turn { outcomes, readied, claimed })
        })
    }
}

/// Claims ready jobs (expiring overdue leases first, when there are any).
pub(super) fn claim(w: &mut Work<'_>, req: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
    if req.max == 0 {
        return Ok(Vec::new());
    }
    let now = w.now;
    let overdue = w.tx.expired(now, EXPIRE_PER_CLAIM)?;
    if !overdue.is_empty() {
        // Jobs these make ready are claimable below; their wake-ups are not
        // this elf's to report.
        expire(w, overdue)?;
    }
    let until = now.saturating_add(req.ttl_ms);
    let set = ClaimSet { holder: req.instance, lease_until: until, now };
    let rows = w.tx.claim_ready(&ClaimScan { elf: req.elf, tasks: req.tasks, now, max: req.max }, &set)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let holder = json!(req.instance.0).to_string();
    let mut claimed = Vec::with_capacity(rows.len());
    let mut fed: Vec<JobId> = Vec::new();
    // The virtual time moves to the largest turn claimed: one write per claim.
    let last_turn = rows.iter().map(|r| r.turn).max().unwrap_or(0);
    w.tx.advance_vtime(last_turn)?;
    for row in rows {
        let data = format!(r#"{{"epoch":{},"attempt":{},"holder":{holder}}}"#, row.epoch, row.attempt);
        w.event(NewEvent::job(now, row.run, row.id, JobState::Claimed, Some(data)));
        if row.ndeps > 0 {
            fed.push(row.id);
        }
        claimed.push(Claimed {
            lease: Lease { job: row.id, epoch: row.epoch },
            run: row.run,
            task: row.task,
            args: row.args,
            inputs: Vec::new(),
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            timeout_ms: row.timeout_ms,
            lease_until: until,
        });
    }
    if !fed.is_empty() {
        attach_inputs(w, &fed, &mut claimed)?;
    }
    claimed.sort_by_key(|c| c.lease.job);
    Ok(claimed)
}

/// Gives every claimed job fed by others its producers' results.
fn attach_inputs(w: &mut Work<'_>, fed: &[JobId], claimed: &mut [Claimed]) -> Result<()> {
    let deps = w.tx.producers(fed)?;
    let mut producers_of: BTreeMap<JobId, Vec<JobId>> = BTreeMap::new();
    let mut all: Vec<JobId> = Vec::with_capacity(deps.len());
    for d in deps {
        let list = producers_of.entry(d.consumer).or_default();
        if !list.contains(&d.producer) {
            list.push(d.producer);
            all.push(d.producer);
        }
    }
    let results: HashMap<JobId, Value> = w.tx.results(&all)?.into_iter().map(|r| (r.job, r.value)).collect();
    for c in claimed.iter_mut() {
        if let Some(list) = producers_of.get(&c.lease.job) {
            c.inputs = list.iter().filter_map(|p| results.get(p).map(|v| (*p, v.clone()))).collect();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::lifecycle::ManualClock;
    use crate::model::{InstanceId, JobSpec, RunSpec, Submission};

    /// Asking whether a claim would find work answers as the claim does (a
    /// ready job of the elf's tasks: yes; another elf's or task's: no; none
    /// left: no; a lease run out: yes) and writes nothing.
    #[test]
    fn may_claim_answers_as_a_claim_would_and_writes_nothing() {
        let clock = ManualClock::new(1_000);
        let store = Store::memory_with_clock(Arc::new(clock.clone()));
        let me = InstanceId("me".into());
        let tasks = vec!["t".to_owned()];
        let request = |max| ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max, ttl_ms: 100 };
        let submit = |elf: &str, task: &str| {
            let jobs = vec![JobSpec::new(elf, task, json!([1]))];
            store.submit(&Submission { run: RunSpec::named("r"), jobs }).expect("submitted");
        };
        let may = |max| store.may_claim(&request(max), &[]).expect("a read");
        assert!(!may(1), "an empty store");
        submit("other", "t");
        submit("e", "u");
        assert!(!may(1), "only other elves' and tasks' jobs");
        submit("e", "t");
        let before = store.change_counter().expect("read");
        assert!(may(1), "a ready job of the elf's task");
        assert!(!may(0), "no free slot");
        assert_eq!(store.change_counter().expect("read"), before, "asking wrote something");
        assert_eq!(store.claim(&request(4)).expect("a claim").len(), 1);
        assert!(!may(1), "nothing left to claim");
        clock.advance(101);
        assert!(may(1), "a lease ran out: a claim expires it first");
    }
}
