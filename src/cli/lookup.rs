//! Reading what a command names: ids as typed by people, and the documents
//! they name, with errors that say what is wrong and how to find a good one.

use super::error::bail;
use super::{Context, Result};
use crate::model::{Failure, FailureId, Job, JobId, Run, RunId, TaskVersion};
use crate::storage::Store;

/// Parses a positive integer id, optionally with its one-letter prefix.
fn parse_id(text: &str, prefix: char, what: &str, hint: &str) -> Result<i64> {
    let digits = text.trim().strip_prefix(prefix).unwrap_or(text.trim());
    match digits.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`{text}` is not a {what} id: expected a positive number such as 12 or {prefix}12 ({hint})"),
    }
}

/// Parses a run id (`12` or `r12`).
pub(crate) fn parse_run(text: &str) -> Result<RunId> {
    parse_id(text, 'r', "run", "list runs with `mycelium runs`").map(RunId)
}

/// Parses a job id (`34` or `j34`).
pub(crate) fn parse_job(text: &str) -> Result<JobId> {
    parse_id(text, 'j', "job", "list a run's jobs with `mycelium run <run>`").map(JobId)
}

/// Parses a failure id (`7` or `f7`).
pub(crate) fn parse_failure(text: &str) -> Result<FailureId> {
    parse_id(text, 'f', "failure", "list failures with `mycelium failures`").map(FailureId)
}

/// The run `text` names.
pub(crate) fn run(store: &Store, text: &str) -> Result<Run> {
    let id = parse_run(text)?;
    let run = store.run(id).with_context(|| format!("read run {id}"))?;
    run.ok_or_else(|| super::Error::not_found(format!("run {id} does not exist (list runs with `mycelium runs`)")))
}

/// The job `text` names.
pub(crate) fn job(store: &Store, text: &str) -> Result<Job> {
    let id = parse_job(text)?;
    let job = store.job(id).with_context(|| format!("read job {id}"))?;
    job.ok_or_else(|| {
        super::Error::not_found(format!("job {id} does not exist (list a run's jobs with `mycelium run <run>`)"))
    })
}

/// The failure `text` names.
pub(crate) fn failure(store: &Store, text: &str) -> Result<Failure> {
    let id = parse_failure(text)?;
    let failure = store.failure(id).with_context(|| format!("read failure {id}"))?;
    failure.ok_or_else(|| {
        super::Error::not_found(format!("failure {id} does not exist (list failures with `mycelium failures`)"))
    })
}

/// A task as people name it: `elf/task`, optionally `@sha-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRef {
    /// The elf.
    pub(crate) elf: String,
    /// The task.
    pub(crate) task: String,
    /// The start of a version's sha, if one was given.
    pub(crate) sha: Option<String>,
}

impl TaskRef {
    /// Parses `elf/task[@sha-prefix]`.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let (name, sha) = match text.split_once('@') {
            Some((name, sha)) => (name, Some(sha)),
            None => (text, None),
        };
        let Some((elf, task)) = name.split_once('/').filter(|(e, t)| !e.is_empty() && !t.is_empty()) else {
            bail!("`{text}` is not a task: expected elf/task, optionally with @sha-prefix, such as parser/parse@3fa2");
        };
        if let Some(sha) = sha
            && (sha.is_empty() || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            bail!("`{sha}` in `{text}` is not a version: expected the first hex digits of its sha, such as 3fa2");
        }
        Ok(Self { elf: elf.to_owned(), task: task.to_owned(), sha: sha.map(str::to_ascii_lowercase) })
    }

    /// `elf/task`.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.elf, self.task)
    }
}

/// Every recorded version of `elf`/`task`, oldest first; not found when none.
pub(crate) fn versions(store: &Store, elf: &str, task: &str) -> Result<Vec<TaskVersion>> {
    let versions = store.task_versions(elf, task).with_context(|| format!("read the versions of {elf}/{task}"))?;
    if versions.is_empty() {
        return Err(super::Error::not_found(format!(
            "no version of task `{elf}/{task}` is recorded (an elf records its tasks when it starts; \
             `mycelium elves` lists the elves that did)"
        )));
    }
    Ok(versions)
}

/// The version of `task` whose sha starts with `prefix` (the latest without one).
pub(crate) fn version(store: &Store, task: &TaskRef, prefix: Option<&str>) -> Result<TaskVersion> {
    let mut all = versions(store, &task.elf, &task.task)?;
    let Some(prefix) = prefix.or(task.sha.as_deref()) else {
        return all.pop().context("no version recorded");
    };
    let prefix = prefix.to_ascii_lowercase();
    let list = format!("list them with `mycelium source {} --list`", task.name());
    let mut found: Vec<_> = all.into_iter().filter(|v| v.sha.as_str().starts_with(&prefix)).collect();
    match found.len() {
        1 => found.pop().context("one version"),
        0 => Err(super::Error::not_found(format!("no version of {} starts with `{prefix}` ({list})", task.name()))),
        n => bail!("`{prefix}` names {n} versions of {}: give more digits ({list})", task.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_their_prefix_and_name_bad_input() {
        assert_eq!(parse_run("r12").ok(), Some(RunId(12)));
        assert_eq!(parse_job("34").ok(), Some(JobId(34)));
        let err = parse_run("abc").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("`abc` is not a run id"), "{err}");
        assert!(parse_failure("0").is_err());
    }

    #[test]
    fn task_refs_split_elf_task_and_version() {
        let t = TaskRef::parse("parser/parse@3FA2").ok();
        assert_eq!(t.map(|t| (t.name(), t.sha)), Some(("parser/parse".to_owned(), Some("3fa2".to_owned()))));
        for bad in ["parse", "/parse", "parser/", "parser/parse@", "parser/parse@xyz"] {
            assert!(TaskRef::parse(bad).is_err(), "{bad}");
        }
    }
}
