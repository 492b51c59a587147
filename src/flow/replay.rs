//! Replaying a flow's history locally, writing nothing: what `replay <job>`
//! of an elf binary does for a flow, and how the replay is timed.

use std::time::Instant;

use serde::Serialize;

use super::definition::Definition;
use super::run::{self, Live};
use crate::lifecycle::FlowEnd;
use crate::model::{Claimed, Job, Lease};
use crate::storage::{self, Store};

/// What replaying a flow's history found.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    /// The flow's job.
    pub job: crate::model::JobId,
    /// `elf/flow`.
    pub flow: String,
    /// Steps in its history.
    pub history: usize,
    /// Commands the replay issued (those of the history, and any new ones).
    pub commands: u32,
    /// Commands past the history (what the flow would record now).
    pub new: usize,
    /// Milliseconds spent reading the history.
    pub read_ms: f64,
    /// Milliseconds spent running the code against it.
    pub replay_ms: f64,
    /// Where the replay ended: waiting, completing, failing.
    pub ending: String,
}

/// Replays flow job `job` with `def` (this binary's version), writing
/// nothing.
pub async fn replay(def: &'static Definition, store: &Store, job: &Job) -> Result<Replayed, storage::Error> {
    let id = job.id;
    let started = Instant::now();
    let (steps, resume) = store.call(move |s| Ok((s.flow_steps(id, 0)?, s.flow_resume(id)?))).await?;
    let read = started.elapsed();
    let history = steps.len();
    let lease = Lease { job: id, epoch: 0 };
    let claimed = Claimed {
        lease,
        run: job.run,
        task: job.task.clone(),
        args: job.args.clone(),
        inputs: Vec::new(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        timeout_ms: None,
        lease_until: 0,
    };
    let started = Instant::now();
    let live = Live::replay(def, &claimed, def.info.sha(), store.clone(), steps);
    let ran = run::run(live, lease, &resume);
    let replay = started.elapsed();
    let ending = match &ran.report.end {
        FlowEnd::Suspend(w) => {
            let mut parts = Vec::new();
            if !w.children.is_empty() {
                parts.push(format!("{} of {} child(ren)", if w.all { "all" } else { "the first" }, w.children.len()));
            }
            if let Some(due) = w.due {
                parts.push(format!("a timer due at {due}"));
            }
            if let Some((_, name)) = &w.signal {
                parts.push(format!("signal `{name}`"));
            }
            format!("waits for {}", parts.join(" or "))
        }
        FlowEnd::Complete(v) => format!("completes with {v}"),
        FlowEnd::Fail(r) => format!("fails ({}): {}", r.kind, r.message),
    };
    Ok(Replayed {
        job: id,
        flow: format!("{}/{}", job.elf, job.task),
        history,
        commands: ran.commands,
        new: ran.report.steps.len(),
        read_ms: read.as_secs_f64() * 1000.0,
        replay_ms: replay.as_secs_f64() * 1000.0,
        ending,
    })
}
