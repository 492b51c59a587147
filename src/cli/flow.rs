//! `mycelium flow <job>`: a flow's history, one line per command, with what
//! it saw and what it waits for now; and how commands name a flow.

use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::{Value, json};

use super::lookup;
use super::render::{Table, age, first_line, short_sha, write_json};
use super::{Context, Result};
use crate::model::{Job, JobState, Step, StepKind, now_ms};
use crate::storage::{JobQuery, Store};

/// Arguments of `mycelium flow`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The flow: a job (`j34`, `34`), a run whose only top-level job is the
    /// flow (`r12`), or the idempotency key the run was submitted with.
    pub(crate) flow: String,
}

/// The flow job `text` names: a job id, `r<run>`, or a run's idempotency
/// key (for a run, its one top-level job that has not ended, else its one
/// top-level job).
pub(crate) fn target(store: &Store, text: &str) -> Result<Job> {
    let t = text.trim();
    if t.starts_with('j') || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) {
        return lookup::job(store, t);
    }
    let run = if t.starts_with('r') && t[1..].bytes().all(|b| b.is_ascii_digit()) && t.len() > 1 {
        lookup::run(store, t)?.id
    } else {
        store.run_by_key(t).context("find the run by its key")?.ok_or_else(|| {
            super::Error::not_found(format!(
                "`{text}` names no flow: it is neither a job (j34), a run (r12), nor the idempotency key of a run \
                 (list runs with `mycelium runs`)"
            ))
        })?
    };
    let top: Vec<Job> = store
        .jobs(&JobQuery { run: Some(run), ..JobQuery::default() })
        .context("read the run's jobs")?
        .into_iter()
        .filter(|j| j.parent.is_none())
        .collect();
    let open: Vec<&Job> = top.iter().filter(|j| !j.state.is_final()).collect();
    let pick = match (open.as_slice(), top.as_slice()) {
        ([one], _) => (*one).clone(),
        ([], [one]) => one.clone(),
        _ => {
            let ids: Vec<String> =
                top.iter().map(|j| format!("j{} ({}/{}, {})", j.id, j.elf, j.task, j.state)).collect();
            return Err(super::Error::not_found(format!(
                "run {run} has {} top-level jobs, so `{text}` does not name one flow: name the job ({})",
                top.len(),
                ids.join(", ")
            )));
        }
    };
    Ok(pick)
}

/// What a step saw, in a few words.
fn outcome(s: &Step) -> String {
    let Some(o) = &s.outcome else {
        return if s.awaited { "(waiting)".to_owned() } else { "-".to_owned() };
    };
    let text = match s.kind {
        StepKind::Call | StepKind::Spawn => match (o.get("ok"), o.get("err")) {
            (Some(v), _) => format!("ok {v}"),
            (_, Some(e)) => format!("err {}", e.get("message").and_then(Value::as_str).unwrap_or("?")),
            _ => o.to_string(),
        },
        StepKind::Signal => match (o.get("payload"), o.get("timeout")) {
            (Some(p), _) => format!("signal {} {p}", o.get("signal").unwrap_or(&Value::Null)),
            (_, Some(_)) => "timed out".to_owned(),
            _ => o.to_string(),
        },
        StepKind::Sleep => "fired".to_owned(),
        StepKind::Join | StepKind::JoinAll => "joined".to_owned(),
        _ => o.to_string(),
    };
    first_line(&text, 60)
}

/// Shows a flow's history.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let job = target(store, &args.flow)?;
    let steps = store.flow_steps(job.id, 0).context("read the flow's history")?;
    let signals = store.flow_signals(job.id, false).context("read the flow's signals")?;
    if json {
        return write_json(out, &json!({ "job": job, "steps": steps, "signals": signals }));
    }
    let now = now_ms();
    writeln!(out, "flow job {} ({}/{}, run {}): {}", job.id, job.elf, job.task, job.run, job.state)?;
    if job.state == JobState::Waiting {
        let mut waits: Vec<String> = Vec::new();
        let awaited = steps.iter().filter(|s| s.awaited).count();
        if awaited > 0 {
            waits.push(format!("{awaited} awaited step(s)"));
        }
        if job.not_before > 0 && job.not_before < i64::MAX {
            let left = (job.not_before - now).max(0);
            waits.push(format!("a timer due in {}", super::render::duration(left)));
        }
        if !waits.is_empty() {
            writeln!(out, "  waits for  {}", waits.join(" or "))?;
        }
    }
    let versions: std::collections::BTreeSet<String> =
        steps.iter().filter_map(|s| s.sha.as_ref()).map(|s| s.short().to_owned()).collect();
    writeln!(
        out,
        "  history    {} command(s), recorded by version(s) {}",
        steps.len(),
        if versions.is_empty() { "-".to_owned() } else { versions.into_iter().collect::<Vec<_>>().join(", ") }
    )?;
    if !signals.is_empty() {
        let open = signals.iter().filter(|s| s.consumed_by.is_none()).count();
        writeln!(out, "  signals    {} received, {open} not consumed yet", signals.len())?;
    }
    writeln!(out)?;
    let mut table = Table::new(&["k", "command", "target", "child", "outcome", "at", "where"]);
    for s in &steps {
        table.row(vec![
            s.k.to_string(),
            s.kind.as_str().to_owned(),
            first_line(&s.target, 40),
            s.child.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            outcome(s),
            age(now, s.at),
            s.location.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table.write(out)?;
    if steps.iter().any(|s| s.sha.as_ref() != job.ran_sha.as_ref() && s.sha.is_some()) {
        writeln!(out, "\nnote: the flow last ran as version {}", short_sha(job.ran_sha.as_ref()))?;
    }
    Ok(())
}
