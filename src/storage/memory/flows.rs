//! Flows' histories and signals in memory: the seam's [`FlowRead`] and
//! [`FlowTx`].

use serde_json::Value;

use super::tables::Undo;
use super::write::MemTx;
use crate::model::{JobId, JobState, Millis, Signal, SignalId, Step};
use crate::storage::flow_seam::{FlowRead, FlowTx, NO_TIMER};
use crate::storage::rows::JobRow;
use crate::storage::{Error, Result};

fn corrupt(what: String) -> Error {
    Error::backend("write the in-memory store", std::io::Error::other(what))
}

fn distinct(ids: &[JobId]) -> Vec<JobId> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl FlowRead for MemTx<'_> {
    fn steps(&mut self, flow: JobId, from: u32) -> Result<Vec<Step>> {
        Ok(self.t.steps.range((flow, from)..=(flow, u32::MAX)).map(|(_, s)| s.clone()).collect())
    }

    fn last_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        Ok(distinct(flows)
            .into_iter()
            .filter_map(|f| self.t.steps.range((f, 0)..=(f, u32::MAX)).next_back().map(|(_, s)| s.clone()))
            .collect())
    }

    fn child_steps(&mut self, children: &[JobId]) -> Result<Vec<Step>> {
        Ok(distinct(children)
            .into_iter()
            .filter_map(|c| self.t.step_of_child.get(&c).and_then(|key| self.t.steps.get(key)).cloned())
            .collect())
    }

    fn open_steps(&mut self, flows: &[JobId]) -> Result<Vec<Step>> {
        Ok(distinct(flows)
            .into_iter()
            .flat_map(|f| self.t.steps.range((f, 0)..=(f, u32::MAX)).map(|(_, s)| s))
            .filter(|s| s.child.is_some() && s.outcome.is_none())
            .cloned()
            .collect())
    }

    fn signals(&mut self, flows: &[JobId], open: bool) -> Result<Vec<Signal>> {
        Ok(self
            .t
            .signals
            .values()
            .filter(|s| flows.contains(&s.flow) && (!open || s.consumed_by.is_none()))
            .cloned()
            .collect())
    }

    fn due(&mut self, elf: &str, now: Millis, limit: u32) -> Result<Vec<JobRow>> {
        let from = (elf.to_owned(), Millis::MIN, JobId(i64::MIN));
        let to = (elf.to_owned(), now, JobId(i64::MAX));
        Ok(self
            .t
            .waiting
            .range(from..=to)
            .filter_map(|(_, _, id)| self.t.jobs.get(id))
            .filter(|j| j.row.state == JobState::Waiting)
            .take(limit as usize)
            .map(|j| j.row.clone())
            .collect())
    }

    fn next_due(&mut self, elf: &str) -> Result<Option<Millis>> {
        let from = (elf.to_owned(), Millis::MIN, JobId(i64::MIN));
        let to = (elf.to_owned(), NO_TIMER - 1, JobId(i64::MAX));
        Ok(self.t.waiting.range(from..=to).next().map(|(_, at, _)| *at))
    }

    fn children(&mut self, parents: &[JobId]) -> Result<Vec<JobRow>> {
        let mut out: Vec<JobRow> = distinct(parents)
            .into_iter()
            .flat_map(|p| self.t.by_parent.range((p, JobId(i64::MIN))..=(p, JobId(i64::MAX))).map(|(_, c)| *c))
            .filter_map(|c| self.t.jobs.get(&c).map(|j| j.row.clone()))
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }
}

impl FlowTx for MemTx<'_> {
    fn insert_steps(&mut self, steps: &[Step]) -> Result<()> {
        for s in steps {
            let key = (s.flow, s.k);
            if self.t.steps.contains_key(&key) {
                return Err(corrupt(format!("step {} of flow {} exists already", s.k, s.flow)));
            }
            self.t.set_step(key, Some(s.clone()));
            self.journal(Undo::Step(key, None));
        }
        Ok(())
    }

    fn observe_steps(&mut self, outcomes: &[(JobId, u32, String)]) -> Result<()> {
        for (flow, k, outcome) in outcomes {
            let value: Value = serde_json::from_str(outcome)
                .map_err(|e| corrupt(format!("outcome of step {k} of flow {flow}: {e}")))?;
            let key = (*flow, *k);
            let Some(old) = self.t.steps.get(&key).cloned() else { continue };
            let mut new = old.clone();
            new.outcome = Some(value);
            new.awaited = false;
            self.t.set_step(key, Some(new));
            self.journal(Undo::Step(key, Some(Box::new(old))));
        }
        Ok(())
    }

    fn await_steps(&mut self, steps: &[(JobId, u32, bool)]) -> Result<()> {
        for (flow, k, awaited) in steps {
            let key = (*flow, *k);
            let Some(old) = self.t.steps.get(&key).cloned() else { continue };
            let mut new = old.clone();
            new.awaited = *awaited;
            self.t.set_step(key, Some(new));
            self.journal(Undo::Step(key, Some(Box::new(old))));
        }
        Ok(())
    }

    fn insert_signal(&mut self, signal: &Signal) -> Result<SignalId> {
        self.journal(Undo::NextSignal(self.t.next_signal));
        self.t.next_signal += 1;
        let id = self.t.next_signal;
        let mut s = signal.clone();
        s.id = id;
        self.t.signals.insert(id, s);
        self.journal(Undo::Signal(id, None));
        Ok(id)
    }

    fn consume_signals(&mut self, consumed: &[(SignalId, u32)]) -> Result<()> {
        for (id, k) in consumed {
            let Some(old) = self.t.signals.get(id).cloned() else { continue };
            let mut new = old.clone();
            new.consumed_by = Some(*k);
            self.t.signals.insert(*id, new);
            self.journal(Undo::Signal(*id, Some(Box::new(old))));
        }
        Ok(())
    }
}
