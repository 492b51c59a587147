//! The replay machine behind a flow's context: the history it replays, the
//! commands the current run adds, what it has seen, and what it waits for.
//!
//! Every command takes the next step number `k`. Below the end of the
//! history it must match the recorded command (kind, target, inputs digest)
//! and resolves from what the history recorded; past the end it is new, is
//! recorded with the run's report, and resolves from what the claim said
//! (a child's end, a buffered signal) or from the store's clock.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::lifecycle::{ChildOutcome, FlowReport, NewStep, Resume, Wait};
use crate::model::{
    FailureKind, FailureReport, JobId, JobSpec, Lease, Millis, Mismatch, RunId, Signal, SignalId, Step, StepKind,
    TaskSha,
};
use crate::storage::{FlowEnd, Store};

/// Why a command stops the flow's body: its history says otherwise.
#[derive(Debug)]
pub(crate) struct Diverged;

/// The state of one flow across its runs.
pub(crate) struct Machine {
    pub(crate) job: JobId,
    pub(crate) run: RunId,
    /// The version running.
    pub(crate) sha: TaskSha,
    store: Store,
    /// The committed history.
    pub(crate) recorded: Vec<Step>,
    /// Commands of this run past the history.
    pub(crate) new: Vec<NewStep>,
    /// Outcomes of recorded steps first seen in this run.
    observed: BTreeMap<u32, Value>,
    /// Recorded child steps whose outcome the flow has not recorded yet.
    open: HashMap<u32, ChildOutcome>,
    /// Signals sent and not consumed.
    signals: Vec<Signal>,
    consumed: Vec<(SignalId, u32)>,
    cancel: Vec<JobId>,
    /// The next command's step.
    next: u32,
    /// What the commands polled in the current pass wait for.
    pub(crate) waits: Vec<Wait>,
    /// Why the flow must stop (a failed determinism check).
    pub(crate) failure: Option<Box<FailureReport>>,
    /// The flow's arguments (for failure reports).
    pub(crate) args: Value,
}

/// The digest of a command's inputs.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A command about to be issued.
pub(crate) struct Issue {
    pub(crate) kind: StepKind,
    pub(crate) target: String,
    pub(crate) hash: String,
    pub(crate) location: &'static std::panic::Location<'static>,
    pub(crate) child: Option<JobSpec>,
    pub(crate) due: Option<Millis>,
    pub(crate) detail: Option<Value>,
    pub(crate) outcome: Option<Value>,
}

impl Issue {
    pub(crate) fn new(
        kind: StepKind,
        target: String,
        hash: String,
        at: &'static std::panic::Location<'static>,
    ) -> Self {
        Self { kind, target, hash, location: at, child: None, due: None, detail: None, outcome: None }
    }
}

impl Machine {
    /// A machine replaying `recorded` (empty for a flow's first run).
    pub(crate) fn new(job: JobId, run: RunId, sha: TaskSha, store: Store, recorded: Vec<Step>, args: Value) -> Self {
        Self {
            job,
            run,
            sha,
            store,
            recorded,
            new: Vec::new(),
            observed: BTreeMap::new(),
            open: HashMap::new(),
            signals: Vec::new(),
            consumed: Vec::new(),
            cancel: Vec::new(),
            next: 0,
            waits: Vec::new(),
            failure: None,
            args,
        }
    }

    /// Starts a run: what the claim says about children and signals.
    pub(crate) fn begin(&mut self, resume: &Resume) {
        self.open = resume.open.iter().map(|c| (c.step, c.clone())).collect();
        self.signals.clone_from(&resume.signals);
        self.waits.clear();
    }

    /// The store's time now.
    pub(crate) fn now(&self) -> Millis {
        self.store.now()
    }

    /// Issues a command: checks it against the history, or records it.
    pub(crate) fn issue(&mut self, c: Issue) -> Result<u32, Diverged> {
        if self.failure.is_some() {
            return Err(Diverged);
        }
        let k = self.next;
        self.next += 1;
        let location = format!("{}:{}", c.location.file(), c.location.line());
        if let Some(rec) = self.recorded.get(k as usize) {
            let issued = crate::model::Command {
                kind: c.kind,
                target: c.target,
                hash: c.hash,
                sha: Some(self.sha.clone()),
                location: Some(location),
            };
            if issued.matches(&rec.command()) {
                return Ok(k);
            }
            self.diverge(k, Some(issued));
            return Err(Diverged);
        }
        self.new.push(NewStep {
            step: Step {
                flow: self.job,
                k,
                kind: c.kind,
                target: c.target,
                hash: c.hash,
                child: None,
                due: c.due,
                outcome: c.outcome,
                awaited: false,
                sha: Some(self.sha.clone()),
                location: Some(location),
                detail: c.detail,
                at: self.now(),
            },
            child: c.child,
        });
        Ok(k)
    }

    /// Fails the flow: the command at `k` is not the recorded one.
    pub(crate) fn diverge(&mut self, k: u32, issued: Option<crate::model::Command>) {
        let Some(rec) = self.recorded.get(k as usize) else { return };
        let recorded = rec.command();
        let message = match &issued {
            Some(now) => format!(
                "the flow's code no longer matches its history at command {k}: the history recorded {recorded}, but \
                 this version issued {now} (a flow must issue the same commands in the same order when it replays: \
                 run it with the version that started it, or one whose commands up to here are the same, then \
                 `mycelium retry j{}`)",
                self.job
            ),
            None => format!(
                "the flow's code no longer matches its history: this version ({}) ended after {k} command(s), but \
                 the history recorded {} (command {k} is {recorded}); run it with the version that started it, then \
                 `mycelium retry j{}`",
                self.sha.short(),
                self.recorded.len(),
                self.job
            ),
        };
        let mut report = FailureReport::new(FailureKind::Nondeterminism, message);
        report.retryable = false;
        report.ran_sha = Some(self.sha.clone());
        report.inputs = self.args.clone();
        if let Some((file, line)) = issued.as_ref().and_then(|c| c.file_line()) {
            report.frames.push(crate::model::Frame {
                function: format!("command {k} of the flow as it runs now"),
                file: Some(file.to_owned()),
                line: Some(line),
                column: None,
                of_interest: true,
            });
        }
        report.mismatch = Some(Box::new(Mismatch { step: k, recorded, issued }));
        self.failure = Some(Box::new(report));
    }

    /// Checks, when the body returned, that it issued every recorded command.
    pub(crate) fn finished(&mut self) {
        if self.failure.is_none() && (self.next as usize) < self.recorded.len() {
            self.diverge(self.next, None);
        }
    }

    /// The recorded (or new) step `k`.
    fn step(&self, k: u32) -> Option<&Step> {
        match self.recorded.get(k as usize) {
            Some(s) => Some(s),
            None => self.new.get(k as usize - self.recorded.len()).map(|n| &n.step),
        }
    }

    /// What step `k` saw, if it has seen it.
    pub(crate) fn outcome(&self, k: u32) -> Option<&Value> {
        match self.recorded.get(k as usize) {
            Some(s) => s.outcome.as_ref().or_else(|| self.observed.get(&k)),
            None => self.new.get(k as usize - self.recorded.len()).and_then(|n| n.step.outcome.as_ref()),
        }
    }

    /// Records what step `k` saw (once).
    pub(crate) fn settle(&mut self, k: u32, value: Value) {
        let len = self.recorded.len();
        match self.recorded.get(k as usize) {
            Some(s) if s.outcome.is_none() => {
                self.observed.entry(k).or_insert(value);
            }
            Some(_) => {}
            None => {
                if let Some(n) = self.new.get_mut(k as usize - len)
                    && n.step.outcome.is_none()
                {
                    n.step.outcome = Some(value);
                }
            }
        }
    }

    /// The outcome of the child of step `k`, recording it the first time;
    /// `None` while the child has not ended (or does not exist yet).
    pub(crate) fn child_outcome(&mut self, k: u32) -> Option<Value> {
        if let Some(v) = self.outcome(k) {
            return Some(v.clone());
        }
        let v = self.open.get(&k)?.outcome.clone()?;
        self.settle(k, v.clone());
        Some(v)
    }

    /// Whether the child of step `k` has ended, as far as the claim said
    /// (without recording anything).
    pub(crate) fn child_outcome_peek(&self, k: u32) -> bool {
        self.open.get(&k).is_some_and(|c| c.outcome.is_some())
    }

    /// When the child of step `k` ended, as far as the claim said.
    pub(crate) fn finished_at(&self, k: u32) -> Option<Millis> {
        self.open.get(&k).and_then(|c| c.finished_at)
    }

    /// The child job of step `k`, once it exists.
    pub(crate) fn child_of(&self, k: u32) -> Option<JobId> {
        self.step(k).and_then(|s| s.child)
    }

    /// The due time of step `k`.
    pub(crate) fn due_of(&self, k: u32) -> Option<Millis> {
        self.step(k).and_then(|s| s.due)
    }

    /// Takes the oldest buffered signal named `name` for step `k`.
    pub(crate) fn take_signal(&mut self, name: &str, k: u32) -> Option<Signal> {
        let i = self.signals.iter().position(|s| s.name == name && !self.consumed.iter().any(|(id, _)| *id == s.id))?;
        let s = self.signals[i].clone();
        self.consumed.push((s.id, k));
        Some(s)
    }

    /// Asks for the children of these steps to be cancelled.
    pub(crate) fn cancel(&mut self, children: impl IntoIterator<Item = JobId>) {
        self.cancel.extend(children);
    }

    /// What the commands of this pass wait for, together: any of them.
    pub(crate) fn wait(&self) -> Option<Wait> {
        match self.waits.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                let mut w = Wait::default();
                for x in many {
                    w.children.extend(&x.children);
                    w.due = match (w.due, x.due) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if w.signal.is_none() {
                        w.signal.clone_from(&x.signal);
                    }
                }
                w.children.sort_unstable();
                w.children.dedup();
                Some(w)
            }
        }
    }

    /// The report of this run, ending with `end`.
    pub(crate) fn report(&mut self, lease: Lease, end: FlowEnd) -> FlowReport {
        FlowReport {
            lease,
            sha: self.sha.clone(),
            steps: self.new.clone(),
            observed: self.observed.iter().map(|(k, v)| (*k, v.clone())).collect(),
            consumed: self.consumed.clone(),
            cancel: self.cancel.clone(),
            end,
        }
    }

    /// After the report was committed: what it recorded is history now, with
    /// the children the store created. The machine is ready for the next run.
    pub(crate) fn absorb(&mut self, children: &[(u32, JobId)]) {
        let ids: HashMap<u32, JobId> = children.iter().copied().collect();
        for (k, v) in std::mem::take(&mut self.observed) {
            if let Some(s) = self.recorded.get_mut(k as usize) {
                s.outcome = Some(v);
            }
        }
        for mut n in std::mem::take(&mut self.new) {
            n.step.child = ids.get(&n.step.k).copied();
            self.recorded.push(n.step);
        }
        let consumed = std::mem::take(&mut self.consumed);
        self.signals.retain(|s| !consumed.iter().any(|(id, _)| *id == s.id));
        self.cancel.clear();
        self.waits.clear();
    }

    /// How many commands this run has replayed or issued.
    pub(crate) fn issued(&self) -> u32 {
        self.next
    }
}
