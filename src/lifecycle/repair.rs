//! Self-repair: pending jobs whose recorded count of unmet producers
//! disagrees with the graph get the count the graph gives, and those with
//! none left become ready, in one transaction per batch.
//!
//! The coordinator's audit finds the candidates from a snapshot; the repair
//! re-reads each job and its producers inside its own transaction, so it
//! never races a legitimate completion: if the last producer's completion
//! committed first, the job is no longer pending and is left alone; if the
//! repair commits first, the completion finds the job ready (not pending)
//! and counts nothing twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use super::Store;
use super::outcomes::Readied;
use super::work::Work;
use crate::model::{EventKind, JobId, JobState};
use crate::storage::Result;
use crate::storage::rows::NewEvent;

/// What a repair changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// Pending jobs whose producers had all succeeded: now ready.
    pub stuck: Vec<JobId>,
    /// Pending jobs whose unmet count was wrong but that still wait: their
    /// count was corrected.
    pub miscounted: Vec<JobId>,
    /// Jobs made ready, per elf (to ring the doorbell).
    pub readied: Readied,
}

impl Repaired {
    /// How many jobs were repaired.
    pub fn len(&self) -> usize {
        self.stuck.len() + self.miscounted.len()
    }

    /// Whether nothing was repaired.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Repairs those of `jobs` that are pending with a wrong count of unmet
    /// producers (recounted from their producers' states, inside the
    /// transaction): each gets the right count and a `job_repaired` event;
    /// those with none left become ready (with their `job_state` event).
    /// Jobs that are not pending, or whose count is right, are left alone.
    pub fn repair(&self, jobs: &[JobId]) -> Result<Repaired> {
        if jobs.is_empty() {
            return Ok(Repaired::default());
        }
        self.write("repair jobs", |w| repair(w, jobs))
    }
}

fn repair(w: &mut Work<'_>, jobs: &[JobId]) -> Result<Repaired> {
    let now = w.now;
    let mut rows: Vec<_> = w.tx.job_rows(jobs)?.into_iter().filter(|r| r.state == JobState::Pending).collect();
    if rows.is_empty() {
        return Ok(Repaired::default());
    }
    let ids: Vec<JobId> = rows.iter().map(|r| r.id).collect();
    let deps = w.tx.producers(&ids)?;
    let mut producers: BTreeMap<JobId, HashSet<JobId>> = BTreeMap::new();
    for d in &deps {
        producers.entry(d.consumer).or_default().insert(d.producer);
    }
    let all: Vec<JobId> = producers.values().flatten().copied().collect::<HashSet<_>>().into_iter().collect();
    // A producer that cannot be read (deleted) counts as unmet: a repair
    // never makes a job ready on missing evidence.
    let states: HashMap<JobId, JobState> = w.tx.job_rows(&all)?.into_iter().map(|r| (r.id, r.state)).collect();
    let mut out = Repaired::default();
    let mut changed = Vec::new();
    for row in &mut rows {
        let unmet = producers
            .get(&row.id)
            .map_or(0, |ps| ps.iter().filter(|p| states.get(p) != Some(&JobState::Succeeded)).count() as u32);
        // A count of zero on a pending job is wrong too: it should be ready.
        if unmet == row.unmet && unmet > 0 {
            continue;
        }
        let was = row.unmet;
        row.unmet = unmet;
        row.updated_at = now;
        let problem = if unmet == 0 { "stuck" } else { "miscounted" };
        let data = json!({ "problem": problem, "unmet_was": was, "unmet": unmet }).to_string();
        if unmet == 0 {
            row.state = JobState::Ready;
            out.stuck.push(row.id);
            w.ready(&row.elf);
        } else {
            out.miscounted.push(row.id);
        }
        w.event(NewEvent {
            at: now,
            kind: EventKind::JobRepaired,
            run: Some(row.run),
            job: Some(row.id),
            state: Some(row.state),
            data: Some(data.clone()),
        });
        if unmet == 0 {
            w.event(NewEvent::job(now, row.run, row.id, JobState::Ready, Some(data)));
        }
        changed.push(row.clone());
    }
    if !changed.is_empty() {
        w.tx.update_jobs(&changed)?;
    }
    out.readied = w.take_readied();
    Ok(out)
}

#[cfg(test)]
impl Store {
    /// Writes `rows` as they are, bypassing every rule: the corruption a
    /// repair must undo (tests only).
    pub(crate) fn corrupt_rows(&self, rows: &[crate::storage::rows::JobRow]) -> Result<()> {
        self.inner.backend.write("corrupt jobs", &mut |tx| tx.update_jobs(rows))
    }

    /// A job's row (tests only).
    pub(crate) fn job_row(&self, id: JobId) -> Result<Option<crate::storage::rows::JobRow>> {
        self.read(|r| Ok(r.job_rows(&[id])?.pop()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{JobSpec, RunSpec, Submission};
    use crate::storage::EventQuery;
    use crate::storage::rows::JobRow;

    /// Writes `row` as it is, bypassing every rule: the corruption a
    /// repair must undo.
    fn corrupt(s: &Store, row: JobRow) {
        s.corrupt_rows(std::slice::from_ref(&row)).expect("corrupt");
    }

    fn row(s: &Store, id: JobId) -> JobRow {
        s.job_row(id).expect("read").expect("row")
    }

    #[test]
    fn a_stuck_job_becomes_ready_and_a_miscount_is_corrected() {
        let s = Store::memory();
        // a, b → c; a → d.
        let a = JobSpec::new("e", "t", json!([1])).with_key("a");
        let b = JobSpec::new("e", "t", json!([2])).with_key("b");
        let c = JobSpec::new("e", "t", json!([{"$output": "a"}, {"$output": "b"}])).with_key("c");
        let d = JobSpec::new("e", "t", json!([{"$output": "a"}])).with_key("d");
        let sub = s.submit(&Submission { run: RunSpec::named("r"), jobs: vec![a, b, c, d] }).expect("submit");
        let [_, _, c, d] = sub.jobs[..] else { panic!("four jobs") };
        // Nothing is wrong yet: nothing is repaired.
        assert!(s.repair(&[c, d]).expect("repair").is_empty());
        // c claims 5 unmet producers (it has 2); d claims 0 and stays
        // pending (it has 1): c is miscounted, d would be ready wrongly, so
        // d is recounted to 1, and neither becomes ready.
        let mut rc = row(&s, c);
        rc.unmet = 5;
        corrupt(&s, rc);
        let mut rd = row(&s, d);
        rd.unmet = 0;
        corrupt(&s, rd);
        let fixed = s.repair(&[c, d]).expect("repair");
        assert_eq!(fixed.miscounted, vec![c, d]);
        assert!(fixed.stuck.is_empty());
        assert_eq!((row(&s, c).unmet, row(&s, d).unmet), (2, 1));
        let events = s.events(&EventQuery { job: Some(c), limit: 100, ..EventQuery::default() }).expect("events");
        let repaired: Vec<_> = events.iter().filter(|e| e.kind == EventKind::JobRepaired).collect();
        assert_eq!(repaired.len(), 1);
        assert_eq!(repaired[0].data["problem"], "miscounted");
        assert_eq!(repaired[0].data["unmet_was"], 5);
    }

    #[test]
    fn a_job_whose_producers_succeeded_is_made_ready_once() {
        let s = Store::memory();
        let a = JobSpec::new("e", "t", json!([1])).with_key("a");
        let c = JobSpec::new("e", "t", json!([{"$output": "a"}])).with_key("c");
        let sub = s.submit(&Submission { run: RunSpec::named("r"), jobs: vec![a, c] }).expect("submit");
        let (a, c) = (sub.jobs[0], sub.jobs[1]);
        // a succeeded but c's count was never lowered (as a lost write would
        // leave it): stuck.
        let mut ra = row(&s, a);
        ra.state = JobState::Succeeded;
        corrupt(&s, ra);
        let fixed = s.repair(&[c]).expect("repair");
        assert_eq!(fixed.stuck, vec![c]);
        assert_eq!(fixed.readied.get("e"), Some(&1));
        let rc = row(&s, c);
        assert_eq!((rc.state, rc.unmet), (JobState::Ready, 0));
        // A job with no producer left pending with a count of zero is stuck
        // too.
        let lone = s.submit(&Submission { run: RunSpec::named("r2"), jobs: vec![JobSpec::new("e", "t", json!([3]))] });
        let lone = lone.expect("submit").jobs[0];
        let mut rl = row(&s, lone);
        rl.state = JobState::Pending;
        corrupt(&s, rl);
        assert_eq!(s.repair(&[lone]).expect("repair").stuck, vec![lone]);
        assert_eq!(row(&s, lone).state, JobState::Ready);
        // A second repair (a repeat, or one racing a completion that already
        // made it ready) changes nothing.
        assert!(s.repair(&[c]).expect("repair").is_empty());
        let events = s.events(&EventQuery { job: Some(c), limit: 100, ..EventQuery::default() }).expect("events");
        let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.state)).collect();
        assert!(kinds.contains(&(EventKind::JobRepaired, Some(JobState::Ready))), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == (EventKind::JobState, Some(JobState::Ready))).count(), 1);
    }
}
