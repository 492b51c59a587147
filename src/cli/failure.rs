//! `mycelium failure <id>`: the whole story of one failed attempt: what
//! failed, the traceback beside the source that ran with the failing line
//! marked, the inputs, the other attempts, the lineage of the inputs.

use std::io::Write;
use std::path::Path;

use clap::Args as ClapArgs;
use serde_json::json;

use super::lookup;
use super::render::{Table, age, age_opt, duration, first_line, short_sha, write_json, write_source};
use super::{Context, Result};
use crate::model::{Failure, FailureKind, Frame, Job, JobId, TaskVersion, now_ms};
use crate::storage::{FailureQuery, Store};

/// Arguments of `mycelium failure`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The failure (`7` or `f7`).
    pub(crate) failure: String,
    /// Print every frame of the traceback, not only the project's own.
    #[arg(long)]
    pub(crate) all_frames: bool,
}

/// Whether `frame_file` (often absolute) is the recorded `task_file` (often
/// relative to the workspace or crate), comparing whole path components.
pub(crate) fn same_file(frame_file: &str, task_file: &str) -> bool {
    !task_file.is_empty() && (Path::new(frame_file).ends_with(task_file) || Path::new(task_file).ends_with(frame_file))
}

/// The file line to mark in `version`: that of the first frame of interest in
/// the task's file whose line falls within the recorded source.
pub(crate) fn failing_line(frames: &[Frame], version: &TaskVersion) -> Option<u32> {
    let last = version.file_line(u32::try_from(version.source.lines().count()).unwrap_or(u32::MAX));
    frames.iter().filter(|f| f.of_interest).find_map(|f| {
        let (file, line) = (f.file.as_deref()?, f.line?);
        (same_file(file, &version.file) && (version.line..=last).contains(&line)).then_some(line)
    })
}

/// What the story of a failure is made of, read from the store (shared by
/// `mycelium failure` and the HTTP API).
#[derive(Debug)]
pub(crate) struct Story {
    /// The failure.
    pub(crate) failure: Failure,
    /// Its job, as it is now.
    pub(crate) job: Option<Job>,
    /// The task version that ran, when recorded.
    pub(crate) version: Option<TaskVersion>,
    /// The task's latest recorded version.
    pub(crate) latest: Option<TaskVersion>,
    /// Every failed attempt of the job, most recent first.
    pub(crate) attempts: Vec<Failure>,
    /// The producers of the job's inputs: the argument path and the job.
    pub(crate) lineage: Vec<(String, Option<Job>)>,
    /// For an upstream failure: the failure upstream that caused it.
    pub(crate) cause: Option<Failure>,
}

impl Story {
    /// The file line to mark in the version that ran.
    pub(crate) fn marked(&self) -> Option<u32> {
        self.version.as_ref().and_then(|v| failing_line(&self.failure.report.frames, v))
    }

    /// The latest version, when it differs from the one that ran. Only a
    /// version that ran can be older than the latest one; an upstream
    /// failure ran none (whatever the job ran later, after a retry).
    pub(crate) fn newer(&self) -> Option<&TaskVersion> {
        let f = &self.failure;
        let ran = f.report.kind != FailureKind::UpstreamFailed
            && (f.report.ran_sha.is_some() || self.job.as_ref().is_some_and(|j| j.ran_sha.is_some()));
        self.latest.as_ref().filter(|l| ran && self.version.as_ref().is_none_or(|v| v.sha != l.sha))
    }
}

/// The command that replays the failed job locally (none for an upstream
/// failure: it never ran the task, there is nothing to replay).
pub(crate) fn reproduce(store: &Store, f: &Failure) -> Option<String> {
    if f.report.kind == FailureKind::UpstreamFailed {
        return None;
    }
    let program = f
        .instance
        .as_ref()
        .and_then(|i| store.elves().ok()?.into_iter().find(|e| &e.instance == i))
        .and_then(|e| e.build.program)
        .unwrap_or_else(|| format!("<the {} elf's binary>", f.elf));
    Some(format!("{program} --store {} replay {}", store.url(), f.job))
}

/// Reads the story of the failure `text` names (`7` or `f7`).
pub(crate) fn read(store: &Store, text: &str) -> Result<Story> {
    let failure = lookup::failure(store, text)?;
    let job = store.job(failure.job).with_context(|| format!("read job {}", failure.job))?;
    let sha = failure.report.ran_sha.clone().or_else(|| job.as_ref().and_then(|j| j.ran_sha.clone()));
    let version = match &sha {
        Some(sha) => store.task_version(sha).with_context(|| format!("read task version {sha}"))?,
        None => None,
    };
    let latest = store.task_versions(&failure.elf, &failure.task).context("read the task's versions")?.pop();
    let attempts = store
        .failures(&FailureQuery { job: Some(failure.job), ..FailureQuery::default() })
        .context("read the job's failures")?;
    let mut lineage = Vec::new();
    for dep in store.deps(failure.run).context("read the run's edges")? {
        if dep.consumer == failure.job {
            let producer = store.job(dep.producer).with_context(|| format!("read job {}", dep.producer))?;
            lineage.push((dep.path, producer));
        }
    }
    let cause = match failure.report.kind {
        FailureKind::UpstreamFailed => upstream_cause(store, &failure)?,
        _ => None,
    };
    Ok(Story { failure, job, version, latest, attempts, lineage, cause })
}

/// The failure that kept an upstream-failed job from running: the last
/// failure of one of its producers at or before it, followed up the graph
/// while that one is an upstream failure too.
fn upstream_cause(store: &Store, failure: &Failure) -> Result<Option<Failure>> {
    let deps = store.deps(failure.run).context("read the run's edges")?;
    let (mut job, mut at) = (failure.job, failure.at);
    let mut cause: Option<Failure> = None;
    // Each step goes one edge up a graph without cycles; the bound only
    // guards against a corrupt one.
    for _ in 0..deps.len() + 1 {
        let producers: Vec<JobId> = deps.iter().filter(|d| d.consumer == job).map(|d| d.producer).collect();
        let mut found: Option<Failure> = None;
        for producer in producers {
            let failures = store
                .failures(&FailureQuery { job: Some(producer), ..FailureQuery::default() })
                .with_context(|| format!("read the failures of job {producer}"))?;
            for f in failures {
                if f.at <= at && !f.will_retry && found.as_ref().is_none_or(|b| f.at > b.at) {
                    found = Some(f);
                }
            }
        }
        let Some(f) = found else { break };
        let upstream = f.report.kind == FailureKind::UpstreamFailed;
        (job, at) = (f.job, f.at);
        cause = Some(f);
        if !upstream {
            break;
        }
    }
    Ok(cause)
}

/// Tells the story of a failure.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let s = read(store, &args.failure)?;
    let f = &s.failure;
    let marked = s.marked();
    let newer = s.newer();
    let reproduce = reproduce(store, f);
    if json {
        let lineage: Vec<_> = s.lineage.iter().map(|(path, job)| json!({ "path": path, "producer": job })).collect();
        return write_json(
            out,
            &json!({
                "failure": f, "job": s.job, "version": s.version, "failing_line": marked,
                "newer_version": newer.map(|v| &v.sha), "attempts": s.attempts, "lineage": lineage,
                "reproduce": reproduce, "cause": s.cause,
            }),
        );
    }
    let now = now_ms();
    let r = &f.report;
    writeln!(out, "failure {}: {} in {}/{}", f.id, r.kind, f.elf, f.task)?;
    let max = s.job.as_ref().map_or(String::new(), |j| format!("/{}", j.max_attempts));
    let state = s.job.as_ref().map_or(String::new(), |j| format!(", job now {}", j.state));
    writeln!(out, "  job        {} (run {}), attempt {}{max}, epoch {}{state}", f.job, f.run, f.attempt, f.epoch)?;
    match &f.instance {
        Some(i) => {
            let short: String = i.0.chars().take(8).collect();
            let host = f.host.as_deref().unwrap_or("an unknown host");
            let pid = f.pid.map_or("?".to_owned(), |p| p.to_string());
            writeln!(out, "  instance   {short} on {host}, pid {pid}")?;
        }
        None => writeln!(out, "  instance   none (no elf ran this attempt)")?,
    }
    let took = f.started_at.map_or(String::new(), |s| format!(" after {}", duration(f.at - s)));
    writeln!(out, "  started    {}, failed {}{took}", age_opt(now, f.started_at), age(now, f.at))?;
    let retry = if f.will_retry { "another attempt was scheduled" } else { "no retry" };
    writeln!(out, "  kind       {} ({retry})", r.kind)?;
    writeln!(out, "  signature  {} (`mycelium failures --group` counts its kin)", f.signature)?;
    writeln!(out, "\nmessage:")?;
    for line in r.message.lines() {
        writeln!(out, "  {line}")?;
    }
    for cause in &r.causes {
        writeln!(out, "caused by: {cause}")?;
    }
    traceback(out, &r.frames, args.all_frames)?;
    writeln!(out)?;
    match (&s.version, short_sha(r.ran_sha.as_ref().or(s.job.as_ref().and_then(|j| j.ran_sha.as_ref())))) {
        (Some(v), _) => {
            writeln!(out, "source of {}/{} @ {} ({}:{}):", v.elf, v.name, v.sha.short(), v.file, v.line)?;
            write_source(out, &v.source, v.line, marked)?;
            if marked.is_none() && !r.frames.is_empty() {
                writeln!(out, "(no frame of the traceback falls within this source)")?;
            }
        }
        (None, sha) if sha != "-" => writeln!(out, "source: version {sha} is not recorded in the store")?,
        (None, _) => writeln!(out, "source: no task version ran (the attempt never started the task)")?,
    }
    if let Some(m) = &r.mismatch {
        mismatch(store, out, m)?;
    }
    writeln!(out, "\ninputs:")?;
    let inputs = serde_json::to_string_pretty(&r.inputs).context("encode the inputs as JSON")?;
    for line in inputs.lines() {
        writeln!(out, "  {line}")?;
    }
    if r.inputs_truncated {
        writeln!(out, "  (truncated: the full inputs were {} bytes)", r.inputs_size)?;
    }
    writeln!(out, "\nattempts of job {}:", f.job)?;
    let mut table = Table::new(&["", "failure", "attempt", "kind", "age", "message"]);
    for a in &s.attempts {
        let this = if a.id == f.id { "->" } else { "" };
        table.row(vec![
            this.to_owned(),
            a.id.to_string(),
            a.attempt.to_string(),
            a.report.kind.as_str().to_owned(),
            age(now, a.at),
            first_line(&a.report.message, 60),
        ]);
    }
    table.write(out)?;
    writeln!(out, "\nlineage of the inputs:")?;
    if s.lineage.is_empty() {
        writeln!(out, "  (no upstream jobs: every input was a literal)")?;
    } else {
        let mut table = Table::new(&["path", "producer", "task", "state", "ran"]);
        for (path, job) in &s.lineage {
            let path = if path.is_empty() { "/".to_owned() } else { path.clone() };
            table.row(match job {
                Some(j) => vec![
                    path,
                    j.id.to_string(),
                    format!("{}/{}", j.elf, j.task),
                    j.state.as_str().to_owned(),
                    short_sha(j.ran_sha.as_ref()),
                ],
                None => vec![path, "?".into(), "(missing)".into(), "-".into(), "-".into()],
            });
        }
        table.write(out)?;
    }
    if let Some(latest) = newer {
        let ran = s.version.as_ref().map_or("an unrecorded version".to_owned(), |v| v.sha.short().to_owned());
        writeln!(
            out,
            "\nnote: {}/{} has a newer version {} (first seen {}) than the one that failed ({ran})",
            f.elf,
            f.task,
            latest.sha.short(),
            age(now, latest.first_seen)
        )?;
        if let Some(v) = &s.version {
            let name = format!("{}/{}", f.elf, f.task);
            writeln!(out, "      mycelium source {name} --diff {} {}", v.sha.short(), latest.sha.short())?;
        }
    }
    match (&reproduce, &s.cause) {
        (Some(reproduce), _) => writeln!(out, "\nreproduce: {reproduce}")?,
        (None, Some(c)) => {
            let what = format!("{}/{}", c.elf, c.task);
            writeln!(
                out,
                "\ncause: upstream job {} ({what}) failed: failure {} ({}): {}",
                c.job,
                c.id,
                c.report.kind,
                first_line(&c.report.message, 80)
            )?;
            writeln!(out, "  see it with: mycelium failure {}", c.id)?;
        }
        (None, None) => writeln!(out, "\ncause: no failed upstream job was found (see the lineage above)")?,
    }
    Ok(())
}

/// The two sides of a failed determinism check: the command the history
/// recorded, in the source of the version that recorded it, with its line
/// marked; and the command issued instead.
fn mismatch(store: &Store, out: &mut dyn Write, m: &crate::model::Mismatch) -> Result<()> {
    writeln!(out, "\ndeterminism check failed at command {}:", m.step)?;
    writeln!(out, "  recorded  {}", m.recorded)?;
    match &m.issued {
        Some(c) => writeln!(out, "  issued    {c}")?,
        None => writeln!(out, "  issued    nothing: the flow ended before this command")?,
    }
    let Some(sha) = &m.recorded.sha else { return Ok(()) };
    let Some(v) = store.task_version(sha).with_context(|| format!("read task version {sha}"))? else {
        return writeln!(out, "(version {} of the history is not recorded in the store)", sha.short())
            .map_err(Into::into);
    };
    let marked = m.recorded.file_line().filter(|(file, _)| same_file(file, &v.file)).map(|(_, line)| line);
    writeln!(
        out,
        "\nsource of {}/{} @ {} that recorded the history ({}:{}):",
        v.elf,
        v.name,
        v.sha.short(),
        v.file,
        v.line
    )?;
    write_source(out, &v.source, v.line, marked)?;
    Ok(())
}

/// Writes the frames, innermost first, frames of interest marked with `*`;
/// unless `all`, runs of other frames are folded into a count.
fn traceback(out: &mut dyn Write, frames: &[Frame], all: bool) -> std::io::Result<()> {
    if frames.is_empty() {
        return writeln!(out, "\ntraceback: none recorded");
    }
    writeln!(out, "\ntraceback (innermost first, * = project code):")?;
    let fold = !all && frames.iter().any(|f| f.of_interest);
    let mut hidden = 0usize;
    for (i, frame) in frames.iter().enumerate() {
        if fold && !frame.of_interest {
            hidden += 1;
            continue;
        }
        if hidden > 0 {
            folded(out, hidden)?;
            hidden = 0;
        }
        let mark = if frame.of_interest { '*' } else { ' ' };
        let at = match (&frame.file, frame.line) {
            (Some(file), Some(line)) => format!("  at {file}:{line}"),
            (Some(file), None) => format!("  at {file}"),
            _ => String::new(),
        };
        writeln!(out, "  {mark} #{i:<3} {}{at}", frame.function)?;
    }
    if hidden > 0 {
        folded(out, hidden)?;
    }
    Ok(())
}

/// The line standing for `n` folded frames.
fn folded(out: &mut dyn Write, n: usize) -> std::io::Result<()> {
    let s = if n == 1 { "" } else { "s" };
    writeln!(out, "       ... {n} frame{s} of std, the runtime or dependencies (--all-frames shows them)")
}
