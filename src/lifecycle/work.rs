//! One write transaction's bookkeeping: its time, the events it appends, the
//! runs whose jobs it made final, the jobs it made ready.

use std::collections::BTreeMap;

use serde_json::json;

use super::outcomes::Readied;
use crate::model::{EventKind, JobId, Millis, RunId, RunState};
use crate::storage::Result;
use crate::storage::rows::{JobRow, NewEvent};
use crate::storage::seam::Tx;

/// A write transaction in progress.
pub(crate) struct Work<'t> {
    /// The backend's transaction.
    pub(crate) tx: &'t mut dyn Tx,
    /// The transaction's time: every change it makes is stamped with it.
    pub(crate) now: Millis,
    /// Events to append.
    events: Vec<NewEvent>,
    /// Jobs made final per run: (closed, of which failed).
    closed: BTreeMap<RunId, (u64, u64)>,
    /// Jobs made ready per elf.
    pub(crate) readied: Readied,
    /// Flows' children made final, `(child, parent flow)`: their flows may
    /// wake.
    finished_children: Vec<(JobId, JobId)>,
}

impl<'t> Work<'t> {
    pub(crate) fn new(tx: &'t mut dyn Tx, now: Millis) -> Self {
        Self {
            tx,
            now,
            events: Vec::new(),
            closed: BTreeMap::new(),
            readied: Readied::new(),
            finished_children: Vec::new(),
        }
    }

    /// Logs an event, appended when the transaction's work is done.
    pub(crate) fn event(&mut self, e: NewEvent) {
        self.events.push(e);
    }

    /// Counts a job of `run` made final (`failed` when it did not succeed).
    pub(crate) fn closed(&mut self, run: RunId, failed: bool) {
        let c = self.closed.entry(run).or_default();
        c.0 += 1;
        c.1 += u64::from(failed);
    }

    /// Counts `row`, just made final, against its run (`failed` when it did
    /// not succeed); a flow's child may wake its flow.
    pub(crate) fn closed_job(&mut self, row: &JobRow, failed: bool) {
        self.closed(row.run, failed);
        if let Some(parent) = row.parent {
            self.finished_children.push((row.id, parent));
        }
    }

    /// Takes the flows' children made final so far.
    pub(crate) fn take_finished_children(&mut self) -> Vec<(JobId, JobId)> {
        std::mem::take(&mut self.finished_children)
    }

    /// Counts a job of `elf` made ready.
    pub(crate) fn ready(&mut self, elf: &str) {
        match self.readied.get_mut(elf) {
            Some(n) => *n += 1,
            None => {
                self.readied.insert(elf.to_owned(), 1);
            }
        }
    }

    /// Takes the jobs made ready so far (for an operation that reports them
    /// apart from the rest of the transaction).
    pub(crate) fn take_readied(&mut self) -> Readied {
        std::mem::take(&mut self.readied)
    }

    /// Ends the transaction's work: wakes the flows whose awaited children
    /// ended, counts closed jobs against their runs, ends every run whose
    /// last open job this was, appends the events.
    pub(crate) fn finish(&mut self) -> Result<()> {
        super::flow_wake::wake_parents(self)?;
        let closed = std::mem::take(&mut self.closed);
        for (run, (n, failed)) in closed {
            let Some(mut row) = self.tx.run(run)? else { continue };
            let r = &mut row.run;
            r.open = r.open.saturating_sub(n);
            r.failed += failed;
            // An open run ends when its driver seals it, not before.
            if r.open == 0 && r.state == RunState::Running && r.sealed {
                let end = if r.failed > 0 { RunState::Failed } else { RunState::Succeeded };
                self.end_run(&mut row.run, end, None);
            }
            self.tx.update_run(&row.run)?;
        }
        let events = std::mem::take(&mut self.events);
        if !events.is_empty() {
            self.tx.append(&events)?;
        }
        Ok(())
    }

    /// Ends `run` in `state` (the caller writes the run).
    pub(crate) fn end_run(&mut self, run: &mut crate::model::Run, state: RunState, reason: Option<&str>) {
        run.state = state;
        run.finished_at = Some(self.now);
        let data = json!({ "state": state.as_str(), "reason": reason }).to_string();
        self.event(NewEvent::run(self.now, EventKind::RunFinished, run.id, data));
    }
}
