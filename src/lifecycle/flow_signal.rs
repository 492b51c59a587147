//! Signals to flows: stored and buffered until the flow consumes them;
//! checked against the type the flow awaits, when it is known.

use serde_json::{Value, json};

use super::Store;
use super::flow_wake::make_ready;
use super::work::Work;
use crate::model::{EventKind, JobId, JobState, Signal, SignalId, StepKind};
use crate::storage::rows::{JobRow, NewEvent};
use crate::storage::{Error, Result};

/// What sending a signal did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// The signal's id.
    pub signal: SignalId,
    /// The flow's job.
    pub flow: JobId,
    /// Whether it woke the flow (which was waiting for it); otherwise it is
    /// kept until the flow waits for it.
    pub woke: bool,
    /// Jobs made ready (the flow, when it woke), to wake idle elves.
    #[serde(skip)]
    pub readied: super::outcomes::Readied,
}

/// Whether `name` can name a signal.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
        return Err(Error::invalid(
            format!("signal name `{name}`"),
            "it is empty, longer than 128 characters, or has characters other than letters, digits, _ - . :",
            "name the signal as the flow awaits it (`cx.signal::<T>(\"approve\")`)",
        ));
    }
    Ok(())
}

impl Store {
    /// Sends the signal `name` with `payload` to flow job `flow`. It is
    /// stored: a flow waiting for it wakes; otherwise it is kept until the
    /// flow waits for that name, and then consumed once.
    ///
    /// Refused (nothing written) when the job does not exist, is not a
    /// flow, has ended, or when the flow has waited for `name` before and
    /// `payload` does not match the type it awaited.
    pub fn signal(&self, flow: JobId, name: &str, payload: &Value) -> Result<Sent> {
        check_name(name)?;
        let size = payload.to_string().len();
        let limit = self.limits().max_payload;
        if size > limit {
            return Err(Error::TooLarge { what: format!("the payload of signal `{name}`"), size, limit });
        }
        self.write("send a signal", |w| send(w, flow, name, payload))
    }
}

fn send(w: &mut Work<'_>, flow: JobId, name: &str, payload: &Value) -> Result<Sent> {
    let Some(mut row) = w.tx.job_rows(&[flow])?.pop() else {
        return Err(Error::invalid(
            format!("signal `{name}` to job {flow}"),
            format!("job {flow} does not exist"),
            "name a flow job that exists (`mycelium runs`, then `mycelium run <run>` lists its jobs)",
        ));
    };
    let what = || format!("signal `{name}` to job {flow} ({}/{})", row.elf, row.task);
    is_flow(w, &row, &what)?;
    if row.state.is_final() {
        return Err(Error::invalid(
            what(),
            format!("the flow has already ended ({}): no command of it will ever read the signal", row.state),
            format!("send it to a flow that is still running (`mycelium run {}` shows where it stands)", row.run),
        ));
    }
    check_payload(w, &row, name, payload, &what)?;
    let signal =
        Signal { id: 0, flow, name: name.to_owned(), payload: payload.clone(), sent_at: w.now, consumed_by: None };
    let id = w.tx.insert_signal(&signal)?;
    w.event(NewEvent {
        at: w.now,
        kind: EventKind::SignalSent,
        run: Some(row.run),
        job: Some(flow),
        state: None,
        data: Some(json!({ "name": name, "signal": id }).to_string()),
    });
    let mut woke = false;
    if row.state == JobState::Waiting
        && let Some(last) = w.tx.last_steps(&[flow])?.pop()
        && last.kind == StepKind::Signal
        && last.target == name
        && last.awaited
    {
        w.tx.await_steps(&[(flow, last.k, false)])?;
        make_ready(w, &mut row, json!({ "signal": id, "name": name }));
        w.tx.update_jobs(std::slice::from_ref(&row))?;
        woke = true;
    }
    Ok(Sent { signal: id, flow, woke, readied: w.take_readied() })
}

/// Refuses a job whose task is not a flow (or not known to be one).
fn is_flow(w: &mut Work<'_>, row: &JobRow, what: &dyn Fn() -> String) -> Result<()> {
    let versions = w.tx.task_versions(&row.elf, &row.task)?;
    if versions.is_empty() {
        return Err(Error::invalid(
            what(),
            format!(
                "no elf has registered {}/{} here, so it is not known to be a flow that waits for signals",
                row.elf, row.task
            ),
            format!("start the elf `{}` serving the flow first, or check the job id", row.elf),
        ));
    }
    // The version that ran it says; else any version of the task.
    let ran = versions.iter().find(|v| row.ran_sha.as_ref() == Some(&v.sha));
    let flow = ran.map_or_else(|| versions.iter().any(|v| v.signature.flow), |v| v.signature.flow);
    if !flow {
        return Err(Error::invalid(
            what(),
            format!("{}/{} is a task, not a flow: only flows wait for signals", row.elf, row.task),
            "send the signal to the flow job (`mycelium run <run>` lists the jobs with their tasks)",
        ));
    }
    Ok(())
}

/// Checks `payload` against the type the flow awaited for `name`, when it
/// has waited for that name (the type is recorded with the wait).
fn check_payload(w: &mut Work<'_>, row: &JobRow, name: &str, payload: &Value, what: &dyn Fn() -> String) -> Result<()> {
    let steps = w.tx.steps(row.id, 0)?;
    let Some(wait) = steps.iter().rev().find(|s| s.kind == StepKind::Signal && s.target == name) else {
        return Ok(());
    };
    let Some(detail) = &wait.detail else { return Ok(()) };
    let ty = detail.get("type").and_then(Value::as_str).unwrap_or("the awaited type");
    let Some(schema) = detail.get("schema") else { return Ok(()) };
    // The senders' own checker (`agent::validate`), as for signals and
    // queue messages: it says what is wrong in terms of the payload's fields.
    let Err(mismatch) = crate::agent::validate::check(schema, payload) else { return Ok(()) };
    let problem = format!("{} {}", mismatch.place(), mismatch.problem);
    let at = wait.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
    Err(Error::invalid(
        what(),
        format!("the payload is not a `{ty}`, the type the flow awaits at step {}{at}: {}", wait.k, problem),
        format!("send a JSON value of type `{ty}`, e.g. check it against the schema in `mycelium flow {}`", row.id),
    ))
}
