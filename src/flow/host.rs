//! The flows an elf serves, on the elf's side: starting a claimed flow
//! (resumed from memory when the elf still holds it as it left it, else
//! replayed from its history), the reports waiting for the next turn, and
//! the flows kept in memory between runs.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use super::definition::Definition;
use super::run::{self, Live, Ran};
use crate::elf::runner::Done;
use crate::lifecycle::{FlowCommitted, FlowReport, Resume};
use crate::model::{Claimed, FailureKind, JobId, JobState, Lease, Millis, Outcome, TaskSha};
use crate::storage::Store;

/// Flows kept in memory at most; the oldest beyond are dropped (and
/// replayed when they next run).
const LIVE_FLOWS: usize = 10_000;

/// What a finished job sends to the elf's loop.
pub(crate) type Finished = (Lease, TaskSha, Done);

/// The flows of one elf instance.
#[derive(Default)]
pub(crate) struct Host {
    /// The flows served, by name.
    defs: HashMap<&'static str, &'static Definition>,
    /// Reports waiting for the next turn.
    reports: Vec<FlowReport>,
    /// Suspended flows whose report is on its way to the store.
    pending: HashMap<JobId, Live>,
    /// Suspended flows, committed, by job.
    live: HashMap<JobId, Live>,
    order: VecDeque<JobId>,
    /// The earliest timer of this elf's waiting flows.
    next_timer: Option<Millis>,
    /// Whether to keep suspended flows in memory (else every run replays).
    keep: bool,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("flows", &self.defs.keys().collect::<Vec<_>>())
            .field("reports", &self.reports.len())
            .field("live", &self.live.len())
            .finish()
    }
}

impl Host {
    /// A host for `defs`; `keep` keeps suspended flows in memory.
    pub(crate) fn new(defs: &[&'static Definition], keep: bool) -> Self {
        Self { defs: defs.iter().map(|d| (d.info.name, *d)).collect(), keep, ..Self::default() }
    }

    /// Whether the elf serves any flow.
    pub(crate) fn serves_any(&self) -> bool {
        !self.defs.is_empty()
    }

    /// The flow named `task`, if served.
    pub(crate) fn find(&self, task: &str) -> Option<&'static Definition> {
        self.defs.get(task).copied()
    }

    /// Starts the claimed flow `def` on the runtime; its run reports on `done`.
    pub(crate) fn start(
        &mut self,
        def: &'static Definition,
        claimed: Claimed,
        resume: Resume,
        store: Store,
        done: mpsc::UnboundedSender<Finished>,
    ) -> tokio::task::JoinHandle<()> {
        let job = claimed.lease.job;
        let sha = def.info.sha();
        let kept =
            self.live.remove(&job).filter(|l| l.epoch + 1 == claimed.lease.epoch && l.len() == resume.len as usize);
        tokio::spawn(async move {
            let lease = claimed.lease;
            let live = match kept {
                Some(live) => live,
                None if resume.len == 0 => Live::replay(def, &claimed, sha.clone(), store, Vec::new()),
                None => match store.call(move |s| s.flow_steps(job, 0)).await {
                    Ok(steps) => {
                        tracing::debug!(%job, steps = steps.len(), "replaying a flow from its history");
                        Live::replay(def, &claimed, sha.clone(), store, steps)
                    }
                    Err(e) => {
                        let report = crate::elf::runner::failed(
                            FailureKind::Error,
                            format!("cannot read the flow's history: {e}"),
                            true,
                            &claimed.args,
                            &sha,
                        );
                        let _ = done.send((lease, sha, report));
                        return;
                    }
                },
            };
            let ran = run::run(live, lease, &resume);
            let _ = done.send((lease, sha, Done::Flow(Box::new(ran))));
        })
    }

    /// Files a flow's run: its report goes with the next turn.
    pub(crate) fn settled(&mut self, ran: Ran) {
        let job = ran.report.lease.job;
        if let Some(live) = ran.live
            && self.keep
        {
            self.pending.insert(job, live);
        }
        self.reports.push(ran.report);
    }

    /// Whether reports wait for a turn.
    pub(crate) fn has_reports(&self) -> bool {
        !self.reports.is_empty()
    }

    /// The reports for this turn.
    pub(crate) fn take_reports(&mut self) -> Vec<FlowReport> {
        std::mem::take(&mut self.reports)
    }

    /// After a turn: flows whose suspension was committed stay in memory,
    /// their new steps now history.
    pub(crate) fn committed(&mut self, committed: &[FlowCommitted]) {
        for c in committed {
            let Some(live) = self.pending.remove(&c.job) else { continue };
            let suspended = matches!(c.state, Some(JobState::Waiting | JobState::Ready));
            if c.outcome != Outcome::Ok || !suspended {
                continue;
            }
            super::context::lock(&live.machine).absorb(&c.children);
            if self.live.insert(c.job, live).is_none() {
                self.order.push_back(c.job);
            }
        }
        while self.live.len() > LIVE_FLOWS {
            let Some(old) = self.order.pop_front() else { break };
            self.live.remove(&old);
        }
        if self.order.len() > 2 * LIVE_FLOWS {
            self.order.retain(|j| self.live.contains_key(j));
        }
    }

    /// Records the earliest timer the store reported.
    pub(crate) fn set_next_timer(&mut self, at: Option<Millis>) {
        self.next_timer = at;
    }

    /// Whether a timer of this elf's flows is due at `now`.
    pub(crate) fn timer_due(&self, now: Millis) -> bool {
        self.next_timer.is_some_and(|t| t <= now)
    }

    /// How long until the next timer, if any.
    pub(crate) fn until_timer(&self, now: Millis) -> Option<Duration> {
        self.next_timer.map(|t| Duration::from_millis(u64::try_from(t.saturating_sub(now)).unwrap_or(0)))
    }
}
