//! Running a claimed flow until it suspends, completes or fails: the flow's
//! future is polled (never woken: every command resolves from the machine
//! or registers what it waits for), panics are caught, and the run ends in
//! a report for the elf's next turn.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use serde_json::Value;

use super::context::{Flow, lock};
use super::definition::Definition;
use super::machine::{Diverged, Machine};
use crate::elf::runner::{Caught, Done, caught, done_of};
use crate::lifecycle::{FlowEnd, FlowReport, Resume};
use crate::model::{Claimed, FailureKind, FailureReport, Lease, Step, TaskSha};
use crate::storage::Store;
use crate::task::TaskError;

/// The future of a flow's body.
pub type FlowFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// A flow kept in memory between runs: its machine and its suspended body.
pub(crate) struct Live {
    pub(crate) machine: Arc<Mutex<Machine>>,
    body: FlowFuture,
    /// The flow's description (its crate names its frames).
    info: &'static crate::task::TaskInfo,
    /// The epoch of the claim it last ran under.
    pub(crate) epoch: i64,
}

impl Live {
    /// A flow about to replay `recorded` from its start.
    pub(crate) fn replay(
        def: &'static Definition,
        claimed: &Claimed,
        sha: TaskSha,
        store: Store,
        recorded: Vec<Step>,
    ) -> Self {
        let machine = Arc::new(Mutex::new(Machine::new(
            claimed.lease.job,
            claimed.run,
            sha,
            store,
            recorded,
            claimed.args.clone(),
        )));
        let body = (def.body)(Flow::new(machine.clone()), claimed.args.clone());
        Self { machine, body, info: def.info, epoch: claimed.lease.epoch }
    }

    /// How many steps its history holds.
    pub(crate) fn len(&self) -> usize {
        lock(&self.machine).recorded.len()
    }
}

/// What a flow's run came to: the report to commit, and the flow itself
/// when it suspended (to resume without a replay).
pub struct Ran {
    pub(crate) report: FlowReport,
    pub(crate) live: Option<Live>,
    /// Commands replayed or issued in this run.
    pub(crate) commands: u32,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ran").field("report", &self.report).field("live", &self.live.is_some()).finish()
    }
}

/// How many times the body is polled when it waits for something that is
/// not a command (a future that wakes itself at once, such as a yield).
const SPURIOUS_POLLS: usize = 3;

/// Runs `live` (for the claim `lease`, with what `resume` says) until it
/// suspends, completes or fails.
pub(crate) fn run(mut live: Live, lease: Lease, resume: &Resume) -> Ran {
    lock(&live.machine).begin(resume);
    live.epoch = lease.epoch;
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut end = None;
    for _ in 0..SPURIOUS_POLLS {
        lock(&live.machine).waits.clear();
        let polled = crate::elf::panic::catch(|| live.body.as_mut().poll(&mut cx));
        let mut m = lock(&live.machine);
        if let Some(failure) = m.failure.take() {
            end = Some(FlowEnd::Fail(failure));
            break;
        }
        match polled {
            Ok(Poll::Ready(result)) => {
                m.finished();
                if let Some(failure) = m.failure.take() {
                    end = Some(FlowEnd::Fail(failure));
                    break;
                }
                let sha = m.sha.clone();
                end = Some(match done_of(live.info, Ok(result), &m.args, &sha) {
                    Done::Value(v) => FlowEnd::Complete(v),
                    Done::Failed(report) => FlowEnd::Fail(report),
                    Done::Flow(_) => FlowEnd::Fail(Box::new(FailureReport::new(FailureKind::Error, "unreachable"))),
                });
                break;
            }
            Ok(Poll::Pending) => {
                if let Some(wait) = m.wait() {
                    end = Some(FlowEnd::Suspend(wait));
                    break;
                }
            }
            Err(payload) => {
                if payload.is::<Diverged>() {
                    // The machine holds why; it was taken above if set.
                    end = Some(FlowEnd::Fail(Box::new(FailureReport::new(
                        FailureKind::Nondeterminism,
                        "the flow stopped at a command its history does not hold",
                    ))));
                } else {
                    let c: Caught = caught(&*payload);
                    let sha = m.sha.clone();
                    end = Some(match done_of(live.info, Err(c), &m.args, &sha) {
                        Done::Failed(report) => FlowEnd::Fail(report),
                        _ => FlowEnd::Fail(Box::new(FailureReport::new(FailureKind::Panic, "the flow panicked"))),
                    });
                }
                break;
            }
        }
    }
    let end = end.unwrap_or_else(|| {
        let mut report = FailureReport::new(
            FailureKind::Error,
            "the flow awaited something that is not one of its context's commands (a flow must only await \
             `cx.call`, `cx.join`, `cx.sleep`, `cx.signal` and the like: do I/O and waiting inside tasks)",
        );
        report.retryable = false;
        report.inputs = lock(&live.machine).args.clone();
        FlowEnd::Fail(Box::new(report))
    });
    let suspended = matches!(end, FlowEnd::Suspend(_));
    let (report, commands) = {
        let mut m = lock(&live.machine);
        (m.report(lease, end), m.issued())
    };
    Ran { report, live: suspended.then_some(live), commands }
}
